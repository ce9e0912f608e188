// evm.rules: Coinbase CDP-style criteria rules, judged against every effect of an intent (SPEC section 5, "Effects
// first"). A rule matches an effect when all its criteria match it; precedence is deny > hold > allow whatever the
// order. An evmData criterion on a function with a standard meaning (ERC-20 transfer/transferFrom, approve,
// permit...) matches every effect of that kind, whatever the mechanism: transferFrom, EIP-3009, Permit2, typed data.
// Where a criterion could read more than one address, deny and hold rules match if any does, allow rules only if all
// do: ambiguity always falls to the stricter outcome. Allow rules make the operation an allowlist: every effect
// must be matched by some allow rule.
import type { AbiFunction, Hex } from "viem";
import type { Criterion, EvmRule, NumericOp } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import {
  decodeCall,
  selectorMapOf,
  signatureOf,
  type EvmEffect,
  type Operation,
  type SelectorMap,
} from "../effects/index.ts";
import { reason } from "./verdicts.ts";
import { formatToken } from "../units.ts";

export interface RuleSubject {
  operation: Operation;
  chainId: number;
  /** The called address (or verifyingContract) and the effect's token, lower-case, deduplicated. */
  addresses: string[];
  /** Native value of the transaction; undefined for typed data. */
  value?: bigint;
  /** The effect judged (never a fee effect). */
  effect: EvmEffect;
  /** Raw calldata, for criteria on functions without a standard meaning. */
  data?: Hex;
  /** The arguments as written: the decoded call's, or the typed data message's. Read for criterion params that are
   * no effect field (deadline, nonce...). */
  args?: Record<string, unknown>;
  /** The function (calldata) or primary type (typed data) the effect came from. */
  source?: string;
  /** A sum of several effects of one intent (a batch split into pieces): judged by deny and hold rules only. */
  aggregate?: boolean;
  /** The listed token of the effect, so amounts in reasons read in token units. */
  token?: { symbol: string; decimals: number };
}

const cmp = (a: bigint, op: NumericOp, b: bigint): boolean =>
  op === ">" ? a > b : op === ">=" ? a >= b : op === "<" ? a < b : op === "<=" ? a <= b : op === "==" ? a === b : a !== b;

function same(actual: unknown, expected: string | number | boolean): boolean {
  if (typeof actual === "bigint") return /^-?\d+$/.test(String(expected)) && actual === BigInt(expected);
  if (typeof actual === "string" && typeof expected === "string")
    return actual.toLowerCase() === expected.toLowerCase();
  return actual === expected;
}

/** Standard signatures and the effect kind they stand for. */
const EFFECT_KIND: Record<string, EvmEffect["kind"]> = {
  "transfer(address,uint256)": "transfer",
  "transferFrom(address,address,uint256)": "transfer",
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)": "transfer",
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": "transfer",
  "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)": "transfer",
  "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": "transfer",
  "transferFrom(address,address,uint160,address)": "transfer",
  "approve(address,uint256)": "approval",
  "increaseAllowance(address,uint256)": "approval",
  "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)": "approval",
  "permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)": "approval",
  "approve(address,address,uint160,uint48)": "approval",
  "setApprovalForAll(address,bool)": "approval",
  "safeTransferFrom(address,address,uint256)": "nft_transfer",
  "safeTransferFrom(address,address,uint256,bytes)": "nft_transfer",
  "safeTransferFrom(address,address,uint256,uint256,bytes)": "nft_transfer",
  "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)": "nft_transfer",
  "transferFrom((address,address,uint160,address)[])": "transfer",
  "permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)": "approval",
  "permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)": "approval",
};

/** Argument names and the effect field they mean. */
const ROLE: Record<string, "to" | "from" | "amount" | "spender" | "approved" | "id"> = {
  to: "to", recipient: "to", dst: "to", _to: "to", receiver: "to",
  from: "from", sender: "from", src: "from", _from: "from", owner: "from", holder: "from",
  amount: "amount", value: "amount", wad: "amount", _value: "amount", _amount: "amount", addedValue: "amount",
  spender: "spender", guy: "spender", usr: "spender", _spender: "spender", operator: "spender",
  approved: "approved", allowed: "approved",
  tokenId: "id", id: "id",
};

