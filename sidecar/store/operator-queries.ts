// Read-only queries for the operator console (sidecar/operator/views.ts): recent decisions with filters, an intent's
// audit trail, the last policy reload, and soft-limit usage per stream. Nothing here writes; every query is bounded.
import type { Db } from "./db.ts";
import { intentFromRow, type IntentRecord, type IntentRow } from "./intents.ts";

export interface DecisionQuery {
  agent?: string;
  /** An action name, or a glob with `*` (SQLite GLOB: case-sensitive). */
  action?: string;
  decision?: string;
  /** `rule` or `block/rule` of any reason. */
  rule?: string;
  limit: number;
}

const COLS = "id, agent, action, digest, intent_json, decision, reasons_json, hold_json, policy_digest, created_at, updated_at";

/** Newest first (insertion order); the scan stops after `limit` matches. */
export function queryDecisions(db: Db, q: DecisionQuery): IntentRecord[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.agent) {
    where.push("agent = ?");
    args.push(q.agent);
  }
  if (q.action) {
    where.push(q.action.includes("*") ? "action GLOB ?" : "action = ?");
    args.push(q.action);
  }
  if (q.decision) {
    where.push("decision = ?");
    args.push(q.decision);
  }
  if (q.rule) {
    where.push(
      "EXISTS (SELECT 1 FROM json_each(reasons_json) WHERE json_extract(value, '$.rule') = ? OR json_extract(value, '$.block') || '/' || json_extract(value, '$.rule') = ?)",
    );
    args.push(q.rule, q.rule);
  }
  const limit = Math.min(Math.max(1, Math.floor(q.limit)), 1000);
  const sql = `SELECT ${COLS} FROM intents ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY rowid DESC LIMIT ${limit}`;
  return (db.prepare(sql).all(...args) as IntentRow[]).map(intentFromRow);
}

export function intentById(db: Db, id: string): IntentRecord | undefined {
  const r = db.prepare(`SELECT ${COLS} FROM intents WHERE id = ?`).get(id) as IntentRow | undefined;
  return r ? intentFromRow(r) : undefined;
}

export interface AuditEntry {
  seq: number;
  ts: string;
  type: string;
  data: Record<string, unknown>;
}

/** Every audit row that names this intent (decision, hold events, redemption, receipt), in chain order. The audit
 * table has no index on intent_id: the scan starts at the first row written at or after the intent was created
 * (seq order is time order), which keeps it short for recent intents. */
export function auditForIntent(db: Db, intentId: string, createdAt: string, max = 200): AuditEntry[] {
  // the first seq at or after created_at, found by walking back from the end in chunks (no index on ts)
  const from = firstSeqAtOrAfter(db, createdAt);
  const rows = db
    .prepare(
      `SELECT seq, ts, type, data_json FROM audit WHERE seq >= ? AND json_extract(data_json, '$.intent_id') = ? ORDER BY seq LIMIT ?`,
    )
    .all(from, intentId, max) as { seq: number; ts: string; type: string; data_json: string }[];
  return rows.map((r) => ({ seq: r.seq, ts: r.ts, type: r.type, data: JSON.parse(r.data_json) as Record<string, unknown> }));
}

function firstSeqAtOrAfter(db: Db, ts: string): number {
  // binary search over seq (ts grows with seq; a clock step back only makes the scan start a little early)
  const bounds = db.prepare("SELECT min(seq) AS lo, max(seq) AS hi FROM audit").get() as { lo: number | null; hi: number | null };
  if (bounds.lo === null || bounds.hi === null) return 0;
  const at = db.prepare("SELECT ts FROM audit WHERE seq >= ? ORDER BY seq LIMIT 1");
  let lo = bounds.lo;
  let hi = bounds.hi;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const row = at.get(mid) as { ts: string } | undefined;
    if (row && row.ts < ts) lo = mid + 1;
    else hi = mid;
  }
  // a little slack for rows written in the same millisecond batch with an earlier clock reading
  return Math.max(bounds.lo, lo - 1000);
}

/** The most recent policy reload outcome in the audit log (`policy.reloaded` / `policy.reload_failed`), looking at
 * most `window` rows back. */
export function lastPolicyReload(db: Db, window = 200_000): AuditEntry | undefined {
  const r = db
    .prepare(
      `SELECT seq, ts, type, data_json FROM audit WHERE seq > (SELECT coalesce(max(seq), 0) FROM audit) - ?
         AND type IN ('policy.reloaded', 'policy.reload_failed') ORDER BY seq DESC LIMIT 1`,
    )
    .get(window) as { seq: number; ts: string; type: string; data_json: string } | undefined;
  return r ? { seq: r.seq, ts: r.ts, type: r.type, data: JSON.parse(r.data_json) as Record<string, unknown> } : undefined;
}

/** The (limit, scope) streams of the soft-limit ledger for one limit. */
export function ledgerStreams(db: Db, limitId: string): string[] {
  return (db.prepare("SELECT DISTINCT scope_key FROM soft_limit_ledger WHERE limit_id = ?").all(limitId) as { scope_key: string }[]).map(
    (r) => r.scope_key,
  );
}

/** Reserved amounts (ledger units) of one stream in `buckets` equal slices of (from, to]. */
export function ledgerBuckets(db: Db, limitId: string, scopeKey: string, from: number, to: number, buckets: number): number[] {
  const out = new Array<number>(buckets).fill(0);
  const width = Math.max(1, Math.ceil((to - from) / buckets));
  const rows = db
    .prepare(
      `SELECT (ts - ? - 1) / ? AS b, sum(amount) AS amount FROM soft_limit_ledger
         WHERE limit_id = ? AND scope_key = ? AND ts > ? AND ts <= ? GROUP BY b`,
    )
    .all(from, width, limitId, scopeKey, from, to) as { b: number; amount: number }[];
  for (const r of rows) out[Math.min(buckets - 1, Math.max(0, r.b))]! += r.amount;
  return out;
}

/** Reserved amounts (ledger units) of one stream in (from, to], per agent (joined on the intents table). */
export function ledgerByAgent(db: Db, limitId: string, scopeKey: string, from: number, to: number): { agent: string; amount: number }[] {
  return db
    .prepare(
      `SELECT coalesce(i.agent, '?') AS agent, sum(l.amount) AS amount FROM soft_limit_ledger l
         LEFT JOIN intents i ON i.id = l.intent_id
         WHERE l.limit_id = ? AND l.scope_key = ? AND l.ts > ? AND l.ts <= ? GROUP BY 1 ORDER BY 2 DESC LIMIT 50`,
    )
    .all(limitId, scopeKey, from, to) as { agent: string; amount: number }[];
}
