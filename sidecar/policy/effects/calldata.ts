// Calldata → effects. Functions are recognised by selector (so by their exact signature, never by name alone), their
// arguments decoded with viem (a fast path for all-static argument lists), and their meaning looked up in one table.
import {
  decodeAbiParameters,
  toFunctionSelector,
  type Abi,
  type AbiFunction,
  type Hex,
} from "viem";
import { ERC1155_ABI, ERC20_ABI, ERC721_ABI, PERMIT2_ABI } from "./abis.ts";
import { MAX_UINT256, type EvmEffect } from "./types.ts";

export type AbiSource = "erc20" | "erc721" | "erc1155" | "permit2" | "abis";
export type SelectorMap = Map<string, { fn: AbiFunction; source: AbiSource }>;

export interface DecodedCall {
  fn: AbiFunction;
  source: AbiSource;
  /** Arguments by name (by position where unnamed). */
  args: Record<string, unknown>;
  /** Arguments by position. */
  list: readonly unknown[];
  selector: string;
}

/** Selector → function for one ABI; the first function with a selector wins. */
export function selectorMapOf(abi: Abi, source: AbiSource, map: SelectorMap = new Map()): SelectorMap {
  for (const item of abi) {
    if (item.type !== "function") continue;
    const sel = toFunctionSelector(item);
    if (!map.has(sel)) map.set(sel, { fn: item, source });
  }
  return map;
}

/** The standard ABIs first (ERC-20 with extensions, ERC-721, ERC-1155, Permit2), then the policy's extra ABIs. */
export function buildSelectorMap(extra: Abi): SelectorMap {
  const map = selectorMapOf(ERC20_ABI, "erc20");
  selectorMapOf(ERC721_ABI, "erc721", map);
  selectorMapOf(ERC1155_ABI, "erc1155", map);
  selectorMapOf(PERMIT2_ABI, "permit2", map);
  return selectorMapOf(extra, "abis", map);
}

/** Decodes calldata with the selector map; undefined when no ABI knows the selector or the arguments do not decode. */
export function decodeCall(map: SelectorMap, data: Hex): DecodedCall | undefined {
  if (data.length < 10) return undefined;
  const selector = data.slice(0, 10).toLowerCase();
  const hit = map.get(selector);
  if (!hit) return undefined;
  try {
    const list =
      decodeStatic(hit.fn.inputs, data) ??
      (decodeAbiParameters(hit.fn.inputs, `0x${data.slice(10)}`) as readonly unknown[]);
    const args: Record<string, unknown> = {};
    hit.fn.inputs.forEach((inp, i) => {
      args[inp.name || String(i)] = list[i];
    });
    return { fn: hit.fn, source: hit.source, args, list, selector };
  } catch {
    return undefined;
  }
}

const STATIC = /^(address|bool|u?int(\d*)|bytes([1-9]|[12]\d|3[0-2]))$/;

/** Fast decoding of all-static argument lists (every ERC-20 function, most ERC-721 ones): one 32-byte word each.
 * viem's decoder checksums every address (a keccak per address); addresses here are compared lower-case. Returns
 * undefined for anything it does not handle, and viem decodes it instead. */
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

const UNLIMITED_ERC20 = 2n ** 255n;
const UNLIMITED_PERMIT2 = 2n ** 160n - 1n;

type Meaning = (a: readonly unknown[], token: string) => EvmEffect[];

const addr = (v: unknown): string => String(v).toLowerCase();
const big = (v: unknown): bigint => v as bigint;

const erc20Transfer =
  (to: number, amount: number, from: number | undefined, via: string): Meaning =>
  (a, token) => [
    {
      kind: "transfer",
      token,
      to: addr(a[to]),
      ...(from !== undefined ? { from: addr(a[from]) } : {}),
      amount: big(a[amount]),
      via,
    },
  ];

const erc20Approval =
  (spender: number, amount: number, via: string, owner?: number): Meaning =>
  (a, token) => [
    {
      kind: "approval",
      token,
      spender: addr(a[spender]),
      ...(owner !== undefined ? { owner: addr(a[owner]) } : {}),
      amount: big(a[amount]),
      unlimited: big(a[amount]) >= UNLIMITED_ERC20,
      via,
    },
  ];

const operatorGrant =
  (operator: number, approved: number, via: string, owner?: number): Meaning =>
  (a, token) =>
    a[approved] === true
      ? [
          {
            kind: "approval",
            token,
            spender: addr(a[operator]),
            ...(owner !== undefined ? { owner: addr(a[owner]) } : {}),
            amount: MAX_UINT256,
            unlimited: true,
            operator: true,
            via,
          },
        ]
      : [{ kind: "call", contract: token, function: via, via: "revocation" }];

type PermitDetails = { token: string; amount: bigint };
const permit2Allowance = (d: PermitDetails, spender: unknown, via: string, owner?: unknown): EvmEffect => ({
  kind: "approval",
  token: addr(d.token),
  spender: addr(spender),
  ...(owner !== undefined ? { owner: addr(owner) } : {}),
  amount: d.amount,
  unlimited: d.amount >= UNLIMITED_PERMIT2,
  via,
});

