// Rate limits (`rate_limits` in the policy): at most `max` APPROVED decisions per `per` sliding window for each
// stream (agent, tenant, team or global; tenant and team of the agent's principal, as for soft limits). Distinct from
// soft limits, which sum a measure and only hold: a rate limit counts decisions and DENIES (or holds, `on_exceed`)
// with the time the next one would pass. What counts: decisions approved at declaration and holds an operator
// approves (counted when approved); denied and pending intents do not, so a flood of refused calls does not lock an
// agent out for longer than its own approved calls would.
//
// The check and the reservation run inside the decision's SQLite transaction (the pipeline's limits hook), so
// concurrent intents cannot jointly pass `max`. The counter is behind RateCounter so a fleet store (PostgreSQL) can
// provide its own; everything here is synchronous on purpose (nothing may await between check and reservation).
import type Database from "better-sqlite3";
import type { Intent, Reason } from "../../protocol/index.ts";
import type { PrincipalLookup } from "../principals.ts";
import { formatDuration } from "../policy/units.ts";
import { scopeKey } from "./ledger.ts";
import type { SoftLimit } from "./types.ts";

/** One rate limit as the limiter consumes it (sidecar/policy/config.ts RateLimitConfig, read structurally). */
export interface RateLimit {
  id: string;
  scope: "agent" | "tenant" | "team" | "global";
  actions?: { test(name: string): boolean };
  tools?: { test(name: string): boolean };
  max: number;
  perMs: number;
  onExceed: "deny" | "hold";
}

/** The store side of rate limits: events per (limit, stream) with their times. Implementations must be atomic with
 * the caller's transaction (SQLite: the decision's; a fleet store: its own decision transaction). */
export interface RateCounter {
  /** Events of the stream after `since` (exclusive): their number and, when it is at least `max`, the time of the
   * event whose leaving the window brings the count below `max`. */
  window(limitId: string, key: string, since: number, max: number): { count: number; pivot?: number };
  /** Records one approved decision (idempotent per intent and limit). */
  add(limitId: string, key: string, intentId: string, ts: number): void;
  /** Deletes events at or before `before` of a limit; returns how many. */
  prune(limitId: string, before: number): number;
  /** Deletes every event of limits not in `keep` (limits removed from the policy). */
  forgetOthers(keep: readonly string[]): number;
}

