// Fleet mode's decision write: a batch of decisions (one event-loop turn of the pipeline) in ONE PostgreSQL
// transaction: idempotency claim, soft-limit check-and-reserve, hold creation under the per-agent cap, the intent
// record and this node's audit rows. Correct across processes:
// - every soft-limit stream the batch touches has a head row locked FOR UPDATE, in one sorted order (no deadlock
//   between batches), so two sidecars never both pass one cap; window totals use database time (now());
// - holds.max_open_per_agent is counted under a transaction-scoped advisory lock per agent, taken in sorted order;
// - idempotency keys: INSERT … ON CONFLICT DO NOTHING, one winner fleet-wide; the losers replay the winner's record.
// Like the SQLite group commit, a job that throws leaves no trace: the transaction is rolled back and run again
// without it (a job is a function of its arguments and the database). Deadlocks and serialization failures retry.
import { randomUUID } from "node:crypto";
import type { HoldSummary, Reason } from "../../../protocol/index.ts";
import type { MakeRecord, SharedDecisions, SharedJob, SharedOutcome } from "../../pipeline-hooks.ts";
import { exceeded, limitCharges, type LimitCharge } from "../../limits/ledger.ts";
import { UNITS } from "../../limits/schema.ts";
import type { SoftLimit } from "../../limits/types.ts";
import { appliesTo as rateApplies, exceeded as rateExceeded, streamKeyWith, type RateLimit } from "../../limits/rate.ts";
import type { Intent } from "../../../protocol/index.ts";
import { HoldCapReached } from "../../holds/cap.ts";
import { DEFAULT_MAX_OPEN_PER_AGENT } from "../../holds/cap.ts";
import { holdRules, holdTerms } from "../../holds/terms.ts";
import type { HoldsPolicy } from "../../holds/types.ts";
import type { PrincipalLookup } from "../../principals.ts";
import { redactForStorage } from "../redact.ts";
import type { IntentRecord } from "../intents.ts";
import { ChainMoved, type ChainEvent, type ChainTx, type NodeChain } from "./audit-chain.ts";
import { RETRYABLE, type FleetPool, type PgClient } from "./pool.ts";
import { HOLDS_CHANNEL } from "./holds.ts";

export interface PgDecisionsOptions {
  db: FleetPool;
  node: string;
  /** This node's audit chain (one per process, shared with holds and redemptions). */
  chain: NodeChain;
  /** The soft limits / holds block of a policy (the holds subsystem's readers of the compiled config). */
  limits(policy: SharedJob["policy"]): readonly SoftLimit[];
  holdsPolicy(policy: SharedJob["policy"]): HoldsPolicy;
  principals?: () => PrincipalLookup | undefined;
  /** The policy's rate limits (sidecar/limits/rate.ts): counted as streams of the fleet ledger, checked first. */
  rateLimits?(policy: SharedJob["policy"]): readonly RateLimit[];
  /** Names what the policy asks for that the fleet store does not enforce yet (rate limits, budgets): such a policy's
   * approvals and holds are DENIED with that reason instead of being approved unchecked. */
  unsupported?(policy: SharedJob["policy"]): string | undefined;
}

type JobOut = { out: SharedOutcome; error?: undefined } | { out?: undefined; error: unknown };

class JobFailed {
  constructor(
    readonly index: number,
    readonly cause: unknown,
  ) {}
}

/**
 * Locks the head rows of ledger streams (created on first use) in the order given, which callers sort, and returns
 * each one's running total and the window's base. One statement: ON CONFLICT DO UPDATE takes the row lock of an
 * existing head as FOR UPDATE would and returns its latest committed cum. The base (the cum of the last entry at or
 * before the window's start) comes from the statement's snapshot; entries that old were committed before any
 * transaction now running began, so the snapshot has them (an entry it missed would only make the total larger).
 * `windowMs` 0: no window wanted (pseudo-streams).
 */
