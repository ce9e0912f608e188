// evm.rules: Coinbase CDP-style criteria rules. A rule matches when all its criteria match; precedence is
// deny > hold > allow whatever the order. If any allow rule applies to the operation, an intent that matches none
// of them is denied (allow rules turn the operation into an allowlist, as in CDP).
import type { Hex } from "viem";
import type { Criterion, EvmRule, NumericOp } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { decodeCall, selectorMapOf, type DecodedCall, type SelectorMap } from "./evm-decode.ts";
import { reason } from "./verdicts.ts";
import { formatToken } from "../units.ts";

export type Operation = "transaction" | "signTypedData";

export interface RuleSubject {
  operation: Operation;
  chainId: number;
  /** Transactions: `to`; typed data: verifyingContract. Lower-case. */
  address?: string;
  value?: bigint;
  data?: Hex;
  /** The call as decoded by the block's full selector map (reused when a criterion's ABI has the same function). */
  decoded?: DecodedCall;
  /** The listed token being called, so amounts in reasons read in token units. */
  token?: { symbol: string; decimals: number };
}

const AMOUNT_ARGS = new Set(["amount", "value", "wad", "_value", "_amount"]);

const cmp = (a: bigint, op: NumericOp, b: bigint): boolean =>
  op === ">"
    ? a > b
    : op === ">="
      ? a >= b
      : op === "<"
        ? a < b
        : op === "<="
          ? a <= b
          : op === "=="
            ? a === b
            : a !== b;

function same(actual: unknown, expected: string | number | boolean): boolean {
  if (typeof actual === "bigint") return /^-?\d+$/.test(String(expected)) && actual === BigInt(expected);
  if (typeof actual === "string" && typeof expected === "string")
    return actual.toLowerCase() === expected.toLowerCase();
  return actual === expected;
}

type CompiledCriterion = { c: Criterion; selectors?: SelectorMap };

function criterionMatches({ c, selectors }: CompiledCriterion, s: RuleSubject): { ok: boolean; detail: string } {
  switch (c.type) {
    case "ethValue":
      return s.value === undefined
        ? { ok: false, detail: "" }
        : { ok: cmp(s.value, c.operator, c.value), detail: `value ${s.value} ${c.operator} ${c.value}` };
    case "evmAddress": {
      if (!s.address) return { ok: false, detail: "" };
      const inSet = c.addresses.has(s.address);
      return { ok: c.operator === "in" ? inSet : !inSet, detail: `address ${s.address} ${c.operator} list` };
    }
    case "evmNetwork": {
      const inSet = c.chains.has(s.chainId);
      return {
        ok: c.operator === "in" ? inSet : !inSet,
        detail: `chain ${s.chainId} ${c.operator} [${[...c.chains].join(", ")}]`,
      };
    }
    case "evmData": {
      if (!s.data || s.data === "0x") return { ok: false, detail: "" };
      const sel = s.data.slice(0, 10).toLowerCase();
      const reuse =
        s.decoded && s.decoded.selector === sel && selectors!.get(sel)?.fn.name === s.decoded.fn.name
          ? s.decoded
          : undefined;
      const call = reuse ?? decodeCall(selectors!, s.data);
      if (!call || call.fn.name !== c.function) return { ok: false, detail: "" };
      const details: string[] = [];
      for (const p of c.params) {
        const actual = call.args[p.name];
        let ok: boolean;
        if (p.operator === "in" || p.operator === "not in") {
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
          s.token && typeof v === "bigint" && AMOUNT_ARGS.has(p.name)
            ? formatToken(v, s.token.decimals, s.token.symbol)
            : String(v);
        const expected = p.values
          ? `[${p.values.join(", ")}]`
          : /^\d+$/.test(String(p.value))
            ? fmt(BigInt(String(p.value)))
            : String(p.value);
        details.push(`${p.name} ${fmt(actual)} ${p.operator} ${expected}`);
      }
      return { ok: true, detail: `${c.function} ${details.join(", ")}` };
    }
  }
}

const appliesTo = (r: EvmRule, op: Operation) =>
  r.operation === undefined ||
  (op === "signTypedData" ? r.operation === "signTypedData" : r.operation !== "signTypedData");

export function compileRules(rules: EvmRule[]) {
  const compiled = rules.map((r) => ({
    rule: r,
    criteria: r.criteria.map((c): CompiledCriterion =>
      c.type === "evmData" ? { c, selectors: selectorsFor(c) } : { c },
    ),
  }));
  return (s: RuleSubject): { deny: Reason[]; hold: Reason[] } => {
    const out = { deny: [] as Reason[], hold: [] as Reason[] };
    let allowRules = 0;
    let allowed = false;
    for (const { rule, criteria } of compiled) {
      if (!appliesTo(rule, s.operation)) continue;
      if (rule.effect === "allow") allowRules++;
      const details: string[] = [];
      let matched = true;
      for (const c of criteria) {
        const m = criterionMatches(c, s);
        if (!m.ok) {
          matched = false;
          break;
        }
        details.push(m.detail);
      }
      if (!matched) continue;
      const msg = rule.reason ?? `matches rule ${rule.id}: ${details.join(", ")}`;
      if (rule.effect === "deny") out.deny.push(reason("evm", rule.id, msg));
      else if (rule.effect === "hold") out.hold.push(reason("evm", rule.id, msg));
      else allowed = true;
    }
    if (allowRules > 0 && !allowed && out.deny.length === 0) {
      out.deny.push(
        reason(
          "evm",
          "rules",
          "no evm.rules allow rule matches this intent (allow rules make the operation an allowlist)",
        ),
      );
    }
    return out;
  };
}

function selectorsFor(c: Extract<Criterion, { type: "evmData" }>): SelectorMap {
  return selectorMapOf(c.abi, c.abiName === "erc721" ? "erc721" : c.abiName === "erc20" ? "erc20" : "abis");
}
