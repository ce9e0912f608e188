// Holds in fleet mode: one place (fleet_holds) for every sidecar's holds. Any sidecar's operator API lists, approves
// (quorum of DISTINCT operators, whichever sidecars they use) and denies them; one sidecar's sweeper expires each (the
// UPDATE's row lock picks the winner). Every transition NOTIFYs `intent_sidecar_holds`; the hold's ORIGIN (the node
// that decided the intent) carries a resolution to its intent record (sign: its key, wake: its long polls) and marks
// it applied. A node that missed notifications (restart, lost connection) catches up from `applied_at IS NULL`.
import { EventEmitter } from "node:events";
import pg from "pg";
import type { ApprovalClaim, HoldSummary, Intent, Reason } from "../../../protocol/index.ts";
import { HoldError, type HoldEvent, type HoldState, type HoldView, type HoldsApi } from "../../holds/types.ts";
import type { Summary } from "../../policy/summary.ts";
import { limitCharges } from "../../limits/ledger.ts";
import type { SoftLimit } from "../../limits/types.ts";
import type { PrincipalLookup } from "../../principals.ts";
import type { ChainEvent, NodeChain } from "./audit-chain.ts";
import { addEntry, compareStreams, lockStreams, newLedgerWrites, rateCharges } from "./decisions.ts";
import type { RateLimit } from "../../limits/rate.ts";
import { errorMessage, type FleetPool, type PgClient } from "./pool.ts";
import { StoreUnavailable } from "../unavailable.ts";

export const HOLDS_CHANNEL = "intent_sidecar_holds";
/** A node published a new public key: every node re-reads the fleet's key set (sidecar/store/pg/keys.ts). */
export const KEYS_CHANNEL = "intent_sidecar_keys";

interface Row {
  id: string;
  intent_id: string;
  origin: string;
  agent: string;
  action: string;
  intent: string;
  digest: string;
  reasons: string;
  rules: string;
  policy_digest: string;
  state: HoldState;
  approvals_required: number;
  created_at: number;
  expires_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
  resolution_note: string | null;
  applied_at: number | null;
}
interface ApprovalRow {
  hold_id: string;
  operator: string;
  comment: string | null;
  at: number;
}

/** What the origin does with a transition of one of its holds (the pipeline's approveHeld / closeHeld). Returns the
 * intent record as it now stands (written back to fleet_intents), or undefined when the intent is unknown here. */
export type ApplyResolution = (t: {
  type: "approval" | "approved" | "denied" | "expired";
  hold: HoldView;
  summary: HoldSummary;
  approval?: ApprovalClaim;
  reason?: Reason;
  at: Date;
}) => object | undefined;

export interface FleetHoldsOptions {
  db: FleetPool;
  /** The database URL, for the LISTEN connection (a dedicated client outside the pool). */
  url: string;
  node: string;
  chain: NodeChain;
  /** The soft limits in force: an approved hold's amounts are reserved when the quorum is reached. */
  limits(): readonly SoftLimit[];
  /** The rate limits in force: an approved hold counts as an approval. */
  rateLimits?(): readonly RateLimit[];
  principals?: () => PrincipalLookup | undefined;
  summarize(intent: Intent): Summary;
  apply: ApplyResolution;
  log?: { warn(o: object, m?: string): void; error(o: object, m?: string): void };
  sweepMs?: number;
  /** Another node published a key (or the listener reconnected and may have missed it). */
  onKeys?: () => void;
}

type Notice = { t: HoldEvent["type"]; id: string; origin: string };

