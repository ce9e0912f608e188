// The cost part of `GET /v1/usage` (operator API): totals per agent, team and tenant over a window, and each budget's
// state in its current window (spend, remaining, thresholds alerted). Read-only. Query filters: scope, key (a glob on
// the agent name, `tenant/team` or tenant), currency, and window (day|week|month: the current UTC calendar window;
// a duration: the last that long) or since (an ISO time).
import { wildcardMatch } from "../../protocol/glob.ts";
import { parseDuration } from "../policy/units.ts";
import { formatPer, windowOf } from "../limits/budget-units.ts";
import { displayKey, type BudgetBook, type CostPolicy } from "../limits/budgets.ts";
import { COST_RETENTION_MS, COST_SCOPES, formatMoney, type CostLedger, type CostScope } from "../limits/cost.ts";

export interface UsageQuery {
  scope?: CostScope;
  key?: string;
  currency?: string;
  /** As asked: "month", "day", "7d", or "since". */
  window: string;
  since: number;
}

export class UsageQueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Validates the query string; throws UsageQueryError saying what to fix. */
export function parseUsageQuery(q: Record<string, string | undefined>, now: number): UsageQuery {
  const out: UsageQuery = { window: "month", since: windowOf({ calendar: "month" }, now).start };
  const scope = q.scope?.trim();
  if (scope) {
    if (!(COST_SCOPES as readonly string[]).includes(scope)) throw new UsageQueryError("invalid_scope", `scope must be one of ${COST_SCOPES.join(", ")}`);
    out.scope = scope as CostScope;
  }
  const key = q.key?.trim();
  if (key) {
    if (key.length > 200) throw new UsageQueryError("invalid_key", "key must be at most 200 characters");
    out.key = key;
  }
  const currency = q.currency?.trim();
  if (currency) {
    if (!/^[A-Z][A-Z0-9_]{1,15}$/.test(currency)) throw new UsageQueryError("invalid_currency", 'currency must be an upper-case code, e.g. "USD"');
    out.currency = currency;
  }
  const window = q.window?.trim();
  const since = q.since?.trim();
  if (window && since) throw new UsageQueryError("invalid_window", "give either window or since, not both");
  if (window) {
    if (window === "day" || window === "week" || window === "month") out.since = windowOf({ calendar: window }, now).start;
    else {
      const d = parseDuration(window);
      if (!d.ok) throw new UsageQueryError("invalid_window", `window must be day, week, month or a duration such as 24h or 7d (${d.message})`);
      out.since = now - d.value;
    }
    out.window = window;
  } else if (since) {
    const t = Date.parse(since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(since) || Number.isNaN(t)) {
      throw new UsageQueryError("invalid_since", 'since must be an ISO 8601 time, e.g. "2026-12-01T00:00:00Z"');
    }
    out.since = t;
    out.window = "since";
  }
  if (out.since < now - COST_RETENTION_MS) {
    throw new UsageQueryError("invalid_since", `costs are kept for ${COST_RETENTION_MS / 86_400_000} days; ask for a later start`);
  }
  return out;
}

export interface CostUsageDeps {
  costs: CostLedger;
  budgets: BudgetBook;
  policy(): CostPolicy | undefined;
}

export interface CostTotal {
  scope: CostScope;
  key: string;
  currency: string;
  total: string;
}

/** `{costs: {window, since, until, totals}, budgets: [...]}` for the query. */
export function costUsage(deps: CostUsageDeps, q: UsageQuery, now: number) {
  const scopes = q.scope ? [q.scope] : [...COST_SCOPES];
  const keyOk = (key: string) => q.key === undefined || wildcardMatch(q.key, key);
  const totals: CostTotal[] = [];
  for (const currency of deps.costs.currencies()) {
    if (q.currency && currency !== q.currency) continue;
    for (const scope of scopes) {
      for (const scopeKey of deps.costs.streams(scope, currency)) {
        const d = displayKey(scope, scopeKey);
        // agents without a team / tenant are counted alone: they appear under scope agent, not as a team or tenant
        if (d.alone || !keyOk(d.key)) continue;
        const total = deps.costs.total(scope, currency, scopeKey, q.since, now);
        if (total > 0) totals.push({ scope, key: d.key, currency, total: formatMoney(total) });
      }
    }
  }
  totals.sort((a, b) => scopes.indexOf(a.scope) - scopes.indexOf(b.scope) || a.key.localeCompare(b.key) || a.currency.localeCompare(b.currency));

  const budgets = (deps.policy()?.budgets ?? [])
    .filter((b) => scopes.includes(b.scope) && (!q.currency || b.currency === q.currency))
    .map((b) => {
      const window = windowOf(b.per, now);
      const streams = deps.costs
        .streams(b.scope, b.currency)
        .map((scopeKey) => {
          const d = displayKey(b.scope, scopeKey);
          const total = deps.costs.total(b.scope, b.currency, scopeKey, window.start, now);
          return {
            key: d.key,
            ...(d.alone ? { counted_alone: true } : {}),
            total: formatMoney(total),
            remaining: formatMoney(Math.max(0, b.limitUnits - total)),
            used: Math.round((total / b.limitUnits) * 10_000) / 10_000,
            exceeded: total > b.limitUnits,
            alerted: deps.budgets.alerted(b.id, scopeKey, window.start),
          };
        })
        .filter((s) => keyOk(s.key) && (s.total !== "0" || s.alerted.length > 0))
        .sort((x, y) => y.used - x.used || x.key.localeCompare(y.key));
      return {
        id: b.id,
        scope: b.scope,
        per: formatPer(b.per),
        limit: formatMoney(b.limitUnits),
        currency: b.currency,
        alert_at: b.alertAt,
        on_exceed: b.onExceed,
        window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
        streams,
      };
    });

  return {
    costs: { window: q.window, since: new Date(q.since).toISOString(), until: new Date(now).toISOString(), totals },
    budgets,
  };
}
