// The hold lifecycle: create (from a PENDING decision), approve by distinct operators up to the quorum, deny,
// expire (sweeper and on read). Every transition is one IMMEDIATE SQLite transaction that also appends the audit
// entry, reserves soft-limit amounts on approval, and queues the webhook event, so a crash never leaves half a
// transition. Nothing awaits inside a transaction; listeners hear about a transition after it committed.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import {
  defaultAudience,
  intentDigest,
  DEFAULT_ISSUER,
  DEFAULT_TTL_SECONDS,
  type ApprovalClaim,
  type AttestationClaims,
  type DecisionResponse,
  type HoldSummary,
  type Intent,
  type Reason,
} from "../../protocol/index.ts";
import { HOLDS_SCHEMA_SQL } from "./schema.ts";
import { redactForStorage, storedIntentClaim } from "../store/redact.ts";
import { DEFAULT_MAX_OPEN_PER_AGENT, HoldCapReached } from "./cap.ts";
import { holdTerms, holdRules } from "./terms.ts";
import { Summarizer, type Summary } from "../policy/summary.ts";
import {
  DEFAULT_HOLDS_POLICY,
  HoldError,
  type HoldAuditEvent,
  type HoldEvent,
  type HoldState,
  type HoldView,
  type HoldsPolicy,
} from "./types.ts";

interface HoldRow {
  id: string;
  intent_id: string;
  agent: string;
  action: string;
  intent_json: string;
  reasons_json: string;
  rules_json: string;
  policy_digest: string;
  state: HoldState;
  approvals_required: number;
  created_at: number;
  expires_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
  resolution_note: string | null;
  claims_json: string | null;
}

export interface HoldServiceOptions {
  db: Database.Database;
  /** Signs attestation claims into a compact JWS (the daemon's signing module). */
  sign: (claims: AttestationClaims) => string | Promise<string>;
  /** The `holds` policy block in force (read at each creation). */
  policy?: () => HoldsPolicy;
  /** Appends to the hash-chained audit log; called inside the transition's transaction. */
  audit?: (event: HoldAuditEvent) => void;
  /** Reserves the approved intent's soft-limit amounts; called inside the approval's transaction. */
  reserve?: (intentId: string, intent: Intent, now: number) => void;
  /** Queues a webhook event; called inside the transition's transaction (the outbox is durable). */
  notify?: (event: { type: string; hold: HoldView }) => void;
  /** Carries a transition over to the intent record (the daemon's intent store); inside the transaction. */
  onTransition?: (t: HoldTransition) => void;
  /** The hold's summary for operators and webhooks (default: the Summarizer without policy names). */
  summarize?: (intent: Intent) => Summary;
  issuer?: string;
  audience?: (action: string) => string;
  /** Attestation lifetime in seconds after approval. */
  attestationTtlSeconds?: number;
  now?: () => number;
}

export interface CreateHoldInput {
  intentId: string;
  intent: Intent;
  reasons: Reason[];
  policyDigest: string;
  /** The real intent's digest (the pipeline has it); computed when absent. The hold stores a redacted copy of the
   * intent (no secret headers, no HTTP body) and binds later attestations to this digest. */
  digest?: string;
  /** The `holds` block of the policy that decided (defaults to opts.policy()). */
  holdsPolicy?: HoldsPolicy;
}

export interface HoldTransition {
  type: "approval" | "approved" | "denied" | "expired";
  hold: HoldView;
  summary: HoldSummary;
  /** On `approved`: the attestation's `approval` claim. */
  approval?: ApprovalClaim;
  /** On `denied` / `expired`: the reason the agent sees. */
  reason?: Reason;
  now: number;
}

