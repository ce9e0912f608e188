// Cost attribution: what an approved intent costs (declared by the agent in `intent.cost`, or computed by a policy
// `costs` measure) and the running totals per agent, team and tenant. The totals live in the soft-limit ledger's
// table (one mechanism for windowed sums): one stream per (scope, currency), ids `cost:<scope>:<CURRENCY>`, keyed
// like soft limits (`agent:<name>`, `team:<tenant>/<team>`, `tenant:<tenant>`; team and tenant from the sidecar's
// principals, never from the intent). Amounts are integers in millionths, so sums are exact.
import type { Intent } from "../../protocol/index.ts";
import type { Db } from "../store/index.ts";
import type { Statement } from "better-sqlite3";
import type { LimitLedger } from "./ledger.ts";
import { UNITS } from "./schema.ts";
import { LimitError, type SoftLimit } from "./types.ts";

export const COST_SCOPES = ["agent", "team", "tenant"] as const;
export type CostScope = (typeof COST_SCOPES)[number];

/** Soft-limit ids starting with this are the cost streams' (the policy compiler refuses them for soft limits). */
export const COST_STREAM_PREFIX = "cost:";

/** How long cost rows stay in the ledger at least: usage can look back this far; budgets' windows may extend it. */
export const COST_RETENTION_MS = 92 * 86_400_000;

/** A policy `costs` entry: the operator's price for intents of some actions (it wins over a declared cost). */
export interface CostMeasure {
  id: string;
  actions?: { test(name: string): boolean };
  measure: (intent: Intent, env: { now: Date }) => number;
  currency: string;
}

/** What one intent adds: an amount in millionths and its currency; `source` is `declared` or `costs.<id>`. */
export interface IntentCharge {
  units: number;
  currency: string;
  source: string;
}

export function costStreamId(scope: CostScope, currency: string): string {
  return `${COST_STREAM_PREFIX}${scope}:${currency}`;
}

/** "0.42" → 420000. The protocol schema has already checked the form (≤ 9 integer digits, ≤ 6 decimals). */
export function parseCostAmount(amount: string): number {
  const m = /^(\d{1,9})(?:\.(\d{1,6}))?$/.exec(amount);
  if (!m) throw new LimitError("measure_invalid", `cost amount ${JSON.stringify(amount)} is not a decimal string`);
  return Number(m[1]) * UNITS + Number((m[2] ?? "").padEnd(6, "0"));
}

