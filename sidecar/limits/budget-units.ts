// The units of budgets: a window (`per`: calendar day/week/month in UTC, or fixed epoch-aligned windows of a
// duration) and a limit ("500 USD": an exact decimal in millionths plus a currency code). Parsed once at load.
import { formatDuration, parseDuration, type Parsed } from "../policy/units.ts";

export type BudgetPer = { calendar: "day" | "week" | "month" } | { everyMs: number };

const DAY_MS = 86_400_000;
const PER_HINT = 'use "day", "week", "month" or a duration such as "12h" or "30d"';

export function parseBudgetPer(input: unknown): Parsed<BudgetPer> {
  if (input === "day" || input === "week" || input === "month") return { ok: true, value: { calendar: input } };
  const d = parseDuration(input);
  if (!d.ok) return { ok: false, message: `${JSON.stringify(input)} is not a budget window; ${PER_HINT}` };
  if (d.value < 60_000) return { ok: false, message: `${JSON.stringify(input)} is shorter than a minute; ${PER_HINT}` };
  return { ok: true, value: { everyMs: d.value } };
}

export function formatPer(per: BudgetPer): string {
  return "calendar" in per ? per.calendar : formatDuration(per.everyMs);
}

/** The window `now` falls in: [start, end) in ms since the epoch. */
export function windowOf(per: BudgetPer, now: number): { start: number; end: number } {
  if ("everyMs" in per) {
    const start = Math.floor(now / per.everyMs) * per.everyMs;
    return { start, end: start + per.everyMs };
  }
  const d = new Date(now);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (per.calendar === "day") return { start: day, end: day + DAY_MS };
  if (per.calendar === "week") {
    const start = day - ((d.getUTCDay() + 6) % 7) * DAY_MS; // Monday 00:00 UTC
    return { start, end: start + 7 * DAY_MS };
  }
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** The longest a window of `per` can be (for how long cost rows must stay). */
export function longestWindowMs(per: BudgetPer): number {
  if ("everyMs" in per) return per.everyMs;
  return per.calendar === "day" ? DAY_MS : per.calendar === "week" ? 7 * DAY_MS : 31 * DAY_MS;
}

const LIMIT_HINT = 'write the amount and its currency, e.g. "500 USD" or "12.5 EUR" (at most 6 decimals)';

/** "500 USD" → {units: 500_000_000, currency: "USD"}. Numbers without a currency are refused (which currency?). */
export function parseBudgetLimit(input: unknown): Parsed<{ units: number; currency: string }> {
  if (typeof input !== "string") return { ok: false, message: `${JSON.stringify(input)} is not a budget limit; ${LIMIT_HINT}` };
  const m = /^\s*(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,6}))?\s+([A-Z][A-Z0-9_]{1,15})\s*$/.exec(input);
  if (!m) return { ok: false, message: `${JSON.stringify(input)} is not a budget limit; ${LIMIT_HINT}` };
  const units = Number(m[1]) * 1_000_000 + Number((m[2] ?? "").padEnd(6, "0"));
  if (units <= 0) return { ok: false, message: `${JSON.stringify(input)} must be more than zero` };
  return { ok: true, value: { units, currency: m[3]! } };
}