function effectField(e: EvmEffect, role: (typeof ROLE)[string]): unknown {
  switch (e.kind) {
    case "transfer":
      // ERC-721 transferFrom shares ERC-20's selector: its tokenId is the transfer's third word, read as the amount.
      return role === "to" ? e.to : role === "from" ? e.from : role === "amount" || role === "id" ? e.amount : undefined;
    case "approval":
      return role === "spender"
        ? e.spender
        : role === "from"
          ? e.owner
          : role === "amount"
            ? e.amount
            : role === "approved"
              ? true
              : undefined;
    case "nft_transfer":
      return role === "to" ? e.to : role === "amount" ? e.amount : role === "id" ? e.id : undefined;
    default:
      return undefined;
  }
}

type CompiledCriterion =
  | { c: Exclude<Criterion, { type: "evmData" }> }
  | { c: Extract<Criterion, { type: "evmData" }>; kind?: EvmEffect["kind"]; fns: AbiFunction[]; selectors: SelectorMap };

function matchParams(
  c: Extract<Criterion, { type: "evmData" }>,
  read: (name: string) => unknown,
  s: RuleSubject,
): { ok: boolean; detail: string } {
  const details: string[] = [];
  for (const p of c.params) {
    const actual = read(p.name);
    let ok: boolean;
    if (actual === undefined) ok = false;
    else if (p.operator === "in" || p.operator === "not in") {
      const found = (p.values ?? []).some((v) => same(actual, v));
      ok = p.operator === "in" ? found : !found;
    } else if (p.operator === "==" || p.operator === "!=") {
      ok = same(actual, p.value!) === (p.operator === "==");
    } else {
      ok =
        typeof actual === "bigint" &&
        /^-?\d+$/.test(String(p.value)) &&
        cmp(actual, p.operator, BigInt(p.value as string | number));
    }
    if (!ok) return { ok: false, detail: "" };
    const fmt = (v: unknown) =>
      s.token && typeof v === "bigint" && ROLE[p.name] === "amount"
        ? formatToken(v, s.token.decimals, s.token.symbol)
        : String(v);
    const expected = p.values
      ? `[${p.values.join(", ")}]`
      : /^\d+$/.test(String(p.value))
        ? fmt(BigInt(String(p.value)))
        : String(p.value);
    details.push(`${p.name} ${fmt(actual)} ${p.operator} ${expected}`);
  }
  return { ok: true, detail: details.join(", ") };
}

function criterionMatches(cc: CompiledCriterion, s: RuleSubject, strict: boolean): { ok: boolean; detail: string } {
  const c = cc.c;
  switch (c.type) {
    case "ethValue":
      return s.value === undefined
        ? { ok: false, detail: "" }
        : { ok: cmp(s.value, c.operator, c.value), detail: `value ${s.value} ${c.operator} ${c.value}` };
    case "evmAddress": {
      const want = c.operator === "in";
      // No address (creation, typed data without verifyingContract): a deny/hold rule on "not in" matches (the
      // address cannot be shown to be in the list); nothing else does.
      if (s.addresses.length === 0)
        return { ok: !strict && !want, detail: `no address ${c.operator} list` };
      const inSet = (a: string) => c.addresses.has(a);
      // allow rules: every address must satisfy the criterion; deny/hold rules: any address suffices.
      const ok = strict ? s.addresses.every((a) => inSet(a) === want) : s.addresses.some((a) => inSet(a) === want);
      return { ok, detail: `address ${s.addresses.join("/")} ${c.operator} list` };
    }
    case "evmNetwork": {
      const inSet = c.chains.has(s.chainId);
      return {
        ok: c.operator === "in" ? inSet : !inSet,
        detail: `chain ${s.chainId} ${c.operator} [${[...c.chains].join(", ")}]`,
      };
    }
    case "evmData": {
      const { kind, selectors } = cc as Extract<CompiledCriterion, { selectors: SelectorMap }>;
      if (kind !== undefined) {
        // A standard function: match the effect, whatever mechanism produced it.
        if (s.effect.kind !== kind) return { ok: false, detail: "" };
        const m = matchParams(c, (name) => {
          const role = ROLE[name];
          const field = role ? effectField(s.effect, role) : undefined;
          const v = field === "" ? undefined : field; // a per-token total names no recipient
          return v !== undefined ? v : s.aggregate ? undefined : s.args?.[name];
        }, s);
        const via = effectName(s.effect);
        const label = via === `erc20.${c.function}` ? c.function : `${c.function} (${via})`;
        return m.ok ? { ok: true, detail: `${label} ${m.detail}`.trim() } : m;
      }
      if (!s.data || s.data === "0x" || s.aggregate) return { ok: false, detail: "" };
      const call = decodeCall(selectors, s.data);
      if (!call || call.fn.name !== c.function) return { ok: false, detail: "" };
      const m = matchParams(c, (name) => call.args[name], s);
      return m.ok ? { ok: true, detail: `${c.function} ${m.detail}`.trim() } : m;
    }
  }
}

