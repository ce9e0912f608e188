// Decided intents and idempotency keys. Rows hold the intent ({agent, action, params, context}), the decision,
// reasons, the signed CLAIMS (never the token: Ed25519 is deterministic, so re-signing reproduces it) and the
// hold summary of a PENDING decision. The stored intent is the redacted copy (sidecar/store/redact.ts): no secret
// header values, no HTTP bodies; `digest` is always the real intent's.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type { AttestationClaims, DecisionKind, HoldSummary, Reason } from "../../protocol/index.ts";
import type { Db } from "./db.ts";
import type { Redaction } from "./redact.ts";

export interface StoredIntent {
  agent: string;
  action: string;
  params: Record<string, unknown>;
  context: Record<string, unknown>;
  /** Present when secrets were replaced by digests before storing (see redact.ts). */
  redacted?: Redaction;
}

export interface IntentRecord {
  id: string;
  agent: string;
  action: string;
  digest: string;
  intent: StoredIntent;
  decision: DecisionKind;
  reasons: Reason[];
  claims?: AttestationClaims;
  kid?: string;
  hold?: HoldSummary;
  policy_digest?: string;
  created_at: string;
  updated_at: string;
}

export interface IntentUpdate {
  decision: DecisionKind;
  reasons?: Reason[];
  claims?: AttestationClaims;
  kid?: string;
  hold?: HoldSummary;
}

/** An `intents` row. `claims_json` and `kid` may be left out of a SELECT (the console's queries do not read them). */
export interface IntentRow {
  id: string;
  agent: string;
  action: string;
  digest: string;
  intent_json: string;
  decision: DecisionKind;
  reasons_json: string;
  claims_json?: string | null;
  kid?: string | null;
  hold_json: string | null;
  policy_digest: string | null;
  created_at: string;
  updated_at: string;
}

/** The record of an `intents` row (the one mapping: the intent store and the console's queries). */
export function intentFromRow(r: IntentRow): IntentRecord {
  const rec: IntentRecord = {
    id: r.id,
    agent: r.agent,
    action: r.action,
    digest: r.digest,
    intent: JSON.parse(r.intent_json),
    decision: r.decision,
    reasons: JSON.parse(r.reasons_json),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
  if (r.claims_json) rec.claims = JSON.parse(r.claims_json);
  if (r.kid) rec.kid = r.kid;
  if (r.hold_json) rec.hold = JSON.parse(r.hold_json);
  if (r.policy_digest) rec.policy_digest = r.policy_digest;
  return rec;
}

/** A time-ordered intent id (UUIDv7 layout: 48-bit Unix ms, version 7, random rest). Ordered ids keep the primary
 * key index append-only, which keeps inserts cheap as the table grows. */
export function newIntentId(now: number = Date.now()): string {
  const r = randomUUID(); // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx, random from a pooled CSPRNG
  const ts = now.toString(16).padStart(12, "0");
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${r.slice(15)}`;
}

/** Process-local notifications: "changed" (intentId) whenever an intent's decision changes (long polls wake on it). */
export const intentChanges = new EventEmitter();
intentChanges.setMaxListeners(0);

export class IntentStore {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly updateStmt;
  private readonly idemGet;
  private readonly idemPut;
  private readonly recentStmt;

  constructor(readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO intents (id, agent, action, digest, intent_json, decision, reasons_json, claims_json, kid, hold_json,
         policy_digest, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getStmt = db.prepare("SELECT * FROM intents WHERE id = ?");
    this.updateStmt = db.prepare(
      `UPDATE intents SET decision = ?, reasons_json = COALESCE(?, reasons_json), claims_json = COALESCE(?, claims_json),
         kid = COALESCE(?, kid), hold_json = COALESCE(?, hold_json), updated_at = ? WHERE id = ?`,
    );
    this.idemGet = db.prepare("SELECT digest, intent_id FROM idempotency WHERE agent = ? AND key = ?");
    this.idemPut = db.prepare(
      "INSERT INTO idempotency (agent, key, digest, intent_id, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    this.recentStmt = db.prepare("SELECT * FROM intents ORDER BY rowid DESC LIMIT ?"); // rowid = insertion order
  }

  insert(rec: IntentRecord): void {
    this.insertStmt.run(
      rec.id,
      rec.agent,
      rec.action,
      rec.digest,
      JSON.stringify(rec.intent),
      rec.decision,
      JSON.stringify(rec.reasons),
      rec.claims ? JSON.stringify(rec.claims) : null,
      rec.kid ?? null,
      rec.hold ? JSON.stringify(rec.hold) : null,
      rec.policy_digest ?? null,
      rec.created_at,
      rec.updated_at,
    );
  }

  get(id: string): IntentRecord | undefined {
    const r = this.getStmt.get(id) as IntentRow | undefined;
    return r ? intentFromRow(r) : undefined;
  }

  /** Changes an intent's decision (e.g. a hold approved, denied or expired) and wakes long polls on it.
   * Fields left undefined keep their stored value. Returns false when no such intent exists. */
  update(id: string, u: IntentUpdate, now: Date = new Date()): boolean {
    const res = this.updateStmt.run(
      u.decision,
      u.reasons ? JSON.stringify(u.reasons) : null,
      u.claims ? JSON.stringify(u.claims) : null,
      u.kid ?? null,
      u.hold ? JSON.stringify(u.hold) : null,
      now.toISOString(),
      id,
    );
    if (res.changes === 0) return false;
    // notify after the caller's transaction settles; emitting inside is harmless since listeners only re-read
    queueMicrotask(() => intentChanges.emit("changed", id));
    return true;
  }

  findIdempotent(agent: string, key: string): { digest: string; intent_id: string } | undefined {
    return this.idemGet.get(agent, key) as { digest: string; intent_id: string } | undefined;
  }

  recordIdempotent(agent: string, key: string, digest: string, intentId: string, now: Date): void {
    this.idemPut.run(agent, key, digest, intentId, now.toISOString());
  }

  recent(limit: number): IntentRecord[] {
    return (this.recentStmt.all(limit) as IntentRow[]).map(intentFromRow);
  }
}