/** 420000 → "0.42", 5e8 → "500": exact, trailing zeros trimmed. */
export function formatMoney(units: number): string {
  const neg = units < 0;
  const abs = Math.abs(Math.round(units));
  const int = Math.floor(abs / UNITS);
  const frac = String(abs % UNITS).padStart(6, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

/** The intent's cost: the first policy measure whose actions match (the operator's word), else the declared cost,
 * else undefined (nothing to count). Throws LimitError when a measure fails or gives a bad number (→ DENIED). */
export function intentCharge(intent: Intent, measures: readonly CostMeasure[], now: number): IntentCharge | undefined {
  const m = measures.find((x) => !x.actions || x.actions.test(intent.action));
  if (m) {
    let v: unknown;
    try {
      v = m.measure(intent, { now: new Date(now) });
    } catch (err) {
      throw new LimitError("measure_failed", `costs ${m.id}: measure failed: ${(err as Error).message}`);
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v >= 1e9) {
      throw new LimitError("measure_invalid", `costs ${m.id}: measure must give a number from 0 to 1e9, got ${String(v)}`);
    }
    return { units: Math.round(v * UNITS), currency: m.currency, source: `costs.${m.id}` };
  }
  if (intent.cost) return { units: parseCostAmount(intent.cost.amount), currency: intent.cost.currency, source: "declared" };
  return undefined;
}

/** Cost totals on top of the soft-limit ledger (its table, its principal-aware scope keys and its running sums). */
export class CostLedger {
  private readonly nextId: Statement<[string, string], { id: string }>;
  private readonly firstKey: Statement<[string], { k: string }>;
  private readonly nextKey: Statement<[string, string], { k: string }>;

  constructor(
    db: Db,
    private readonly ledger: LimitLedger,
  ) {
    // all three walk the ledger's (limit_id, scope_key, ts, cum) index
    this.nextId = db.prepare("SELECT limit_id AS id FROM soft_limit_ledger WHERE limit_id > ? AND limit_id < ? ORDER BY limit_id LIMIT 1");
    this.firstKey = db.prepare("SELECT scope_key AS k FROM soft_limit_ledger WHERE limit_id = ? ORDER BY scope_key LIMIT 1");
    this.nextKey = db.prepare("SELECT scope_key AS k FROM soft_limit_ledger WHERE limit_id = ? AND scope_key > ? ORDER BY scope_key LIMIT 1");
  }

  /** The stream key of each scope for this intent's agent (`agent:<name>` where it has no team / tenant). */
  keys(intent: Intent, currency: string, now: number): Record<CostScope, string> {
    const out = {} as Record<CostScope, string>;
    for (const c of this.ledger.charges(intent, streamsOf(currency, 0), now)) out[scopeOfStream(c.limit.id)] = c.scopeKey;
    return out;
  }

  /** The total (millionths) of a stream from `since` (inclusive) to now. */
  total(scope: CostScope, currency: string, key: string, since: number, now: number): number {
    // windowTotal counts rows with ts > now - windowMs; it divides by UNITS, which this multiplies back exactly
    const windowMs = Math.max(1, now - since + 1);
    return Math.round(this.ledger.windowTotal(costStreamId(scope, currency), key, windowMs, now) * UNITS);
  }

  /** Counts an approved intent's cost in its agent, team and tenant streams (idempotent per intent). Joins the
   * caller's transaction. */
  record(intentId: string, intent: Intent, charge: IntentCharge, now: number): void {
    if (charge.units <= 0) return;
    this.ledger.reserve(intentId, intent, streamsOf(charge.currency, charge.units), now);
  }

  /** Currencies that have any cost rows. One index seek per stream id (a DISTINCT would read every row). */
  currencies(): string[] {
    const ids: string[] = [];
    // ids are `cost:<scope>:<CUR>`; ';' sorts right after ':', so [prefix, "cost;") holds exactly them
    const end = COST_STREAM_PREFIX.slice(0, -1) + ";";
    for (let id = this.nextId.get(COST_STREAM_PREFIX, end)?.id; id !== undefined; id = this.nextId.get(id, end)?.id) ids.push(id);
    return [...new Set(ids.map((id) => id.split(":")[2]!))].sort();
  }

  /** Stream keys of a scope and currency that have rows: one index seek per key, however many rows each has. */
  streams(scope: CostScope, currency: string): string[] {
    const id = costStreamId(scope, currency);
    const keys: string[] = [];
    for (let k = this.firstKey.get(id)?.k; k !== undefined; k = this.nextKey.get(id, k)?.k) keys.push(k);
    return keys;
  }

  /** Deletes rows older than `retentionMs` (keeping each stream's base row), in short chunks like the soft limits. */
  prune(now: number, retentionMs = COST_RETENTION_MS): number {
    return this.ledger.prune(
      this.currencies().flatMap((c) => streamsOf(c, 0).map((l) => ({ ...l, windowMs: retentionMs }))),
      now,
    );
  }
}

function streamsOf(currency: string, units: number): SoftLimit[] {
  return COST_SCOPES.map((scope) => ({
    id: costStreamId(scope, currency),
    scope,
    measure: () => units / UNITS,
    windowMs: COST_RETENTION_MS,
    max: Number.POSITIVE_INFINITY,
  }));
}

function scopeOfStream(id: string): CostScope {
  return id.slice(COST_STREAM_PREFIX.length).split(":")[0] as CostScope;
}