export class FleetHolds extends EventEmitter implements HoldsApi {
  private listener: pg.Client | undefined;
  private closed = false;
  private timers: NodeJS.Timeout[] = [];
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly o: FleetHoldsOptions) {
    super();
    this.setMaxListeners(0);
  }

  // --- operator API ------------------------------------------------------------------------------------------------

  async list(filter: { state?: HoldState; agent?: string; rule?: string; limit?: number } = {}): Promise<HoldView[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (clause: (n: number) => string, v: unknown) => {
      args.push(v);
      where.push(clause(args.length));
    };
    // a pending hold past its expiry is reported as expired (the sweeper records it within a second)
    if (filter.state === "pending") where.push("(state = 'pending' AND expires_at > (extract(epoch FROM now()) * 1000)::bigint)");
    else if (filter.state === "expired") where.push("(state = 'expired' OR (state = 'pending' AND expires_at <= (extract(epoch FROM now()) * 1000)::bigint))");
    else if (filter.state) add((n) => `state = $${n}`, filter.state);
    if (filter.agent) add((n) => `agent = $${n}`, filter.agent);
    if (filter.rule) add((n) => `rules::jsonb ? $${n}`, filter.rule);
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000);
    const rows = await this.read<Row>(
      `SELECT * FROM fleet_holds ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, id LIMIT ${limit}`,
      args,
    );
    return this.views(rows);
  }

  async get(id: string): Promise<HoldView | undefined> {
    const rows = await this.read<Row>("SELECT * FROM fleet_holds WHERE id = $1", [id]);
    return rows[0] ? (await this.views(rows))[0] : undefined;
  }

  async approve(id: string, operator: string, comment?: string): Promise<HoldView> {
    checkOperator(operator);
    const { view, type } = await this.transition(id, async (c, row, nowMs, events) => {
      const added = await c.query(
        "INSERT INTO fleet_hold_approvals (hold_id, operator, comment, at, node_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
        [id, operator, comment ?? null, nowMs, this.o.node],
      );
      if (added.rowCount === 0)
        throw new HoldError("already_approved", `operator ${operator} already approved hold ${id}; quorum needs distinct operators`);
      const n = Number((await c.query<{ n: number }>("SELECT count(*)::int AS n FROM fleet_hold_approvals WHERE hold_id = $1", [id])).rows[0]!.n);
      const base = { hold_id: id, intent_id: row.intent_id, agent: row.agent };
      events.push({ type: "hold.approval", data: { ...base, operator, approvals: n, approvals_required: row.approvals_required, ...(comment ? { note: comment } : {}) } });
      if (n < row.approvals_required) return "approval";
      await c.query(
        "UPDATE fleet_holds SET state = 'approved', resolved_at = $2, resolved_by = $3, resolution_note = $4 WHERE id = $1",
        [id, nowMs, operator, comment ?? null],
      );
      await this.reserve(c, row, nowMs);
      events.push({ type: "hold.approved", data: { ...base, operator, approvals: n, approvals_required: row.approvals_required } });
      return "approved";
    });
    void type;
    return view;
  }

  async deny(id: string, operator: string, reason?: string): Promise<HoldView> {
    checkOperator(operator);
    const { view } = await this.transition(id, async (c, row, nowMs, events) => {
      await c.query(
        "UPDATE fleet_holds SET state = 'denied', resolved_at = $2, resolved_by = $3, resolution_note = $4 WHERE id = $1",
        [id, nowMs, operator, reason ?? null],
      );
      events.push({ type: "hold.denied", data: { hold_id: id, intent_id: row.intent_id, agent: row.agent, operator, ...(reason ? { note: reason } : {}) } });
      return "denied";
    });
    return view;
  }

  /** Expires every pending hold whose time is up (database time). Returns how many this node expired. */
  async expireDue(): Promise<number> {
    return this.o.chain.tx(this.o.db, async (c, chain) => {
      const r = await c.query<Row>(
        `UPDATE fleet_holds SET state = 'expired', resolved_at = (extract(epoch FROM now()) * 1000)::bigint
           WHERE id IN (SELECT id FROM fleet_holds WHERE state = 'pending' AND expires_at <= (extract(epoch FROM now()) * 1000)::bigint
                        ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
      );
      if (r.rows.length === 0) return 0;
      const now = new Date();
      await chain.append(
        r.rows.map((row) => ({ type: "hold.expired", at: now, data: { hold_id: row.id, intent_id: row.intent_id, agent: row.agent } })),
      );
      for (const row of r.rows) await this.notify(c, { t: "expired", id: row.id, origin: row.origin });
      return r.rows.length;
    });
  }

  // --- lifecycle ---------------------------------------------------------------------------------------------------

  /** LISTENs for transitions (reconnecting while the database is away), sweeps expiries and catches up. */
  start(): void {
    void this.listen();
    const sweep = setInterval(() => {
      this.expireDue().catch((e) => this.o.log?.warn({ err: errorMessage(e) }, "fleet hold sweeper failed"));
      this.catchUp();
    }, this.o.sweepMs ?? 1000);
    sweep.unref();
    this.timers.push(sweep);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.applying.catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
  }

  /** Carries every resolved, not yet applied hold of this node to its intent record (serialized). */
  catchUp(): Promise<void> {
    this.applying = this.applying.then(() => this.applyPending()).catch((e) => {
      this.o.log?.warn({ err: errorMessage(e) }, "could not apply fleet hold resolutions; retrying");
    });
    return this.applying;
  }

  // --- internals ---------------------------------------------------------------------------------------------------

  private async listen(): Promise<void> {
    let delay = 250;
    while (!this.closed) {
      const client = new pg.Client({ connectionString: this.o.url, connectionTimeoutMillis: 2000 });
      client.on("error", () => undefined); // also while connecting
      try {
        await client.connect();
        // a dropped connection emits "error" (maybe more than once) and "end": both end this round, never the process
        const ended = new Promise<void>((resolve) => {
          client.on("end", resolve);
          client.on("error", () => resolve());
        });
        client.on("notification", (m) => {
          if (m.channel === KEYS_CHANNEL) return this.o.onKeys?.();
          if (m.channel !== HOLDS_CHANNEL || !m.payload) return;
          try {
            void this.onNotice(JSON.parse(m.payload) as Notice);
          } catch {
            /* not ours */
          }
        });
        await client.query(`LISTEN ${HOLDS_CHANNEL}`);
        await client.query(`LISTEN ${KEYS_CHANNEL}`);
        this.listener = client;
        delay = 250;
        void this.catchUp(); // what happened while we were not listening
        this.o.onKeys?.();
        await ended;
      } catch {
        // the database is away: retry with backoff (decisions fail closed meanwhile)
      } finally {
        this.listener = undefined;
        await client.end().catch(() => undefined);
      }
      if (this.closed) break;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(delay * 2, 5000);
    }
  }

  private async onNotice(n: Notice): Promise<void> {
    if (n.origin === this.o.node) {
      if (n.t === "approval") void this.applyApproval(n.id);
      else void this.catchUp();
    }
    if (this.listenerCount("hold") > 0) {
      const hold = await this.get(n.id).catch(() => undefined);
      if (hold) this.emitEvent({ type: n.t, hold });
    }
  }

  private emitEvent(e: HoldEvent): void {
    this.emit("hold", e);
    if (e.type === "approved" || e.type === "denied" || e.type === "expired") this.emit("resolved", e);
  }

  private async applyPending(): Promise<void> {
    const rows = await this.o.db.query<Row>(
      "SELECT * FROM fleet_holds WHERE origin = $1 AND applied_at IS NULL AND state <> 'pending' ORDER BY resolved_at LIMIT 200",
      [this.o.node],
    );
    if (rows.rows.length === 0) return;
    for (const view of await this.views(rows.rows)) {
      const rec = this.applyOne({ type: view.state as "approved" | "denied" | "expired", view });
      await this.o.db.tx(async (c) => {
        if (rec) {
          const r = rec as { id: string; decision: string };
          await c.query("UPDATE fleet_intents SET decision = $2, record = $3, updated_at = now() WHERE id = $1", [r.id, r.decision, JSON.stringify(rec)]);
        }
        await c.query("UPDATE fleet_holds SET applied_at = (extract(epoch FROM now()) * 1000)::bigint WHERE id = $1", [view.id]);
      });
    }
  }

  /** Carries one more approval (the count) to the origin's record, in turn with the resolutions (this.applying) and
   * only while the hold is still pending: a notice handled late (after the quorum's resolution was applied) must not
   * write PENDING over the APPROVED record. */
  private applyApproval(id: string): Promise<void> {
    this.applying = this.applying
      .then(async () => {
        const view = await this.get(id);
        if (view?.state === "pending") this.applyOne({ type: "approval", view });
      })
      .catch((e) => this.o.log?.warn({ err: errorMessage(e) }, "could not apply a fleet hold approval"));
    return this.applying;
  }

  private applyOne(t: { type: "approval" | "approved" | "denied" | "expired"; view: HoldView }): object | undefined {
    const v = t.view;
    const summary: HoldSummary = { id: v.id, expires_at: v.expires_at, approvals_required: v.approvals_required, approvals: v.approvals.length };
    const at = new Date(v.resolved_at ?? Date.now());
    return this.o.apply({
      type: t.type,
      hold: v,
      summary,
      at,
      ...(t.type === "approved"
        ? { approval: { hold_id: v.id, approvers: v.approvals.map((a) => a.operator), approved_at: v.resolved_at! } }
        : {}),
      ...(t.type === "denied"
        ? { reason: { block: "holds", rule: "denied", message: `hold denied by ${v.resolved_by}${v.resolution_note ? `: ${v.resolution_note}` : ""}` } }
        : {}),
      ...(t.type === "expired"
        ? { reason: { block: "holds", rule: "expired", message: `hold ${v.id} expired at ${v.expires_at} without the required approvals` } }
        : {}),
    });
  }

  /** One operator transition on a pending hold: row locked, checked, changed, audited, announced; then applied here
   * when this node is the origin. */
  private async transition(
    id: string,
    fn: (c: PgClient, row: Row, nowMs: number, events: Omit<ChainEvent, "at">[]) => Promise<HoldEvent["type"]>,
  ): Promise<{ view: HoldView; type: HoldEvent["type"] }> {
    let origin = "";
    let type: HoldEvent["type"] = "approval";
    await this.guard(() =>
      this.o.chain.tx(this.o.db, async (c, chain) => {
        const r = await c.query<Row & { now_ms: number }>(
          "SELECT h.*, (extract(epoch FROM now()) * 1000)::bigint AS now_ms FROM fleet_holds h WHERE id = $1 FOR UPDATE",
          [id],
        );
        const row = r.rows[0];
        if (!row) throw new HoldError("not_found", `no hold with id ${id}`);
        const nowMs = Number(row.now_ms);
        if (row.state === "pending" && row.expires_at <= nowMs)
          throw new HoldError("not_pending", `hold ${id} expired at ${new Date(row.expires_at).toISOString()}`);
        if (row.state !== "pending") throw new HoldError("not_pending", `hold ${id} is already ${row.state}`);
        const events: Omit<ChainEvent, "at">[] = [];
        type = await fn(c, row, nowMs, events);
        const at = new Date(nowMs);
        await chain.append(events.map((e) => ({ ...e, at })));
        origin = row.origin;
        await this.notify(c, { t: type, id, origin });
      }),
    );
    const view = (await this.get(id))!;
    if (origin === this.o.node) {
      if (type === "approval") await this.applyApproval(id);
      else await this.catchUp();
    }
    return { view, type };
  }

  /** Reserves an approved hold's soft-limit amounts (operators approved it: no check), heads locked in order. */
  private async reserve(c: PgClient, row: Row, nowMs: number): Promise<void> {
    const intent = JSON.parse(row.intent) as Intent;
    const charges = [
      ...rateCharges(intent, this.o.rateLimits?.() ?? [], this.o.principals?.()),
      ...limitCharges(intent, this.o.limits(), this.o.principals?.(), nowMs),
    ];
    if (charges.length === 0) return;
    charges.sort((a, b) => compareStreams([a.limit.id, a.scopeKey], [b.limit.id, b.scopeKey]));
    const ids = charges.map((ch) => ch.limit.id);
    const scopes = charges.map((ch) => ch.scopeKey);
    const cums = await lockStreams(c, ids, scopes, charges.map(() => 0));
    const w = newLedgerWrites();
    for (const ch of charges) addEntry(w, cums, ch.limit.id, ch.scopeKey, ch.units, row.intent_id);
    await c.query(
      `WITH l AS (INSERT INTO fleet_ledger (limit_id, scope_key, ts, amount, cum, intent_id)
                    SELECT s.l, s.k, clock_timestamp(), s.a, s.c, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS s(l, k, a, c))
       UPDATE fleet_ledger_heads h SET cum = s.c FROM unnest($6::text[], $7::text[], $8::bigint[]) AS s(l, k, c)
        WHERE h.limit_id = s.l AND h.scope_key = s.k`,
      [
        w.rows.map((r) => r.limitId),
        w.rows.map((r) => r.scope),
        w.rows.map((r) => r.units),
        w.rows.map((r) => r.cum),
        row.intent_id,
        [...w.heads.values()].map((h) => h.limitId),
        [...w.heads.values()].map((h) => h.scope),
        [...w.heads.values()].map((h) => h.cum),
      ],
    );
  }

  private async notify(c: PgClient, n: Notice): Promise<void> {
    await c.query("SELECT pg_notify($1, $2)", [HOLDS_CHANNEL, JSON.stringify(n)]);
  }

  private async read<R extends pg.QueryResultRow>(sql: string, args: unknown[]): Promise<R[]> {
    return this.guard(async () => (await this.o.db.query<R>(sql, args)).rows);
  }

  /** Database failures become StoreUnavailable (the operator API answers 503); hold errors pass through. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof HoldError) throw e;
      throw new StoreUnavailable(errorMessage(e));
    }
  }

  private async views(rows: Row[]): Promise<HoldView[]> {
    if (rows.length === 0) return [];
    const approvals = await this.read<ApprovalRow>(
      "SELECT hold_id, operator, comment, at FROM fleet_hold_approvals WHERE hold_id = ANY($1::text[]) ORDER BY at, operator",
      [rows.map((r) => r.id)],
    );
    const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
    const now = Date.now();
    return rows.map((r) => {
      const intent = JSON.parse(r.intent) as Intent;
      const expired = r.state === "pending" && r.expires_at <= now;
      return {
        id: r.id,
        intent_id: r.intent_id,
        state: expired ? "expired" : r.state,
        agent: r.agent,
        action: r.action,
        intent,
        reasons: JSON.parse(r.reasons) as Reason[],
        rules: JSON.parse(r.rules) as string[],
        policy_digest: r.policy_digest,
        approvals_required: r.approvals_required,
        approvals: approvals
          .filter((a) => a.hold_id === r.id)
          .map((a) => ({ operator: a.operator, comment: a.comment, at: iso(a.at)! })),
        created_at: iso(r.created_at)!,
        expires_at: iso(r.expires_at)!,
        resolved_at: iso(r.resolved_at),
        resolved_by: r.resolved_by,
        resolution_note: r.resolution_note,
        summary: this.summarize(intent),
      };
    });
  }

  private summarize(intent: Intent): Summary {
    try {
      return this.o.summarize(intent);
    } catch {
      const line = `${intent.action} (no summary available; see the raw intent)`;
      return { lines: [line], text: line };
    }
  }
}

function checkOperator(operator: string): void {
  if (!operator || typeof operator !== "string") throw new HoldError("invalid_operator", "an operator name is required");
}
