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

/** Locks the head rows of soft-limit streams (created on first use) in the order given, which callers sort: one
 * statement, since ON CONFLICT DO UPDATE takes the row lock of an existing row as FOR UPDATE would. */
export async function lockStreams(c: PgClient, ids: string[], scopes: string[]): Promise<void> {
  await c.query(
    `INSERT INTO fleet_ledger_heads (limit_id, scope_key) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (limit_id, scope_key) DO UPDATE SET limit_id = EXCLUDED.limit_id`,
    [ids, scopes],
  );
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
    // 1. locks, in one global order and one statement: soft-limit stream heads and per-agent hold counters
    //    (pseudo-streams HOLDS_STREAM/agent), sorted; then one read of window totals, open holds and database time
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
    const totals = new Map<string, number>();
    const open = new Map<string, number>();
    let nowMs = 0;
    if (streams.size > 0 || holdAgents.size > 0) {
      const locks = [
        ...[...streams.values()].map((st) => [st.limitId, st.scope] as const),
        ...[...holdAgents].map((a) => [HOLDS_STREAM, a] as const),
      ].sort(compareStreams);
      await lockStreams(c, locks.map((l) => l[0]), locks.map((l) => l[1]));
      const list = [...streams.values()];
      const r = await c.query<{ k: string; a: string | null; b: string | null; n: number }>(
        `SELECT 'l' AS k, s.limit_id AS a, s.scope_key AS b, coalesce((SELECT sum(l.amount) FROM fleet_ledger l
            WHERE l.limit_id = s.limit_id AND l.scope_key = s.scope_key AND l.ts > now() - s.win * interval '1 millisecond'), 0)::bigint AS n
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS s(limit_id, scope_key, win)
         UNION ALL
         SELECT 'h', agent, NULL, count(*)::bigint FROM fleet_holds
          WHERE agent = ANY($4::text[]) AND state = 'pending' AND expires_at > (extract(epoch FROM now()) * 1000)::bigint GROUP BY agent
         UNION ALL
         SELECT 'n', NULL, NULL, (extract(epoch FROM now()) * 1000)::bigint`,
        [list.map((st) => st.limitId), list.map((st) => st.scope), list.map((st) => st.windowMs), [...holdAgents]],
      );
      for (const row of r.rows) {
        if (row.k === "l") totals.set(streamKey(row.a!, row.b!), Number(row.n));
        else if (row.k === "h") open.set(row.a!, Number(row.n));
        else nowMs = Number(row.n);
      }
    }

    // 2. the jobs, in order; writes collected and sent in a few multi-row statements at the end
    const outs: SharedOutcome[] = [];
    const intents: IntentRecord[] = [];
    const ledger: { limitId: string; scope: string; units: number; intentId: string }[] = [];
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
            const stored = same ?? (await this.readIntent(c, prior.intent_id));
            if (!stored) throw new Error(`idempotency key points at a missing intent ${prior.intent_id}`);
            outs.push({ replay: stored });
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
            if (rate) rated[rate.onExceed].push(rateExceeded(rate, ch.scopeKey, await this.pivot(c, ch), nowMs));
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
              ledger.push({ limitId: ch.limit.id, scope: ch.scopeKey, units: ch.units, intentId: j.id });
            }
          }
        }
        let hold: HoldSummary | undefined;
        let terms: { approvalsRequired: number; ttlMs: number } | undefined;
        if (decision === "PENDING") {
          const policy = this.o.holdsPolicy(j.policy);
          const max = policy.maxOpenPerAgent ?? DEFAULT_MAX_OPEN_PER_AGENT;
          const n = open.get(j.intent.agent) ?? 0;
          if (n >= max) {
            const cap = new HoldCapReached(j.intent.agent, max);
            decision = "DENIED";
            reasons = [cap.reason, ...reasons];
          } else {
            open.set(j.intent.agent, n + 1);
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
            l AS (INSERT INTO fleet_ledger (limit_id, scope_key, ts, amount, intent_id)
                    SELECT s.l, s.k, now(), s.a, s.i FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[]) AS s(l, k, a, i)),
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
        ledger.map((l) => l.limitId),
        ledger.map((l) => l.scope),
        ledger.map((l) => l.units),
        ledger.map((l) => l.intentId),
        ...[0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => col(holdRows, k)),
        holds.map((h) => h.hold.approvals_required),
        holds.map((h) => h.createdAt),
        holds.map((h) => h.expiresAt),
        ...chain.columns,
        chain.to.seq,
        chain.to.hash,
        chain.from.seq,
        chain.from.hash,
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
    await this.o.chain.tx(this.o.db, async (c, chain) => {
      const r = await c.query<{ record: string }>("SELECT record FROM fleet_intents WHERE id = $1 FOR UPDATE", [intentId]);
      if (!r.rows[0]) return;
      const rec = JSON.parse(r.rows[0].record) as IntentRecord;
      delete rec.claims;
      delete rec.kid;
      rec.decision = "DENIED";
      rec.reasons = [{ block: "sidecar", rule: "internal_error", message: "internal error while deciding; denied (fail closed)" }];
      await c.query("UPDATE fleet_intents SET decision = 'DENIED', record = $2, updated_at = now() WHERE id = $1", [intentId, JSON.stringify(rec)]);
      await chain.append([{ type: "decision.revoked", at: new Date(), data: { intent_id: intentId } }]);
    });
  }

  private async readIntent(c: PgClient, id: string): Promise<IntentRecord | undefined> {
    const r = await c.query<{ record: string }>("SELECT record FROM fleet_intents WHERE id = $1", [id]);
    return r.rows[0] ? (JSON.parse(r.rows[0].record) as IntentRecord) : undefined;
  }
}