/** What each known function does, by signature. A function of a known ABI that is not listed moves nothing (view
 * functions, decreaseAllowance, Permit2's lockdown and nonce invalidation). */
const MEANINGS: Record<string, Meaning> = {
  "transfer(address,uint256)": erc20Transfer(0, 1, undefined, "erc20.transfer"),
  // Also ERC-721 transferFrom (same selector): the id is then read as an amount, which only makes limits stricter.
  "transferFrom(address,address,uint256)": erc20Transfer(1, 2, 0, "erc20.transferFrom"),
  "approve(address,uint256)": erc20Approval(0, 1, "erc20.approve"),
  "increaseAllowance(address,uint256)": erc20Approval(0, 1, "erc20.increaseAllowance"),
  "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)": erc20Approval(1, 2, "eip2612.permit", 0),
  "permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)": operatorGrant(1, 4, "dai.permit", 0),
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)": erc20Transfer(1, 2, 0, "eip3009.transferWithAuthorization"),
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": erc20Transfer(1, 2, 0, "eip3009.transferWithAuthorization"),
  "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)": erc20Transfer(1, 2, 0, "eip3009.receiveWithAuthorization"),
  "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": erc20Transfer(1, 2, 0, "eip3009.receiveWithAuthorization"),
  "safeTransferFrom(address,address,uint256)": (a, token) => [
    { kind: "nft_transfer", token, to: addr(a[1]), id: big(a[2]), amount: 1n, via: "erc721.safeTransferFrom" },
  ],
  "safeTransferFrom(address,address,uint256,bytes)": (a, token) => [
    { kind: "nft_transfer", token, to: addr(a[1]), id: big(a[2]), amount: 1n, via: "erc721.safeTransferFrom" },
  ],
  "safeTransferFrom(address,address,uint256,uint256,bytes)": (a, token) => [
    { kind: "nft_transfer", token, to: addr(a[1]), id: big(a[2]), amount: big(a[3]), via: "erc1155.safeTransferFrom" },
  ],
  "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)": (a, token) => {
    const ids = a[2] as readonly bigint[];
    const amounts = a[3] as readonly bigint[];
    if (ids.length !== amounts.length)
      return [{ kind: "unknown", about: "calldata", contract: token, message: `safeBatchTransferFrom to ${token} has ${ids.length} ids but ${amounts.length} amounts` }];
    return ids.map((id, i) => ({
      kind: "nft_transfer" as const,
      token,
      to: addr(a[1]),
      id,
      amount: amounts[i]!,
      via: "erc1155.safeBatchTransferFrom",
    }));
  },
  "setApprovalForAll(address,bool)": operatorGrant(0, 1, "setApprovalForAll"),
  // Permit2 (the token is an argument; the called contract is Permit2).
  "approve(address,address,uint160,uint48)": (a) => [
    permit2Allowance({ token: a[0] as string, amount: big(a[2]) }, a[1], "permit2.approve"),
  ],
  "transferFrom(address,address,uint160,address)": (a) => [
    { kind: "transfer", token: addr(a[3]), to: addr(a[1]), from: addr(a[0]), amount: big(a[2]), via: "permit2.transferFrom" },
  ],
  "transferFrom((address,address,uint160,address)[])": (a) =>
    (a[0] as readonly { from: string; to: string; amount: bigint; token: string }[]).map((d) => ({
      kind: "transfer" as const,
      token: addr(d.token),
      to: addr(d.to),
      from: addr(d.from),
      amount: d.amount,
      via: "permit2.transferFrom",
    })),
  "permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)": (a) => {
    const p = a[1] as { details: PermitDetails; spender: string };
    return [permit2Allowance(p.details, p.spender, "permit2.permit", a[0])];
  },
  "permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)": (a) => {
    const p = a[1] as { details: readonly PermitDetails[]; spender: string };
    return p.details.map((d) => permit2Allowance(d, p.spender, "permit2.permit", a[0]));
  },
};

/** The canonical signature of a function: name(types), tuples spelled out. */
export function signatureOf(fn: AbiFunction): string {
  const t = (p: { type: string; components?: readonly { type: string }[] }): string =>
    p.type.startsWith("tuple") ? `(${(p.components ?? []).map(t).join(",")})${p.type.slice(5)}` : p.type;
  return `${fn.name}(${fn.inputs.map(t).join(",")})`;
}

/** The effects of a decoded call to `contract`, by exact signature. Other functions of the standard ABIs move nothing;
 * functions from the policy's own ABIs are calls the operator named. */
export function callEffects(call: DecodedCall, contract: string): EvmEffect[] {
  const sig = signatureOf(call.fn);
  const meaning = MEANINGS[sig];
  if (meaning) return meaning(call.list, contract);
  return [{ kind: "call", contract, function: sig, via: call.source }];
}

/** Whether a decoded call's meaning is fully known: a standard function (its effects, or a view), not one only the
 * policy's evm.abis decodes (which could do anything: `execute(target, value, data)`). */
export const standardMeaning = (call: DecodedCall): boolean => call.source !== "abis";