export async function lockStreams(
  c: PgClient,
  ids: string[],
  scopes: string[],
  windowMs: number[],
): Promise<Map<string, { cum: number; base: number }>> {
  const r = await c.query<{ limit_id: string; scope_key: string; cum: number; base: number }>(
    `WITH s AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS s(limit_id, scope_key, win, ord)),
          h AS (INSERT INTO fleet_ledger_heads (limit_id, scope_key) SELECT limit_id, scope_key FROM s ORDER BY ord
                  ON CONFLICT (limit_id, scope_key) DO UPDATE SET limit_id = EXCLUDED.limit_id
                RETURNING limit_id, scope_key, cum)
     SELECT h.limit_id, h.scope_key, h.cum,
            CASE WHEN s.win = 0 THEN 0 ELSE coalesce((SELECT l.cum FROM fleet_ledger l
              WHERE l.limit_id = h.limit_id AND l.scope_key = h.scope_key AND l.ts <= now() - s.win * interval '1 millisecond'
              ORDER BY l.ts DESC, l.cum DESC LIMIT 1), 0) END AS base
       FROM h JOIN s ON s.limit_id = h.limit_id AND s.scope_key = h.scope_key`,
    [ids, scopes, windowMs],
  );
  return new Map(r.rows.map((row) => [streamKey(row.limit_id, row.scope_key), { cum: Number(row.cum), base: Number(row.base) }]));
}

/** Ledger entries and the heads' new running totals, as one statement's CTE parameters (see writeLedger). */
export interface LedgerWrites {
  rows: { limitId: string; scope: string; units: number; cum: number; intentId: string }[];
  heads: Map<string, { limitId: string; scope: string; cum: number }>;
}

export function newLedgerWrites(): LedgerWrites {
  return { rows: [], heads: new Map() };
}

/** Adds a reservation: its entry carries the stream's running total after it; the head follows. */
export function addEntry(w: LedgerWrites, cums: Map<string, { cum: number }>, limitId: string, scope: string, units: number, intentId: string): void {
  const k = streamKey(limitId, scope);
  const head = cums.get(k)!;
  head.cum += units;
  w.rows.push({ limitId, scope, units, cum: head.cum, intentId });
  w.heads.set(k, { limitId, scope, cum: head.cum });
}

/** The pseudo-stream whose head row serializes one agent's hold count (holds.max_open_per_agent) fleet-wide. */
export const HOLDS_STREAM = "\u0001holds";

