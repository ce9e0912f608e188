// Units in policy files: native amounts ("0.05 ether", "20 gwei", "1000 wei", plain wei), token amounts in token
// units ("5000" with the token's decimals) and durations ("24h", "90m", "1h30m"). Parsed once at load. Policy
// durations are parsed here and nowhere else (the soft-limit ledger formats them with formatDuration below); Rego's
// time.parse_duration_ns keeps Go's syntax (rego/builtins/lib/gotime.ts).
import { formatUnits, parseUnits } from "viem";

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const AMOUNT_HINT = 'use wei or "<n> ether|gwei|wei"';
const UNIT_DECIMALS: Record<string, number> = { ether: 18, gwei: 9, wei: 0 };

/** A native amount in wei. Integers (YAML numbers or digit strings) are wei. */
export function parseAmount(input: unknown): Parsed<bigint> {
  if (typeof input === "bigint")
    return input >= 0n ? { ok: true, value: input } : { ok: false, message: `${input} is negative; ${AMOUNT_HINT}` };
  if (typeof input === "number") {
    if (Number.isSafeInteger(input) && input >= 0) return { ok: true, value: BigInt(input) };
    return {
      ok: false,
      message: `${input} is not an amount; ${AMOUNT_HINT} (quote decimal amounts with a unit, e.g. "0.05 ether")`,
    };
  }
  if (typeof input !== "string") return { ok: false, message: `is not an amount; ${AMOUNT_HINT}` };
  const s = input.trim();
  if (/^\d+$/.test(s)) return { ok: true, value: BigInt(s) };
  const m = /^(\d+(?:\.\d+)?)\s*(ether|gwei|wei)$/.exec(s);
  if (!m) return { ok: false, message: `${JSON.stringify(input)} is not an amount; ${AMOUNT_HINT}` };
  const decimals = UNIT_DECIMALS[m[2]!]!;
  const frac = m[1]!.split(".")[1] ?? "";
  if (frac.length > decimals) {
    return {
      ok: false,
      message: `${JSON.stringify(input)} has more decimals than ${m[2]} allows (${decimals}); ${AMOUNT_HINT}`,
    };
  }
  return { ok: true, value: parseUnits(m[1]!, decimals) };
}

/** A token amount in the token's units ("5000", "0.5"), returned in base units (value * 10^decimals). */
export function parseTokenAmount(input: unknown, decimals: number): Parsed<bigint> {
  const s =
    typeof input === "number" && Number.isFinite(input)
      ? String(input)
      : typeof input === "bigint"
        ? String(input)
        : input;
  if (typeof s !== "string" || !/^\d+(\.\d+)?$/.test(s.trim())) {
    return {
      ok: false,
      message: `${JSON.stringify(typeof input === "bigint" ? String(input) : input)} is not a token amount; use a decimal number of token units, e.g. "5000" or "0.5"`,
    };
  }
  const t = s.trim();
  const frac = t.split(".")[1] ?? "";
  if (frac.length > decimals) return { ok: false, message: `"${t}" has more than the token's ${decimals} decimals` };
  return { ok: true, value: parseUnits(t, decimals) };
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: "30s", "90m", "24h", "7d", "1h30m". */
export function parseDuration(input: unknown): Parsed<number> {
  const hint = 'use a number with a unit: "30s", "90m", "24h", "7d" (or combined, "1h30m")';
  if (typeof input !== "string")
    return {
      ok: false,
      message: `${JSON.stringify(typeof input === "bigint" ? String(input) : input)} is not a duration; ${hint}`,
    };
  const s = input.trim();
  if (!/^(\d+(ms|s|m|h|d))+$/.test(s))
    return { ok: false, message: `${JSON.stringify(input)} is not a duration; ${hint}` };
  let total = 0;
  for (const m of s.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * DURATION_MS[m[2]!]!;
  if (total <= 0) return { ok: false, message: `${JSON.stringify(input)} must be longer than zero` };
  return { ok: true, value: total };
}

/** The short form of a duration in milliseconds, in the largest unit parseDuration reads that divides it exactly
 * ("1d", "36h", "90m", "45s", "1500ms"), so parseDuration(formatDuration(ms)) gives ms back. */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) {
    const size = DURATION_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** "0.2 ETH" style rendering for reasons. Trailing zeros trimmed by formatUnits. */
export function formatEth(wei: bigint): string {
  return `${formatUnits(wei, 18)} ETH`;
}

export function formatToken(units: bigint, decimals: number, symbol: string): string {
  return `${formatUnits(units, decimals)} ${symbol}`;
}