export class HoldService extends EventEmitter {
  private readonly db: Database.Database;
  private readonly opts: HoldServiceOptions;
  private readonly now: () => number;
  private readonly q: {
    insert: Database.Statement;
    byId: Database.Statement<[string], HoldRow>;
    byIntent: Database.Statement<[string], HoldRow>;
    approvals: Database.Statement<[string], { operator: string; comment: string | null; at: number }>;
    addApproval: Database.Statement<[string, string, string | null, number]>;
    resolve: Database.Statement<[HoldState, number, string | null, string | null, string | null, string]>;
    due: Database.Statement<[number], { id: string }>;
    openFor: Database.Statement<[string, number, number], { n: number }>;
  };
  private readonly signed = new Map<string, string>();

  constructor(opts: HoldServiceOptions) {
    super();
    this.setMaxListeners(0); // one listener per long-polling agent request
    this.opts = opts;
    this.db = opts.db;
    this.now = opts.now ?? Date.now;
    this.db.exec(HOLDS_SCHEMA_SQL);
    this.q = {
      insert: this.db.prepare(
        `INSERT INTO holds (id, intent_id, agent, action, intent_json, reasons_json, rules_json, policy_digest, state,
           approvals_required, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
      ),
      byId: this.db.prepare("SELECT * FROM holds WHERE id = ?"),
      byIntent: this.db.prepare("SELECT * FROM holds WHERE intent_id = ?"),
      approvals: this.db.prepare("SELECT operator, comment, at FROM hold_approvals WHERE hold_id = ? ORDER BY at, operator"),
      addApproval: this.db.prepare("INSERT INTO hold_approvals (hold_id, operator, comment, at) VALUES (?, ?, ?, ?)"),
      resolve: this.db.prepare(
        `UPDATE holds SET state = ?, resolved_at = ?, resolved_by = ?, resolution_note = ?, claims_json = ?
           WHERE id = ? AND state = 'pending'`,
      ),
      due: this.db.prepare("SELECT id FROM holds WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT 500"),
      // open = pending and not yet past expiry (the sweeper may not have run); stops counting at the cap
      openFor: this.db.prepare(
        "SELECT count(*) AS n FROM (SELECT 1 FROM holds WHERE agent = ? AND state = 'pending' AND expires_at > ? LIMIT ?)",
      ),
    };
  }

  /**
   * Creates the hold for a PENDING decision and returns the `hold` summary of the 202 response. Synchronous: it
   * joins the caller's transaction (the one recording the decision) or opens its own. Idempotent per intent id.
   * Throws HoldCapReached (nothing written) when the agent already has `holds.max_open_per_agent` pending holds.
   */
  create(input: CreateHoldInput): HoldSummary {
    let created: HoldView | undefined;
    const summary = this.tx(() => {
      const existing = this.q.byIntent.get(input.intentId);
      if (existing) return this.summary(existing);
      const policy = input.holdsPolicy ?? this.opts.policy?.() ?? DEFAULT_HOLDS_POLICY;
      const terms = holdTerms(input.reasons, policy);
      const now = this.now();
      const max = policy.maxOpenPerAgent ?? DEFAULT_MAX_OPEN_PER_AGENT;
      if (this.q.openFor.get(input.intent.agent, now, max)!.n >= max) throw new HoldCapReached(input.intent.agent, max);
      const id = `hold_${randomUUID()}`;
      // the stored copy: secret header values and HTTP bodies replaced by digests (never stored, never in webhooks)
      const intent = redactForStorage(input.intent, input.digest ?? intentDigest(input.intent)) as Intent;
      this.q.insert.run(
        id,
        input.intentId,
        intent.agent,
        intent.action,
        JSON.stringify(intent),
        JSON.stringify(input.reasons),
        JSON.stringify(holdRules(input.reasons)),
        input.policyDigest,
        terms.approvalsRequired,
        now,
        now + terms.ttlMs,
      );
      const row = this.q.byId.get(id)!;
      created = this.view(row);
      this.opts.audit?.({
        type: "hold.created",
        hold_id: id,
        intent_id: input.intentId,
        agent: intent.agent,
        approvals_required: row.approvals_required,
      });
      this.opts.notify?.({ type: "hold.pending", hold: created });
      return this.summary(row);
    });
    if (created) this.emitAfter({ type: "created", hold: created });
    return summary;
  }

  /** Records one operator's approval; on quorum the hold is approved and its attestation claims fixed. */
  approve(holdId: string, operator: string, comment?: string): HoldView {
    checkOperator(operator);
    this.fresh(this.q.byId.get(holdId));
    let event: HoldEvent | undefined;
    const view = this.tx(() => {
      const row = this.pendingRow(holdId);
      const now = this.now();
      if (this.q.approvals.all(holdId).some((a) => a.operator === operator)) {
        throw new HoldError("already_approved", `operator ${operator} already approved hold ${holdId}; quorum needs distinct operators`);
      }
      this.q.addApproval.run(holdId, operator, comment ?? null, now);
      const approvals = this.q.approvals.all(holdId);
      this.opts.audit?.({
        type: "hold.approval",
        hold_id: holdId,
        intent_id: row.intent_id,
        agent: row.agent,
        operator,
        approvals: approvals.length,
        approvals_required: row.approvals_required,
        ...(comment ? { note: comment } : {}),
      });
      if (approvals.length < row.approvals_required) {
        const v = this.view(row);
        this.opts.onTransition?.({ type: "approval", hold: v, summary: this.summary(row), now });
        event = { type: "approval", hold: v };
        return v;
      }
      const claims = this.claimsFor(row, approvals.map((a) => a.operator), now);
      this.q.resolve.run("approved", now, operator, comment ?? null, JSON.stringify(claims), holdId);
      this.opts.reserve?.(row.intent_id, JSON.parse(row.intent_json) as Intent, now);
      const v = this.view(this.q.byId.get(holdId)!);
      this.opts.onTransition?.({ type: "approved", hold: v, summary: this.summary(row), approval: claims.approval!, now });
      this.opts.audit?.({
        type: "hold.approved",
        hold_id: holdId,
        intent_id: row.intent_id,
        agent: row.agent,
        operator,
        approvals: approvals.length,
        approvals_required: row.approvals_required,
      });
      this.opts.notify?.({ type: "hold.approved", hold: v });
      event = { type: "approved", hold: v };
      return v;
    });
    if (event) this.emitAfter(event);
    return view;
  }

  /** One denial ends the hold: the intent is DENIED. */
  deny(holdId: string, operator: string, reason?: string): HoldView {
    checkOperator(operator);
    this.fresh(this.q.byId.get(holdId));
    const view = this.tx(() => {
      const row = this.pendingRow(holdId);
      const now = this.now();
      this.q.resolve.run("denied", now, operator, reason ?? null, null, holdId);
      const v = this.view(this.q.byId.get(holdId)!);
      this.opts.onTransition?.({ type: "denied", hold: v, summary: this.summary(row), reason: deniedReason(v), now });
      this.opts.audit?.({
        type: "hold.denied",
        hold_id: holdId,
        intent_id: row.intent_id,
        agent: row.agent,
        operator,
        ...(reason ? { note: reason } : {}),
      });
      this.opts.notify?.({ type: "hold.denied", hold: v });
      return v;
    });
    this.emitAfter({ type: "denied", hold: view });
    return view;
  }

  /** Expires every pending hold whose time is up. The sweeper calls this; reads expire lazily too. */
  expireDue(): number {
    if (this.q.due.all(this.now()).length === 0) return 0; // the common case: no write lock taken
    const expired: HoldView[] = this.tx(() => {
      const out: HoldView[] = [];
      for (const { id } of this.q.due.all(this.now())) {
        const v = this.expireRow(id);
        if (v) out.push(v);
      }
      return out;
    });
    for (const hold of expired) this.emitAfter({ type: "expired", hold });
    return expired.length;
  }

  /** Runs expireDue every `intervalMs` (and once now). Returns a stop function. */
  startSweeper(intervalMs = 1000): () => void {
    const tick = () => {
      try {
        this.expireDue();
      } catch (err) {
        this.emit("error", err);
      }
    };
    tick();
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  get(holdId: string): HoldView | undefined {
    const row = this.fresh(this.q.byId.get(holdId));
    return row ? this.view(row) : undefined;
  }

  getByIntent(intentId: string): HoldView | undefined {
    const row = this.fresh(this.q.byIntent.get(intentId));
    return row ? this.view(row) : undefined;
  }

  list(filter: { state?: HoldState; agent?: string; rule?: string; limit?: number } = {}): HoldView[] {
    this.expireDue();
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (clause: string, arg: unknown) => {
      where.push(clause);
      args.push(arg);
    };
    if (filter.state) add("state = ?", filter.state);
    if (filter.agent) add("agent = ?", filter.agent);
    if (filter.rule) add("EXISTS (SELECT 1 FROM json_each(rules_json) WHERE value = ?)", filter.rule);
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000);
    const rows = this.db
      .prepare<unknown[], HoldRow>(
        `SELECT * FROM holds ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, id LIMIT ${limit}`,
      )
      .all(...args);
    return rows.map((r) => this.view(r));
  }

  /**
   * The agent-facing state of a held intent, as `GET /v1/intents/{id}` returns it: PENDING with the hold summary,
   * APPROVED with the attestation, DENIED after a denial, EXPIRED after expiry. Undefined if the intent has no hold.
   */
  async decisionFor(intentId: string): Promise<DecisionResponse | undefined> {
    const row = this.fresh(this.q.byIntent.get(intentId));
    if (!row) return undefined;
    const reasons = JSON.parse(row.reasons_json) as Reason[];
    switch (row.state) {
      case "pending":
        return { decision: "PENDING", intent_id: intentId, hold: this.summary(row), reasons };
      case "approved": {
        const claims = JSON.parse(row.claims_json!) as AttestationClaims;
        return {
          decision: "APPROVED",
          intent_id: intentId,
          attestation: await this.signClaims(row.id, claims),
          expires_at: new Date(claims.exp * 1000).toISOString(),
          policy: claims.policy,
          reasons: [],
        };
      }
      case "denied":
        return { decision: "DENIED", intent_id: intentId, reasons: [deniedReason(this.view(row))] };
      case "expired":
        return { decision: "EXPIRED", intent_id: intentId, reasons: [expiredReason(this.view(row))] };
    }
  }

  /** Resolves when the intent's hold leaves `pending` or after `ms`, whichever is first (long poll). */
  waitForResolution(intentId: string, ms: number, signal?: AbortSignal): Promise<void> {
    const current = this.getByIntent(intentId);
    if (!current || current.state !== "pending") return Promise.resolve();
    const until = Math.min(ms, Date.parse(current.expires_at) - this.now() + 50);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off("resolved", onEvent);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const onEvent = (e: HoldEvent) => {
        if (e.hold.intent_id === intentId) done();
      };
      const timer = setTimeout(done, Math.max(0, until));
      this.on("resolved", onEvent);
      signal?.addEventListener("abort", done);
    });
  }

  // --- internals ---

  private claimsFor(row: HoldRow, approvers: string[], now: number): AttestationClaims {
    const intent = JSON.parse(row.intent_json) as Intent;
    const iat = Math.floor(now / 1000);
    return {
      iss: this.opts.issuer ?? DEFAULT_ISSUER,
      sub: row.agent,
      aud: (this.opts.audience ?? defaultAudience)(row.action),
      iat,
      nbf: iat,
      exp: iat + (this.opts.attestationTtlSeconds ?? DEFAULT_TTL_SECONDS),
      jti: row.intent_id,
      intent: storedIntentClaim(intent), // the real request's digest and body digest, from the redaction envelope
      policy: { digest: row.policy_digest },
      approval: { hold_id: row.id, approvers, approved_at: new Date(now).toISOString() },
    };
  }

  private async signClaims(holdId: string, claims: AttestationClaims): Promise<string> {
    const cached = this.signed.get(holdId);
    if (cached) return cached;
    const jws = await this.opts.sign(claims);
    if (this.signed.size > 10_000) this.signed.clear();
    this.signed.set(holdId, jws);
    return jws;
  }

  private pendingRow(holdId: string): HoldRow {
    const row = this.q.byId.get(holdId);
    if (!row) throw new HoldError("not_found", `no hold with id ${holdId}`);
    if (row.state === "pending" && row.expires_at <= this.now()) {
      // callers expire lazily before their transaction (this throw rolls it back); the sweeper records it otherwise
      throw new HoldError("not_pending", `hold ${holdId} expired at ${new Date(row.expires_at).toISOString()}`);
    }
    if (row.state !== "pending") throw new HoldError("not_pending", `hold ${holdId} is already ${row.state}`);
    return row;
  }

  /** Expires one pending row (inside a transaction). */
  private expireRow(holdId: string): HoldView | undefined {
    const row = this.q.byId.get(holdId);
    if (!row || row.state !== "pending") return undefined;
    const now = this.now();
    this.q.resolve.run("expired", now, null, null, null, holdId);
    const v = this.view(this.q.byId.get(holdId)!);
    this.opts.onTransition?.({ type: "expired", hold: v, summary: this.summary(row), reason: expiredReason(v), now });
    this.opts.audit?.({ type: "hold.expired", hold_id: holdId, intent_id: row.intent_id, agent: row.agent });
    this.opts.notify?.({ type: "hold.expired", hold: v });
    return v;
  }

  /** Expire-on-read: a pending row past its expiry is expired before anyone sees it. */
  private fresh(row: HoldRow | undefined): HoldRow | undefined {
    if (!row || row.state !== "pending" || row.expires_at > this.now()) return row;
    const v = this.tx(() => this.expireRow(row.id));
    if (v) this.emitAfter({ type: "expired", hold: v });
    return this.q.byId.get(row.id);
  }

  private summary(row: HoldRow): HoldSummary {
    return {
      id: row.id,
      expires_at: new Date(row.expires_at).toISOString(),
      approvals_required: row.approvals_required,
      approvals: this.q.approvals.all(row.id).length,
    };
  }

  private view(row: HoldRow): HoldView {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: row.id,
      intent_id: row.intent_id,
      state: row.state,
      agent: row.agent,
      action: row.action,
      intent: JSON.parse(row.intent_json) as Intent,
      reasons: JSON.parse(row.reasons_json) as Reason[],
      rules: JSON.parse(row.rules_json) as string[],
      policy_digest: row.policy_digest,
      approvals_required: row.approvals_required,
      approvals: this.q.approvals.all(row.id).map((a) => ({ operator: a.operator, comment: a.comment, at: iso(a.at)! })),
      created_at: iso(row.created_at)!,
      expires_at: iso(row.expires_at)!,
      resolved_at: iso(row.resolved_at),
      resolved_by: row.resolved_by,
      resolution_note: row.resolution_note,
      summary: this.summarize(JSON.parse(row.intent_json) as Intent),
    };
  }

  private summarize(intent: Intent): Summary {
    try {
      return (this.opts.summarize ?? ((i: Intent) => plainSummarizer.summarize(i)))(intent);
    } catch {
      const line = `${intent.action} (no summary available; see the raw intent)`;
      return { lines: [line], text: line };
    }
  }

  private emitAfter(event: HoldEvent): void {
    this.emit("hold", event);
    if (event.type === "approved" || event.type === "denied" || event.type === "expired") this.emit("resolved", event);
  }

  private tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }
}

const plainSummarizer = new Summarizer(undefined);

function deniedReason(h: HoldView): Reason {
  return { block: "holds", rule: "denied", message: `hold denied by ${h.resolved_by}${h.resolution_note ? `: ${h.resolution_note}` : ""}` };
}

function expiredReason(h: HoldView): Reason {
  return { block: "holds", rule: "expired", message: `hold ${h.id} expired at ${h.expires_at} without the required approvals` };
}

function checkOperator(operator: string): void {
  if (!operator || typeof operator !== "string") throw new HoldError("invalid_operator", "an operator name is required");
}