/** The one lock order of stream heads: by limit id, then scope key. */
export function compareStreams(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** Rate-limit streams live in the fleet ledger beside soft limits, under ids no policy id can take. */
export const RATE_PREFIX = "\u0002rate:";

/** A rate limit's count stream as a ledger charge (one unit per approval; `max` approvals per window). */
type RateCharge = LimitCharge & { rate?: RateLimit };

export function rateCharges(intent: Intent, limits: readonly RateLimit[], principals: PrincipalLookup | undefined): RateCharge[] {
  const key = streamKeyWith(principals);
  return limits
    .filter((l) => rateApplies(l, intent))
    .map((l) => ({
      limit: { id: RATE_PREFIX + l.id, scope: l.scope, measure: "count" as const, windowMs: l.perMs, max: l.max },
      scopeKey: key(l, intent),
      units: UNITS,
      rate: l,
    }));
}

const streamKey = (limitId: string, scope: string) => `${limitId}\u0000${scope}`;

export class PgDecisions implements SharedDecisions {
  constructor(private readonly o: PgDecisionsOptions) {}

  async record(jobs: readonly SharedJob[], make: MakeRecord): Promise<JobOut[]> {
    const results: JobOut[] = new Array(jobs.length);
    // charges are pure (policy + principals): computed once, a bad measure fails only its job
    const charges: (LimitCharge[] | undefined)[] = jobs.map((j, i) => {
      if (j.effect !== "allow") return [];
      try {
        // rate limits first (they are checked first, reading only), as count streams of the same ledger
        return [...rateCharges(j.intent, this.o.rateLimits?.(j.policy) ?? [], this.o.principals?.()), ...limitCharges(j.intent, this.o.limits(j.policy), this.o.principals?.(), j.now.getTime())];
      } catch (error) {
        results[i] = { error };
        return undefined;
      }
    });
    let order = jobs.map((_, i) => i).filter((i) => !results[i]);
    for (let attempt = 0; order.length > 0; ) {
      try {
        const outs = await this.o.chain.tx(this.o.db, (c, chain) => this.pass(c, chain, jobs, order, charges, make));
        order.forEach((i, k) => (results[i] = { out: outs[k]! }));
        return results;
      } catch (e) {
        if (e instanceof JobFailed) {
          results[e.index] = { error: e.cause };
          order = order.filter((i) => i !== e.index);
          continue;
        }
        if (RETRYABLE.has((e as { code?: string }).code ?? "") && ++attempt < 5) continue;
        for (const i of order) results[i] = { error: e };
        return results;
      }
    }
    return results;
  }

  private async pass(
    c: PgClient,
    chainTx: ChainTx,
    jobs: readonly SharedJob[],
    order: number[],
    charges: (LimitCharge[] | undefined)[],
    make: MakeRecord,
  ): Promise<SharedOutcome[]> {
    // 1. locks, in one global order and one statement that also returns the window totals: soft-limit and rate-limit
    //    stream heads and per-agent hold counters (pseudo-streams HOLDS_STREAM/agent), sorted; open holds and database
    //    time are read later, only when the batch creates a hold
    const streams = new Map<string, { limitId: string; scope: string; windowMs: number }>();
    const holdAgents = new Set<string>();
    for (const i of order) {
      const j = jobs[i]!;
      for (const ch of charges[i] ?? []) {
        streams.set(streamKey(ch.limit.id, ch.scopeKey), { limitId: ch.limit.id, scope: ch.scopeKey, windowMs: ch.limit.windowMs });
      }
      // an approval may turn PENDING at a crossed cap: its agent's hold count is locked too
      if (j.effect === "hold" || (charges[i]?.length ?? 0) > 0) holdAgents.add(j.intent.agent);
    }
    // window totals (head cum − base), kept up to date as this batch reserves
    const totals = new Map<string, number>();
    let cums = new Map<string, { cum: number; base: number }>();
    if (streams.size > 0 || holdAgents.size > 0) {
      const locks = [
        ...[...streams.values()].map((st) => [st.limitId, st.scope, st.windowMs] as const),
        ...[...holdAgents].map((a) => [HOLDS_STREAM, a, 0] as const),
      ].sort((a, b) => compareStreams([a[0], a[1]], [b[0], b[1]]));
      cums = await lockStreams(c, locks.map((l) => l[0]), locks.map((l) => l[1]), locks.map((l) => l[2]));
      for (const [k, v] of cums) totals.set(k, v.cum - v.base);
    }
    // open holds per agent and database time: read only when this batch creates a hold (its agents are locked)
    let open: Map<string, number> | undefined;
    let nowMs = 0;
    const holdCounts = async (): Promise<Map<string, number>> => {
      if (open) return open;
      const r = await c.query<{ k: string; a: string | null; n: number }>(
        `SELECT 'h' AS k, agent AS a, count(*)::bigint AS n FROM fleet_holds
          WHERE agent = ANY($1::text[]) AND state = 'pending' AND expires_at > (extract(epoch FROM now()) * 1000)::bigint GROUP BY agent
         UNION ALL
         SELECT 'n', NULL, (extract(epoch FROM now()) * 1000)::bigint`,
        [[...holdAgents]],
      );
      open = new Map();
      for (const row of r.rows) {
        if (row.k === "h") open.set(row.a!, Number(row.n));
        else nowMs = Number(row.n);
      }
      return open;
    };
    const ledger = newLedgerWrites();

    // 2. the jobs, in order; their writes are collected and sent in one statement at the end
    const outs: SharedOutcome[] = [];
    const intents: IntentRecord[] = [];
    const holds: { rec: IntentRecord; job: SharedJob; hold: HoldSummary; reasons: Reason[]; createdAt: number; expiresAt: number }[] = [];
    const events: ChainEvent[] = [];
    for (const i of order) {
      const j = jobs[i]!;
      try {
        if (j.intent.idempotency_key !== undefined) {
          const claimed = await c.query(
            "INSERT INTO fleet_idempotency (agent, key, digest, intent_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
            [j.intent.agent, j.intent.idempotency_key, j.digest, j.id],
          );
          if (claimed.rowCount === 0) {
            const prior = (await c.query<{ digest: string; intent_id: string }>(
              "SELECT digest, intent_id FROM fleet_idempotency WHERE agent = $1 AND key = $2",
              [j.intent.agent, j.intent.idempotency_key],
            )).rows[0]!;
            if (prior.digest !== j.digest) {
              outs.push({ conflict: true });
              continue;
            }
            const same = intents.find((r) => r.id === prior.intent_id);
            const stored = same ? { rec: same, confirmed: false } : await this.readIntent(c, prior.intent_id);
            if (!stored) throw new Error(`idempotency key points at a missing intent ${prior.intent_id}`);
            // an approval not yet journaled by its node may still be revoked: never hand out its attestation here
            if (stored.rec.decision === "APPROVED" && !stored.confirmed) outs.push({ busy: true });
            else outs.push({ replay: stored.rec });
            continue;
          }
        }
        let decision: "APPROVED" | "DENIED" | "PENDING" = j.effect === "allow" ? "APPROVED" : j.effect === "hold" ? "PENDING" : "DENIED";
        let reasons = j.reasons;
        const missing = decision === "DENIED" ? undefined : this.o.unsupported?.(j.policy);
        if (missing) {
          decision = "DENIED";
          reasons = [{ block: "sidecar", rule: "fleet_unsupported", message: `${missing}: not enforced by the fleet store yet, so the intent is denied (fail closed)` }];
          charges[i] = [];
        }
        const mine = charges[i] ?? [];
        if (decision === "APPROVED" && mine.length > 0) {
          const over: Reason[] = [];
          const rated: { hold: Reason[]; deny: Reason[] } = { hold: [], deny: [] };
          for (const ch of mine) {
            const total = totals.get(streamKey(ch.limit.id, ch.scopeKey)) ?? 0;
            if (total + ch.units <= Math.round(ch.limit.max * UNITS)) continue;
            const rate = (ch as RateCharge).rate;
            if (rate) rated[rate.onExceed].push(rateExceeded(rate, ch.scopeKey, await this.pivot(c, ch), j.now.getTime()));
            else over.push(exceeded(ch, total));
          }
          if (rated.deny.length > 0) {
            decision = "DENIED";
            reasons = rated.deny; // a denial names what denied it, not what would have allowed it
          } else if (rated.hold.length > 0 || over.length > 0) {
            decision = "PENDING";
            reasons = [...reasons, ...rated.hold, ...over];
          } else {
            for (const ch of mine) {
              const k = streamKey(ch.limit.id, ch.scopeKey);
              totals.set(k, (totals.get(k) ?? 0) + ch.units);
              addEntry(ledger, cums, ch.limit.id, ch.scopeKey, ch.units, j.id);
            }
          }
        }
        let hold: HoldSummary | undefined;
        let terms: { approvalsRequired: number; ttlMs: number } | undefined;
        if (decision === "PENDING") {
          const policy = this.o.holdsPolicy(j.policy);
          const max = policy.maxOpenPerAgent ?? DEFAULT_MAX_OPEN_PER_AGENT;
          const counts = await holdCounts();
          const n = counts.get(j.intent.agent) ?? 0;
          if (n >= max) {
            const cap = new HoldCapReached(j.intent.agent, max);
            decision = "DENIED";
            reasons = [cap.reason, ...reasons];
          } else {
            counts.set(j.intent.agent, n + 1);
            terms = holdTerms(reasons, policy);
            hold = {
              id: `hold_${randomUUID()}`,
              expires_at: new Date(nowMs + terms.ttlMs).toISOString(),
              approvals_required: terms.approvalsRequired,
              approvals: 0,
            };
          }
        }
        const rec = make(j, decision, reasons, hold);
        intents.push(rec);
        if (hold && terms) holds.push({ rec, job: j, hold, reasons, createdAt: nowMs, expiresAt: nowMs + terms.ttlMs });
        events.push({
          type: "decision",
          at: j.now,
          data: {
            intent_id: j.id,
            agent: j.intent.agent,
            action: j.intent.action,
            digest: j.digest,
            decision,
            reasons,
            policy_digest: j.policy.digest,
            ...(hold ? { hold_id: hold.id } : {}),
          },
        });
        if (hold) {
          events.push({
            type: "hold.created",
            at: j.now,
            data: { hold_id: hold.id, intent_id: j.id, agent: j.intent.agent, approvals_required: hold.approvals_required },
          });
        }
        outs.push({ rec });
      } catch (error) {
        throw new JobFailed(i, error);
      }
    }

    // 3. the writes: one statement (data-modifying CTEs), after the chain head is locked and the rows hashed
    const chain = await chainTx.reserve(events);
    const holdRows = holds.map((h) => [
      h.hold.id,
      h.rec.id,
      h.job.intent.agent,
      h.job.intent.action,
      JSON.stringify(redactForStorage(h.job.intent, h.job.digest)),
      h.job.digest,
      JSON.stringify(h.reasons),
      JSON.stringify(holdRules(h.reasons)),
      h.job.policy.digest,
    ]);
    const col = <T>(rows: T[][], k: number) => rows.map((r) => r[k]);
    const written = await c.query(
      `WITH i AS (INSERT INTO fleet_intents (id, node_id, agent, action, decision, record)
                    SELECT s.id, $1, s.agent, s.action, s.decision, s.record
                      FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS s(id, agent, action, decision, record)),
            l AS (INSERT INTO fleet_ledger (limit_id, scope_key, ts, amount, cum, intent_id)
                    SELECT s.l, s.k, clock_timestamp(), s.a, s.c, s.i FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[], $33::bigint[])
                      AS s(l, k, a, i, c)),
            lh AS (UPDATE fleet_ledger_heads h SET cum = s.c FROM unnest($34::text[], $35::text[], $36::bigint[]) AS s(l, k, c)
                    WHERE h.limit_id = s.l AND h.scope_key = s.k),
            h AS (INSERT INTO fleet_holds (id, intent_id, origin, agent, action, intent, digest, reasons, rules, policy_digest,
                    state, approvals_required, created_at, expires_at)
                    SELECT s.id, s.intent_id, $1, s.agent, s.action, s.intent, s.digest, s.reasons, s.rules, s.policy_digest,
                           'pending', s.req, s.created_at, s.expires_at
                      FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
                                  $18::text[], $19::text[], $20::int[], $21::bigint[], $22::bigint[])
                        AS s(id, intent_id, agent, action, intent, digest, reasons, rules, policy_digest, req, created_at, expires_at)),
            a AS (INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash)
                    SELECT $1, * FROM unnest($23::bigint[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[]))
       UPDATE fleet_audit_heads SET seq = $29, hash = $30 WHERE node_id = $1 AND seq = $31 AND hash = $32`,
      [
        this.o.node,
        intents.map((r) => r.id),
        intents.map((r) => r.agent),
        intents.map((r) => r.action),
        intents.map((r) => r.decision),
        intents.map((r) => JSON.stringify(r)),
        ledger.rows.map((l) => l.limitId),
        ledger.rows.map((l) => l.scope),
        ledger.rows.map((l) => l.units),
        ledger.rows.map((l) => l.intentId),
        ...[0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => col(holdRows, k)),
        holds.map((h) => h.hold.approvals_required),
        holds.map((h) => h.createdAt),
        holds.map((h) => h.expiresAt),
        ...chain.columns,
        chain.to.seq,
        chain.to.hash,
        chain.from.seq,
        chain.from.hash,
        ledger.rows.map((l) => l.cum),
        [...ledger.heads.values()].map((h) => h.limitId),
        [...ledger.heads.values()].map((h) => h.scope),
        [...ledger.heads.values()].map((h) => h.cum),
      ],
    );
    if (written.rowCount !== 1) throw new ChainMoved(this.o.node);
    return outs;
  }

  /** A full rate-limit stream's retry pivot: the approval whose leaving the window frees a slot (database time). */
  private async pivot(c: PgClient, ch: LimitCharge): Promise<number | undefined> {
    const r = await c.query<{ ms: number }>(
      `SELECT (extract(epoch FROM ts) * 1000)::bigint AS ms FROM fleet_ledger
        WHERE limit_id = $1 AND scope_key = $2 AND ts > now() - $3 * interval '1 millisecond'
        ORDER BY ts DESC OFFSET $4 LIMIT 1`,
      [ch.limit.id, ch.scopeKey, ch.limit.windowMs, Math.max(0, ch.limit.max - 1)],
    );
    return r.rows[0] ? Number(r.rows[0].ms) : undefined;
  }

  async revoke(intentId: string): Promise<void> {
    try {
      await this.revokeOnce(intentId);
    } catch (e) {
      this.retryRevoke(intentId, 250);
      throw e;
    }
  }

  /** A revocation that could not be written (the database went away with the journal write) is retried until it is:
   * left undone, the store keeps an APPROVED record, with claims, of an intent its agent was told is DENIED, and an
   * idempotent replay on any node would hand it out. In memory: a crash meanwhile leaves the approval standing. */
  private retryRevoke(intentId: string, delayMs: number): void {
    setTimeout(() => {
      this.revokeOnce(intentId).catch(() => this.retryRevoke(intentId, Math.min(delayMs * 2, 5000)));
    }, delayMs).unref();
  }

  private async revokeOnce(intentId: string): Promise<void> {
    await this.o.chain.tx(this.o.db, async (c, chain) => {
      const r = await c.query<{ record: string }>("SELECT record FROM fleet_intents WHERE id = $1 FOR UPDATE", [intentId]);
      if (!r.rows[0]) return;
      const rec = JSON.parse(r.rows[0].record) as IntentRecord;
      if (rec.decision === "DENIED" && !rec.claims) return; // revoked already (a retry whose first COMMIT did land)
      delete rec.claims;
      delete rec.kid;
      rec.decision = "DENIED";
      rec.reasons = [{ block: "sidecar", rule: "internal_error", message: "internal error while deciding; denied (fail closed)" }];
      await c.query("UPDATE fleet_intents SET decision = 'DENIED', record = $2, updated_at = now() WHERE id = $1", [intentId, JSON.stringify(rec)]);
      // a PENDING decision's hold is closed with it: left pending, operators on any node could approve an intent its
      // origin never journaled (marked applied: the origin has no record to carry it to)
      const closed = await c.query<{ id: string; agent: string }>(
        `UPDATE fleet_holds SET state = 'denied', resolved_at = (extract(epoch FROM now()) * 1000)::bigint, resolved_by = 'sidecar',
                resolution_note = 'internal error while deciding; denied (fail closed)', applied_at = (extract(epoch FROM now()) * 1000)::bigint
          WHERE intent_id = $1 AND state = 'pending' RETURNING id, agent`,
        [intentId],
      );
      const at = new Date();
      await chain.append([
        { type: "decision.revoked", at, data: { intent_id: intentId } },
        ...closed.rows.map((h) => ({ type: "hold.denied", at, data: { hold_id: h.id, intent_id: intentId, agent: h.agent, operator: "sidecar" } })),
      ]);
      for (const h of closed.rows)
        await c.query("SELECT pg_notify($1, $2)", [HOLDS_CHANNEL, JSON.stringify({ t: "denied", id: h.id, origin: this.o.node })]);
    });
  }

  private async readIntent(c: PgClient, id: string): Promise<{ rec: IntentRecord; confirmed: boolean } | undefined> {
    const r = await c.query<{ record: string; confirmed: boolean }>("SELECT record, confirmed FROM fleet_intents WHERE id = $1", [id]);
    return r.rows[0] ? { rec: JSON.parse(r.rows[0].record) as IntentRecord, confirmed: r.rows[0].confirmed } : undefined;
  }

  confirm(intentIds: readonly string[], delayMs = 250): void {
    if (intentIds.length === 0) return;
    this.o.db
      .query("UPDATE fleet_intents SET confirmed = true WHERE id = ANY($1::text[])", [intentIds])
      .catch(() => {
        // the store is away: keep trying (meanwhile other nodes answer replays of these keys with "retry")
        if (delayMs > 60_000) return;
        setTimeout(() => this.confirm(intentIds, delayMs * 2), delayMs).unref();
      });
  }
}