function effectName(e: EvmEffect): string {
  return "via" in e ? e.via : e.kind;
}

interface CompiledRule {
  rule: EvmRule;
  criteria: CompiledCriterion[];
}

const MOVEMENTS = new Set<EvmEffect["kind"]>(["transfer", "approval", "nft_transfer"]);

function appliesTo(r: CompiledRule, s: RuleSubject): boolean {
  const op = r.rule.operation;
  if (op === undefined) return true;
  if (s.operation === "transaction") return op !== "signTypedData";
  // A signature that moves tokens (EIP-3009, permits, Permit2) is that movement: transaction rules judge it too, so
  // a transaction allowlist cannot be sidestepped by signing the same movement.
  return op === "signTypedData" || MOVEMENTS.has(s.effect.kind);
}

export function compileRules(rules: EvmRule[]) {
  const compiled: CompiledRule[] = rules.map((r) => {
    const criteria = r.criteria.map((c): CompiledCriterion => {
      if (c.type !== "evmData") return { c };
      const fns = c.abi.filter((i): i is AbiFunction => i.type === "function" && i.name === c.function);
      const kinds = new Set(fns.map((f) => EFFECT_KIND[signatureOf(f)]).filter((k) => k !== undefined));
      const kind = kinds.size === 1 ? [...kinds][0] : undefined;
      return { c, ...(kind ? { kind } : {}), fns, selectors: selectorMapOf(c.abi, "abis") };
    });
    return { rule: r, criteria };
  });
  return (subjects: RuleSubject[]): { deny: Reason[]; hold: Reason[] } => {
    const out = { deny: [] as Reason[], hold: [] as Reason[] };
    let allowRules = 0;
    const unallowed: RuleSubject[] = [];
    for (const s of subjects) {
      let allowed = false;
      for (const cr of compiled) {
        if (!appliesTo(cr, s)) continue;
        const strict = cr.rule.effect === "allow";
        if (strict && s.aggregate) continue;
        if (strict) allowRules++;
        const details: string[] = [];
        let matched = true;
        for (const c of cr.criteria) {
          const m = criterionMatches(c, s, strict);
          if (!m.ok) {
            matched = false;
            break;
          }
          details.push(m.detail);
        }
        if (!matched) continue;
        const msg = cr.rule.reason ?? `matches rule ${cr.rule.id}: ${details.join(", ")}`;
        const list = cr.rule.effect === "deny" ? out.deny : cr.rule.effect === "hold" ? out.hold : undefined;
        if (list) {
          if (!list.some((x) => x.rule === cr.rule.id && x.message === msg)) list.push(reason("evm", cr.rule.id, msg));
        } else allowed = true;
      }
      if (!allowed && !s.aggregate) unallowed.push(s);
    }
    if (allowRules > 0 && unallowed.length > 0 && out.deny.length === 0) {
      out.deny.push(
        reason(
          "evm",
          "rules",
          `no evm.rules allow rule matches the ${describe(unallowed[0]!.effect)} (allow rules make the operation an allowlist: every effect must match one)`,
        ),
      );
    }
    return out;
  };
}

/** A short description of an effect for reasons. */
export function describe(e: EvmEffect): string {
  switch (e.kind) {
    case "native":
      return `native transfer of ${e.amount} wei to ${e.to}`;
    case "transfer":
      return `token transfer (${e.via}) of ${e.amount} units of ${e.token} to ${e.to}`;
    case "approval":
      return `${e.operator ? "operator grant" : "approval"} (${e.via}) of ${e.token} to ${e.spender}`;
    case "nft_transfer":
      return `NFT transfer (${e.via}) of ${e.token} #${e.id} to ${e.to}`;
    case "delegation":
      return `EIP-7702 delegation to ${e.delegate}`;
    case "create":
      return "contract creation";
    case "fee":
      return "fee";
    case "call":
      return `call ${e.function}${e.contract ? ` on ${e.contract}` : ""}`;
    case "unknown":
      return e.message;
  }
}
