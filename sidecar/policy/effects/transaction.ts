// evm.transaction → effects, for both intent forms (object fields, or an unsigned serialized transaction of any type:
// legacy, 2930, 1559, 4844 blobs, 7702 authorization lists). Native value, calldata, delegations, creation and the
// fee ceiling are all effects; nothing in the transaction is left unjudged.
import { parseTransaction, type Hex } from "viem";
import { callEffects, decodeCall, type SelectorMap } from "./calldata.ts";
import type { EvmEffect, EvmEffects } from "./types.ts";

const GAS_PER_BLOB = 131_072n;

export interface NormalizedTx {
  chainId: number;
  /** Undefined: contract creation. */
  to?: string;
  value: bigint;
  data: Hex;
  /** gas × max fee per gas (or gas price), plus blob gas; undefined when not declared. */
  feeCeiling?: bigint;
  authorizations: { address: string; chainId: number }[];
}

const uint = (v: unknown): bigint | undefined => (typeof v === "string" && /^[0-9]+$/.test(v) ? BigInt(v) : undefined);

/** The transaction of an evm.transaction intent; throws with a readable message when it is unusable. */
export function normalizeTx(params: Record<string, unknown>): NormalizedTx {
  if (typeof params.serialized === "string") {
    const tx = parseTransaction(params.serialized as Hex);
    const declared = typeof params.chain_id === "number" ? params.chain_id : undefined;
    // A transaction without a chain id (pre-EIP-155 legacy) is, once signed, valid on every chain: no chain policy
    // can hold for it, whatever chain_id the intent declares.
    if (tx.chainId === undefined)
      throw new Error("the serialized transaction has no chain id (pre-EIP-155): once signed it is valid on every chain; serialize it with its chainId");
    const chainId = tx.chainId;
    if (declared !== undefined && declared !== tx.chainId)
      throw new Error(`params.chain_id ${declared} differs from the serialized transaction's chain id ${tx.chainId}`);
    const t = tx as {
      gas?: bigint;
      gasPrice?: bigint;
      maxFeePerGas?: bigint;
      maxFeePerBlobGas?: bigint;
      blobVersionedHashes?: readonly string[];
      authorizationList?: readonly { address: string; chainId: number }[];
    };
    const perGas = t.maxFeePerGas ?? t.gasPrice ?? 0n;
    const blobs = BigInt(t.blobVersionedHashes?.length ?? 0);
    return {
      chainId,
      ...(tx.to ? { to: tx.to.toLowerCase() } : {}),
      value: tx.value ?? 0n,
      data: (tx.data ?? "0x") as Hex,
      feeCeiling: (t.gas ?? 0n) * perGas + blobs * GAS_PER_BLOB * (t.maxFeePerBlobGas ?? 0n),
      authorizations: (t.authorizationList ?? []).map((a) => ({
        address: a.address.toLowerCase(),
        chainId: Number(a.chainId),
      })),
    };
  }
  const gas = uint(params.gas);
  const perGas = uint(params.max_fee_per_gas) ?? uint(params.gas_price);
  if (params.max_fee_per_gas !== undefined && params.gas_price !== undefined)
    throw new Error("declare either max_fee_per_gas (EIP-1559) or gas_price (legacy), not both");
  return {
    chainId: params.chain_id as number,
    to: String(params.to).toLowerCase(),
    value: BigInt(String(params.value ?? "0")),
    data: (typeof params.data === "string" ? params.data : "0x") as Hex,
    ...(gas !== undefined && perGas !== undefined ? { feeCeiling: gas * perGas } : {}),
    authorizations: [],
  };
}

/** Everything `tx` does. With deny_unknown_calldata off, calldata no ABI knows is a call (the operator's choice). */
export function transactionEffects(tx: NormalizedTx, selectors: SelectorMap, denyUnknownCalldata: boolean): EvmEffects {
  const effects: EvmEffect[] = [];
  const hasData = tx.data.length > 2;
  if (tx.to === undefined) {
    effects.push({ kind: "create", initCodeBytes: (tx.data.length - 2) / 2 });
  } else {
    if (tx.value > 0n || !hasData) effects.push({ kind: "native", to: tx.to, amount: tx.value });
    if (hasData) {
      const call = decodeCall(selectors, tx.data);
      const selector = tx.data.slice(0, 10).toLowerCase();
      if (call) effects.push(...callEffects(call, tx.to));
      else if (selectors.has(selector))
        // A known function whose arguments do not decode strictly (short, dirty address bits): old compilers would
        // read them another way, so its meaning is not known, whatever deny_unknown_calldata says.
        effects.push({
          kind: "unknown",
          about: "calldata",
          contract: tx.to,
          selector,
          message: `calldata for ${selectors.get(selector)!.fn.name} (${selector}) to ${tx.to} has arguments that do not decode exactly`,
        });
      else if (denyUnknownCalldata)
        effects.push({
          kind: "unknown",
          about: "calldata",
          contract: tx.to,
          selector: tx.data.slice(0, 10).toLowerCase(),
          message: `calldata with selector ${tx.data.slice(0, 10).toLowerCase()} to ${tx.to} is not decoded by any known ABI (ERC-20, ERC-721, ERC-1155, Permit2, evm.abis); to allow it, add the function's ABI to evm.abis`,
        });
      else effects.push({ kind: "call", contract: tx.to, function: tx.data.slice(0, 10).toLowerCase(), via: "unknown" });
    }
  }
  for (const a of tx.authorizations) effects.push({ kind: "delegation", delegate: a.address, chainId: a.chainId });
  effects.push({ kind: "fee", ...(tx.feeCeiling !== undefined ? { ceiling: tx.feeCeiling } : {}) });
  return {
    operation: "transaction",
    chainId: tx.chainId,
    ...(tx.to ? { target: tx.to } : {}),
    value: tx.value,
    data: tx.data,
    effects,
  };
}