// Each row carries `cum`, the running count of its (limit, stream), so a window's count is two index probes (the
// newest cum minus the cum of the last row before the window) and the retry time one more, however many approvals
// the window holds (a COUNT(*) would grow with a high `max`, e.g. a global limit).
export const RATE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS rate_limit_ledger (
  limit_id  TEXT    NOT NULL,
  scope_key TEXT    NOT NULL,
  ts        INTEGER NOT NULL, -- ms since epoch of the approval, non-decreasing per (limit_id, scope_key)
  cum       INTEGER NOT NULL, -- running count per (limit_id, scope_key), this row included
  intent_id TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limit_ledger_ts ON rate_limit_ledger (limit_id, scope_key, ts, cum);
CREATE UNIQUE INDEX IF NOT EXISTS rate_limit_ledger_cum ON rate_limit_ledger (limit_id, scope_key, cum);
CREATE UNIQUE INDEX IF NOT EXISTS rate_limit_ledger_intent ON rate_limit_ledger (intent_id, limit_id);
`;

interface Row {
  ts: number;
  cum: number;
}

/** The SQLite counter: a row per approved decision and limit, with running counts. */
export class SqliteRateCounter implements RateCounter {
  private readonly head: Database.Statement<[string, string], Row>;
  private readonly first: Database.Statement<[string, string], Row>;
  private readonly before: Database.Statement<[string, string, number], Row>;
  private readonly at: Database.Statement<[string, string, number], Row>;
  private readonly insert: Database.Statement<[string, string, number, number, string]>;
  private readonly del: Database.Statement<[string, number]>;

  constructor(private readonly db: Database.Database) {
    db.exec(RATE_SCHEMA_SQL);
    const sel = "SELECT ts, cum FROM rate_limit_ledger WHERE limit_id = ? AND scope_key = ?";
    this.head = db.prepare(`${sel} ORDER BY cum DESC LIMIT 1`);
    this.first = db.prepare(`${sel} ORDER BY cum ASC LIMIT 1`);
    this.before = db.prepare(`${sel} AND ts <= ? ORDER BY ts DESC, cum DESC LIMIT 1`);
    this.at = db.prepare(`${sel} AND cum = ?`);
    this.insert = db.prepare(
      "INSERT OR IGNORE INTO rate_limit_ledger (limit_id, scope_key, ts, cum, intent_id) VALUES (?, ?, ?, ?, ?)",
    );
    this.del = db.prepare("DELETE FROM rate_limit_ledger WHERE limit_id = ? AND ts <= ?");
  }

  window(limitId: string, key: string, since: number, max: number): { count: number; pivot?: number } {
    const head = this.head.get(limitId, key);
    if (!head) return { count: 0 };
    // the cum just before the window: the last row at or before `since`, else (pruned or none) the first row's - 1
    const base = this.before.get(limitId, key, since)?.cum ?? this.first.get(limitId, key)!.cum - 1;
    const count = head.cum - base;
    if (count < max) return { count };
    // the approval whose leaving brings the count below max: the (count - max + 1)-th oldest in the window
    const pivot = this.at.get(limitId, key, head.cum - max + 1)?.ts;
    return pivot === undefined ? { count } : { count, pivot };
  }

  add(limitId: string, key: string, intentId: string, ts: number): void {
    const head = this.head.get(limitId, key);
    // keep ts non-decreasing per stream even if the clock steps back, so cum order is time order
    this.insert.run(limitId, key, head ? Math.max(head.ts, ts) : ts, (head?.cum ?? 0) + 1, intentId);
  }

  prune(limitId: string, before: number): number {
    return this.del.run(limitId, before).changes;
  }

  forgetOthers(keep: readonly string[]): number {
    const marks = keep.map(() => "?").join(", ");
    const sql = keep.length
      ? `DELETE FROM rate_limit_ledger WHERE limit_id NOT IN (${marks})`
      : "DELETE FROM rate_limit_ledger";
    return this.db.prepare(sql).run(...keep).changes;
  }
}

/** What the limits hook returns when some rate limit refuses (pipeline-hooks LimitVerdict). */
export interface RateVerdict {
  hold: Reason[];
  deny: Reason[];
}

/** The stream an intent counts in for a limit: `agent:<name>`, `tenant:<t>`, `team:<t>/<team>` or `global`. */
export type StreamKey = (limit: RateLimit, intent: Intent) => string;

/** The soft-limit ledger's stream keys (tenant and team of the agent's principal, `agent:<name>` without one). The
 * holds subsystem passes a key function that asks its ledger, so both use the principals the daemon wired. */
export const streamKeyWith =
  (principals?: PrincipalLookup): StreamKey =>
  (l, intent) =>
    scopeKey(asSoftLimit(l), intent, principals);

/** A rate limit as the soft-limit ledger's scope-key function reads it (it only looks at `scope`). */
export const asSoftLimit = (l: RateLimit): SoftLimit => ({
  id: l.id,
  scope: l.scope,
  measure: "count",
  windowMs: l.perMs,
  max: l.max,
});

export class RateLimiter {
  constructor(
    private readonly counter: RateCounter,
    private readonly streamKey: StreamKey = streamKeyWith(undefined),
  ) {}

  /** The limits that would be exceeded by approving this intent now; undefined when none. Writes nothing. */
  check(intent: Intent, limits: readonly RateLimit[], now: number): RateVerdict | undefined {
    let out: RateVerdict | undefined;
    for (const l of limits) {
      if (!appliesTo(l, intent)) continue;
      const key = this.key(l, intent);
      const w = this.counter.window(l.id, key, now - l.perMs, l.max);
      if (w.count < l.max) continue;
      out ??= { hold: [], deny: [] };
      out[l.onExceed].push(exceeded(l, key, w.pivot, now));
    }
    return out;
  }

  /** Counts an approved decision in every limit it falls under. */
  reserve(intentId: string, intent: Intent, limits: readonly RateLimit[], now: number): void {
    for (const l of limits) if (appliesTo(l, intent)) this.counter.add(l.id, this.key(l, intent), intentId, now);
  }

  /** Drops events that left every window, and those of limits no longer in the policy. */
  prune(limits: readonly RateLimit[], now: number): number {
    let n = this.counter.forgetOthers(limits.map((l) => l.id));
    for (const l of limits) n += this.counter.prune(l.id, now - l.perMs);
    return n;
  }

  private key(l: RateLimit, intent: Intent): string {
    return this.streamKey(l, intent);
  }
}

/** Whether a limit counts this intent (tools: tool.call by tool name; actions: by action name; neither: all). */
export function appliesTo(l: RateLimit, intent: Intent): boolean {
  if (l.tools) {
    const tool = intent.action === "tool.call" ? intent.params.tool : undefined;
    return typeof tool === "string" && l.tools.test(tool);
  }
  return l.actions ? l.actions.test(intent.action) : true;
}

/** "agent a1", "tenant acme", "team acme/payments", "global", or "agent bob (no tenant principal)". */
function describe(l: RateLimit, key: string): string {
  if (key === "global") return "global";
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const name = key.slice(colon + 1);
  return kind === l.scope ? `${kind} ${name}` : `${kind} ${name} (no ${l.scope} principal, counted alone)`;
}

/** `rate limit slack-burst: 3 per 1m for agent a1; retry after 2026-03-20T14:31:00.000Z (in 41 s)`. `pivot`: the
 * time of the approval whose leaving the window frees a slot (RateCounter.window). Exported for other stores. */
export function exceeded(l: RateLimit, key: string, pivot: number | undefined, now: number): Reason {
  const at = (pivot ?? now) + l.perMs;
  const secs = Math.max(1, Math.ceil((at - now) / 1000));
  return {
    block: "rate_limits",
    rule: l.id,
    message:
      `rate limit ${l.id}: ${l.max} per ${formatDuration(l.perMs)} for ${describe(l, key)}; ` +
      `retry after ${new Date(at).toISOString()} (in ${secs} s)`,
  };
}
