// Decoding what an EVM intent does, with viem: serialized transactions, calldata by selector (ERC-20 incl. permit,
// ERC-721, extra ABIs) and who the beneficiary is. Selectors are computed once at load, not per intent.
import { decodeAbiParameters, parseTransaction, toFunctionSelector, type Abi, type AbiFunction, type Hex } from "viem";
import { ERC20_ABI, ERC721_ABI } from "./abis.ts";

export interface EvmTx {
  chainId: number;
  to?: string;
  value: bigint;
  data: Hex;
}

/** The normalized transaction of an evm.transaction intent; throws with a readable message when it is unusable. */
export function normalizeTx(params: Record<string, unknown>): EvmTx {
  if (typeof params.serialized === "string") {
    const tx = parseTransaction(params.serialized as Hex);
    const declared = typeof params.chain_id === "number" ? params.chain_id : undefined;
    const chainId = tx.chainId ?? declared;
    if (chainId === undefined) throw new Error("the serialized transaction has no chain id; add params.chain_id");
    if (declared !== undefined && tx.chainId !== undefined && declared !== tx.chainId) {
      throw new Error(`params.chain_id ${declared} differs from the serialized transaction's chain id ${tx.chainId}`);
    }
    return {
      chainId,
      ...(tx.to ? { to: tx.to.toLowerCase() } : {}),
      value: tx.value ?? 0n,
      data: (tx.data ?? "0x") as Hex,
    };
  }
  return {
    chainId: params.chain_id as number,
    to: String(params.to).toLowerCase(),
    value: BigInt(String(params.value ?? "0")),
    data: (typeof params.data === "string" ? params.data : "0x") as Hex,
  };
}

export type SelectorMap = Map<string, { fn: AbiFunction; source: "erc20" | "erc721" | "abis" }>;

/** Selector → function for one ABI; the first function with a selector wins. */
export function selectorMapOf(
  abi: Abi,
  source: "erc20" | "erc721" | "abis",
  map: SelectorMap = new Map(),
): SelectorMap {
  for (const item of abi) {
    if (item.type !== "function") continue;
    const sel = toFunctionSelector(item);
    if (!map.has(sel)) map.set(sel, { fn: item, source });
  }
  return map;
}

/** ERC-20 (with permit) first, then ERC-721, then the policy's extra ABIs. */
export function buildSelectorMap(extra: Abi): SelectorMap {
  const map = selectorMapOf(ERC20_ABI, "erc20");
  selectorMapOf(ERC721_ABI, "erc721", map);
  return selectorMapOf(extra, "abis", map);
}

export interface DecodedCall {
  fn: AbiFunction;
  source: "erc20" | "erc721" | "abis";
  args: Record<string, unknown>;
  selector: string;
}

/** Decodes calldata with the selector map; undefined when no ABI knows the selector or the arguments do not decode. */
export function decodeCall(map: SelectorMap, data: Hex): DecodedCall | undefined {
  if (data.length < 10) return undefined;
  const selector = data.slice(0, 10).toLowerCase();
  const hit = map.get(selector);
  if (!hit) return undefined;
  try {
    // The selector is already matched: decode the arguments directly (viem's decodeFunctionData would re-hash every
    // ABI item's signature on each call).
    const args =
      decodeStatic(hit.fn.inputs, data) ??
      (decodeAbiParameters(hit.fn.inputs, `0x${data.slice(10)}`) as readonly unknown[]);
    const named: Record<string, unknown> = {};
    hit.fn.inputs.forEach((inp, i) => {
      named[inp.name || String(i)] = args[i];
    });
    return { fn: hit.fn, source: hit.source, args: named, selector };
  } catch {
    return undefined;
  }
}

const STATIC = /^(address|bool|u?int(\d*)|bytes([1-9]|[12]\d|3[0-2]))$/;

/** Fast decoding of all-static argument lists (every ERC-20 function, most ERC-721 ones): one 32-byte word each.
 * viem's decoder checksums every address (a keccak per address), which dominated the evm block's cost; addresses
 * here are compared lower-case. Returns undefined for anything it does not handle, and viem decodes it instead. */
function decodeStatic(inputs: readonly { type: string }[], data: string): unknown[] | undefined {
  if (!inputs.every((i) => STATIC.test(i.type))) return undefined;
  if (data.length < 10 + 64 * inputs.length) return undefined;
  const out: unknown[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const word = data.slice(10 + 64 * i, 74 + 64 * i);
    if (!/^[0-9a-fA-F]{64}$/.test(word)) return undefined;
    const t = inputs[i]!.type;
    if (t === "address") {
      if (!/^0{24}/.test(word)) throw new Error("address argument has dirty high bits");
      out.push(`0x${word.slice(24).toLowerCase()}`);
    } else if (t === "bool") {
      const v = BigInt(`0x${word}`);
      if (v > 1n) throw new Error("bool argument is neither 0 nor 1");
      out.push(v === 1n);
    } else if (t.startsWith("uint")) {
      const bits = BigInt(t.slice(4) || 256);
      const v = BigInt(`0x${word}`);
      if (v >> bits !== 0n) throw new Error(`${t} argument out of range`);
      out.push(v);
    } else if (t.startsWith("int")) {
      const bits = BigInt(t.slice(3) || 256);
      let v = BigInt(`0x${word}`);
      if (v >> 255n) v -= 1n << 256n;
      if (v >= 1n << (bits - 1n) || v < -(1n << (bits - 1n))) throw new Error(`${t} argument out of range`);
      out.push(v);
    } else {
      const n = Number(t.slice(5));
      if (!/^0*$/.test(word.slice(2 * n))) throw new Error(`${t} argument has dirty low bytes`);
      out.push(`0x${word.slice(0, 2 * n).toLowerCase()}`);
    }
  }
  return out;
}

export interface Effect {
  /** Who receives value or rights (lower-case), when the call's meaning is known. */
  beneficiary?: string;
  /** transfer | approval and its amount in token base units. */
  kind?: "transfer" | "approval";
  amount?: bigint;
  /** ERC-721 setApprovalForAll(operator, true). */
  approvalForAll?: boolean;
}

/** The meaning of a decoded call (ERC-20/721 by name and argument positions). */
export function effectOf(call: DecodedCall): Effect {
  const a = Object.values(call.args);
  const addr = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : undefined);
  if (call.source === "abis") return {};
  switch (call.fn.name) {
    case "transfer":
      return { beneficiary: addr(a[0]), kind: "transfer", amount: a[1] as bigint };
    case "transferFrom":
      return call.source === "erc20"
        ? { beneficiary: addr(a[1]), kind: "transfer", amount: a[2] as bigint }
        : { beneficiary: addr(a[1]) };
    case "safeTransferFrom":
      return { beneficiary: addr(a[1]) };
    case "approve":
      return call.source === "erc20"
        ? { beneficiary: addr(a[0]), kind: "approval", amount: a[1] as bigint }
        : { beneficiary: addr(a[0]) };
    case "permit":
      return { beneficiary: addr(a[1]), kind: "approval", amount: a[2] as bigint };
    case "setApprovalForAll":
      return { beneficiary: addr(a[0]), approvalForAll: a[1] === true };
    default:
      return {};
  }
}
