// What an EVM intent does, as a list of typed effects (SPEC section 5, "Effects first"). Every evm list, limit and
// criteria rule is judged against these, never against field or function names. Addresses are lower-case 0x + 40 hex.

/** Native value sent to `to` (a plain transfer, or value beside calldata). */
export interface NativeEffect {
  kind: "native";
  to: string;
  amount: bigint;
}

/** Fungible tokens moving to `to`: ERC-20 transfer/transferFrom, EIP-3009, Permit2 signature transfers. For
 * Permit2 signature transfers the recipient is chosen by the spender at execution, so `to` is the spender. */
export interface TransferEffect {
  kind: "transfer";
  token: string;
  to: string;
  from?: string;
  amount: bigint;
  via: string;
}

/** A right to move tokens later: ERC-20 approve/increaseAllowance, EIP-2612 and DAI permits, Permit2 allowances,
 * and operator grants (setApprovalForAll, DAI `allowed: true`), which are approvals of everything. */
export interface ApprovalEffect {
  kind: "approval";
  token: string;
  spender: string;
  /** Whose tokens, where the mechanism names it (permit owner / holder). */
  owner?: string;
  amount: bigint;
  /** At or above the mechanism's "infinite" threshold (2^255 for ERC-20, 2^160-1 for Permit2), or an operator grant. */
  unlimited: boolean;
  /** An operator grant over every asset of `token` (setApprovalForAll, DAI permit). */
  operator?: boolean;
  via: string;
}

/** An NFT (ERC-721/1155) moving to `to`. */
export interface NftTransferEffect {
  kind: "nft_transfer";
  token: string;
  to: string;
  id: bigint;
  amount: bigint;
  via: string;
}

/** EIP-7702: the account's code is delegated to `delegate` (the zero address clears a delegation). */
export interface DelegationEffect {
  kind: "delegation";
  delegate: string;
  chainId: number;
}

/** Contract creation (a transaction without `to`). */
export interface CreateEffect {
  kind: "create";
  initCodeBytes: number;
}

/** The most the transaction can burn in fees: gas × maxFeePerGas (or gasPrice), plus blob gas. Undefined when the
 * intent does not declare them (the executor chooses). */
export interface FeeEffect {
  kind: "fee";
  ceiling?: bigint;
}

/** A call (or typed data) whose meaning is known and moves nothing: a view function, decreaseAllowance, a function
 * from the policy's own ABIs, typed data the policy allows explicitly. */
export interface CallEffect {
  kind: "call";
  contract?: string;
  function: string;
  via: string;
}

/** Something the sidecar cannot determine. Always judged: denied unless the policy allows it explicitly. */
export interface UnknownEffect {
  kind: "unknown";
  /** `calldata` (no ABI decodes it), `typed_data` (unknown primary type), `amount` (a value not read exactly). */
  about: "calldata" | "typed_data" | "amount";
  message: string;
  contract?: string;
  selector?: string;
  primaryType?: string;
}

export type EvmEffect =
  | NativeEffect
  | TransferEffect
  | ApprovalEffect
  | NftTransferEffect
  | DelegationEffect
  | CreateEffect
  | FeeEffect
  | CallEffect
  | UnknownEffect;

/** Which operation produced the effects: a transaction or an EIP-712 signature. */
export type Operation = "transaction" | "signTypedData";

/** An intent reduced to its effects. */
export interface EvmEffects {
  operation: Operation;
  chainId: number;
  /** The called address (transaction `to`) or the typed data's verifyingContract. */
  target?: string;
  /** The typed data domain's chainId, when it has one (it must equal chainId). */
  domainChainId?: bigint;
  /** Native value of the transaction (0 for typed data). */
  value: bigint;
  /** The typed data message (typed data only), for criteria on its fields. */
  message?: Record<string, unknown>;
  /** Raw calldata (transactions only). */
  data?: `0x${string}`;
  effects: EvmEffect[];
}

/** The largest uint256 (used as the amount of operator grants, which approve everything). */
export const MAX_UINT256 = 2n ** 256n - 1n;
