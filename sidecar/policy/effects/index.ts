// The effects module: the one place where EVM meaning lives. An evm.* intent goes in; the list of what it does comes
// out (SPEC section 5, "Effects first"). The evm block judges these effects; the console and webhooks describe them.
import type { Intent } from "../../../protocol/index.ts";
import type { SelectorMap } from "./calldata.ts";
import { normalizeTx, transactionEffects } from "./transaction.ts";
import { typedDataEffects, type TypedData } from "./typed-data.ts";
import type { EvmEffects } from "./types.ts";
import { readUint } from "./values.ts";

export * from "./types.ts";
export { buildSelectorMap, selectorMapOf, decodeCall, signatureOf, type DecodedCall, type SelectorMap } from "./calldata.ts";
export { encodeType } from "./typed-data.ts";

export interface EffectsOptions {
  selectors: SelectorMap;
  denyUnknownCalldata: boolean;
  /** Typed data of a primary type the sidecar does not understand, allowed by the policy by name (and contract). */
  typedDataAllowed: (primaryType: string, contract?: string) => boolean;
}

/** The effects of an evm.transaction or evm.typed_data intent. Throws, with a message fit for a reason, when the
 * intent cannot be read at all (a serialized transaction that does not parse, typed data that is not EIP-712). */
export function intentEffects(intent: Intent, opts: EffectsOptions): EvmEffects {
  if (intent.action === "evm.transaction")
    return transactionEffects(normalizeTx(intent.params), opts.selectors, opts.denyUnknownCalldata);
  if (intent.action === "evm.typed_data") {
    const td = intent.params.typed_data as TypedData | undefined;
    const chainId = intent.params.chain_id as number;
    const effects = typedDataEffects(td ?? {}, opts.typedDataAllowed);
    const dc = td?.domain?.chainId;
    const domainChain = dc === undefined ? undefined : readUint(dc, 64);
    if (domainChain && !domainChain.ok) throw new Error(`typed data domain chainId ${domainChain.message}`);
    const vc = td?.domain?.verifyingContract;
    return {
      operation: "signTypedData",
      chainId,
      ...(domainChain?.ok ? { domainChainId: domainChain.value } : {}),
      ...(typeof vc === "string" ? { target: vc.toLowerCase() } : {}),
      value: 0n,
      ...(td?.message ? { message: td.message } : {}),
      effects,
    };
  }
  throw new Error(`${intent.action} is not an EVM kind the evm block knows (evm.transaction, evm.typed_data)`);
}
