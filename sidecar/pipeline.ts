// The decision pipeline (SPEC section 3): parse → idempotency → policy blocks → combine (deny > hold > allow,
// default deny) → soft limits + record (claims included) in ONE SQLite transaction → sign (signer thread) → response.
// Fail closed: any throw after parsing yields DENIED (block "sidecar"), never APPROVED; no policy loaded → 503.
import {
  intentDigest,
  parseIntent,
  type ApprovalClaim,
  type DecisionResponse,
  type ErrorBody,
  type Intent,
  type Reason,
} from "../protocol/index.ts";
import type { BlockVerdict, Effect, EvalEnv } from "./policy/verdict.ts";
import { buildClaims, inlineSigner, signClaims, type KeyRing, type Signer, type SigningKey } from "./attest/index.ts";
import {
  appendAuditData,
  GroupCommit,
  isoTime,
  newIntentId,
  IntentStore,
  redactForStorage,
  storedIntentClaim,
  type Db,
  type IntentRecord,
} from "./store/index.ts";
import { HoldCapReached } from "./holds/cap.ts";
import {
  errorText,
  policyFailures,
  scrubIntentValues,
  type InternalErrorSink,
  type InternalStage,
} from "./internal-errors.ts";
import {
  defaultHoldService,
  noLimits,
  type HoldService,
  type LimitLedger,
  type MakeRecord,
  type PolicyRef,
  type SharedDecisions,
  type SharedJob,
} from "./pipeline-hooks.ts";
import { principalConflict, type PrincipalLookup } from "./principals.ts";
import { getProcessLogger, type DecisionLogLine } from "./log.ts";
import { bindRewrite, boundDigestOf, executableRedaction, type Bound } from "./policy/pii/bind.ts";

/** The policy side as the pipeline sees it; the daemon adapts the policy engineer's PolicyManager to this. */
export interface PolicyProvider<P extends PolicyRef = PolicyRef> {
  current(): P | undefined;
  evaluate(policy: P, intent: Intent, env: EvalEnv): Promise<BlockVerdict[]>;
  combine(verdicts: BlockVerdict[]): { effect: Effect; reasons: Reason[] };
}

export interface PipelineOptions {
  issuer: string;
  ttlSeconds: number;
  audienceFor?: (action: string) => string;
}

/** Per-stage time accounting for the benchmark (ms, summed over calls). Off unless a Stages object is passed. */
export interface Stages {
  schema: number;
  policy: number;
  record_sign: number;
  count: number;
  /** Group commits (transactions) that recorded those decisions. */
  commits?: number;
}

export interface PipelineObserver {
  decided?(decision: string, seconds: number, replay: boolean): void;
}

export interface PipelineDeps {
  db: Db;
  store: IntentStore;
  keys: KeyRing;
  policies: PolicyProvider<any>;
  options: PipelineOptions;
  holds?: HoldService;
  limits?: LimitLedger;
  now?: () => Date;
  observer?: PipelineObserver;
  stages?: Stages;
  /** Signs fresh approvals (a worker thread in the daemon); default: on the calling thread. */
  signer?: Signer;
  /** Called inside the decision's transaction after the intent is recorded (e.g. to queue a DENIED webhook). Like
   * the `limits` hook it must only write to the database: the group commit may run a decision twice when another
   * decision of the same transaction fails (the holds hook is exempt: the pipeline pins before creating a hold). */
  onRecorded?: (rec: IntentRecord) => void;
  /** The agents' principals (sidecar config): an intent whose context.tenant / context.team contradicts its agent's
   * principal is refused with 403 before anything is recorded. */
  principals?: PrincipalLookup;
  /** Where internal denials go (a block that threw, a store or signing failure): one log line (intent id, stage,
   * error; never the intent) and `intent_sidecar_internal_errors_total{stage}`. */
  internalErrors?: InternalErrorSink;
  /** Where the one line per decision, hold outcome and approval goes (DecisionLogLine: ids, names, outcomes and
   * rule ids, never params, headers, bodies, tokens or attestations). Default: the process logger (sidecar/log.ts),
   * which `intent-sidecar start` sets to the daemon's. */
  log?: { info(obj: object, msg?: string): void };
  /** Fleet mode (docs/fleet.md): the shared store decides idempotency, soft limits and holds and keeps the record
   * (PostgreSQL); the local SQLite store then journals what it returned. Absent: SQLite alone. */
  shared?: SharedDecisions;
}

export type PipelineResult = { status: number; body: DecisionResponse | ErrorBody };

type RecordOutcome = { rec: IntentRecord; replay?: IntentRecord; conflict?: boolean; busy?: boolean };
/** One job's share of a group commit: its outcome, or the error that rolled back its savepoint (or the commit). */
type RecordResult = { out?: RecordOutcome; error?: unknown };
type RecordArgs = [
  id: string,
  intent: Intent,
  digest: string,
  policy: PolicyRef,
  effect: Effect,
  reasons: Reason[],
  now: Date,
];

/** Fleet mode: shared-store transactions one sidecar keeps in flight at once. One: every decision waiting meanwhile
 * joins the next batch, so a hot soft-limit stream is locked once per batch, not once per few decisions (measured in
 * bench/fleet.ts: 1 in flight 1,466/s, 2 in flight 1,254/s, 4 in flight 648/s on the 2-core machine). */
const SHARED_IN_FLIGHT = 1;

const INTERNAL: Reason = {
  block: "sidecar",
  rule: "internal_error",
  message: "internal error while deciding; denied (fail closed)",
};

function invalidJson(message: string): PipelineResult {
  return {
    status: 400,
    body: {
      error: "invalid_json",
      message: `the body is not valid JSON: ${message}`,
      issues: [{ path: "(body)", message: "is not valid JSON" }],
    },
  };
}

/** `block/rule` ids of reasons (what the log line carries instead of the messages, which may quote values). */
function ruleIds(reasons: readonly Reason[]): string[] {
  return reasons.map((r) => `${r.block}/${r.rule}`);
}

/** 400 for a malformed intent: every issue with its path, and one message in the product's words
 * ("the intent is invalid: params.to is required"). */
function invalidIntent(issues: { path: string; message: string }[]): PipelineResult {
  const list = issues.map((i) => (i.path === "(body)" ? i.message : `${i.path} ${i.message}`));
  return {
    status: 400,
    body: { error: "invalid_intent", message: `the intent is invalid: ${list.join("; ")}`, issues },
  };
}

function statusOf(decision: string): number {
  return decision === "PENDING" ? 202 : 200;
}

export class Pipeline {
  private readonly holds: HoldService;
  private readonly limits: LimitLedger;
  private readonly now: () => Date;
  private readonly record: (...args: RecordArgs) => RecordOutcome;
  /** Group commit: decisions that reach the recording stage in the same turn of the event loop are written in one
   * SQLite transaction (sidecar/store/group-commit.ts: one failing decision leaves no trace and the others commit).
   * Every caller is answered only after that transaction commits, so nothing is answered before it is durable; the
   * batch shares the commit's cost (see docs/performance/sqlite.md). */
  private batch: { args: RecordArgs; done: (r: RecordResult) => void }[] = [];
  private readonly commitBatch: (jobs: RecordArgs[]) => RecordResult[];
  private readonly mirrorBatch: (jobs: [IntentRecord, Intent, Date, string][]) => { out?: unknown; error?: unknown }[];
  /** Fleet mode: shared-store transactions in flight (at most SHARED_IN_FLIGHT); decisions arriving while all are
   * busy form the next batch. Were several in flight, they would serialize only where they must (a soft-limit
   * stream, an agent's hold count, this node's audit chain), always in one lock order. */
  private inFlight = 0;

  constructor(private readonly deps: PipelineDeps) {
    this.holds = deps.holds ?? defaultHoldService;
    this.limits = deps.limits ?? noLimits;
    this.now = deps.now ?? (() => new Date());
    // One decision's writes: idempotency re-check, soft-limit reservation, intent row, idempotency row, audit row,
    // claims. A function of its arguments and the database only (the group commit may run it again).
    const recordIn = (...[id, intent, digest, policy, effect, reasons, now]: RecordArgs): RecordOutcome => {
      const { store, db } = deps;
      if (intent.idempotency_key !== undefined) {
        const prior = store.findIdempotent(intent.agent, intent.idempotency_key);
        if (prior) {
          if (prior.digest !== digest) return { rec: undefined as never, conflict: true };
          const stored = store.get(prior.intent_id)!;
          return { rec: stored, replay: stored };
        }
      }
      let decision: IntentRecord["decision"] =
        effect === "allow" ? "APPROVED" : effect === "hold" ? "PENDING" : "DENIED";
      let allReasons = reasons;
      if (decision === "APPROVED") {
        const over = this.limits.checkAndReserve({ db, intentId: id, intent, policy, now });
        const { hold, deny } = Array.isArray(over) ? { hold: over, deny: [] } : over;
        if (deny.length > 0) {
          decision = "DENIED";
          allReasons = deny; // a denial names what denied it (a rate limit, a budget), not what would have allowed it
        } else if (hold.length > 0) {
          decision = "PENDING";
          allReasons = [...reasons, ...hold];
        }
      }
      const rec = this.make({ id, intent, digest, policy, effect: effect as SharedJob["effect"], reasons, now }, decision as "APPROVED", allReasons);
      if (decision === "PENDING") {
        group.pin(); // the holds service announces the hold at once: never run this decision twice
        try {
          rec.hold = this.holds.create({ db, intentId: id, intent, digest, policy, reasons: allReasons, now });
        } catch (e) {
          // holds.max_open_per_agent: counted in this transaction, so concurrent decisions cannot pass the cap
          if (!(e instanceof HoldCapReached)) throw e;
          rec.decision = decision = "DENIED";
          rec.reasons = allReasons = [e.reason, ...allReasons];
        }
      }
      store.insert(rec);
      deps.onRecorded?.(rec);
      if (intent.idempotency_key !== undefined)
        store.recordIdempotent(intent.agent, intent.idempotency_key, digest, id, now);
      appendAuditData(
        db,
        "decision",
        {
          intent_id: id,
          agent: intent.agent,
          action: intent.action,
          digest: rec.digest,
          decision,
          reasons: allReasons,
          policy_digest: policy.digest,
          ...(rec.hold ? { hold_id: rec.hold.id } : {}),
        },
        now,
      );
      return { rec };
    };
    // alone (the fallback that records a DENIED after a failed group commit): its own IMMEDIATE transaction
    this.record = deps.db.transaction(recordIn).immediate as unknown as Pipeline["record"];
    const group = new GroupCommit(deps.db, recordIn);
    this.commitBatch = (jobs) => group.commit(jobs);
    // fleet mode: the local journal of what the shared store decided (same rows as recordIn writes, nothing decided)
    // `declared`: the declared intent's digest (the idempotency check's; rec.digest is the bound one, which differs
    // when the pii block redacted the params)
    const mirror = new GroupCommit(deps.db, (rec: IntentRecord, intent: Intent, now: Date, declared: string) => {
      deps.store.insert(rec);
      deps.onRecorded?.(rec);
      if (intent.idempotency_key !== undefined && !deps.store.findIdempotent(intent.agent, intent.idempotency_key))
        deps.store.recordIdempotent(intent.agent, intent.idempotency_key, declared, rec.id, now);
      appendAuditData(
        deps.db,
        "decision",
        {
          intent_id: rec.id,
          agent: rec.agent,
          action: rec.action,
          digest: rec.digest,
          decision: rec.decision,
          reasons: rec.reasons,
          policy_digest: rec.policy_digest,
          ...(rec.hold ? { hold_id: rec.hold.id } : {}),
        },
        now,
      );
    });
    this.mirrorBatch = (jobs) => mirror.commit(jobs);
  }

  /** The stored record of a decision: the redacted intent, reasons (none when APPROVED: SPEC section 3), claims and
   * the signing kid when APPROVED, the hold summary when PENDING. One builder for the SQLite and the shared store. */
  private readonly make: MakeRecord = (job, decision, reasons, hold) => {
    const iso = isoTime(job.now);
    // the pii block's redacted form, when it rewrote the params (sidecar/policy/pii/bind.ts)
    const digest = boundDigestOf(job.intent, job.digest);
    const rec: IntentRecord = {
      id: job.id,
      agent: job.intent.agent,
      action: job.intent.action,
      digest,
      // the stored copy: secret header values and HTTP bodies replaced by digests (SPEC section 10), PII redacted
      intent: redactForStorage(job.intent, digest),
      decision,
      // SPEC section 3: an APPROVED answer carries `reasons: []`; what allowed it goes to the audit row
      reasons: decision === "APPROVED" ? [] : reasons,
      policy_digest: job.policy.digest,
      created_at: iso,
      updated_at: iso,
    };
    if (decision === "APPROVED") {
      rec.claims = buildClaims(job.id, job.intent, job.policy.digest, job.now, { ...this.deps.options, digest });
      rec.kid = this.deps.keys.current.kid;
    }
    if (hold) rec.hold = hold;
    return rec;
  };

  /** Records one decision through the current group commit; resolves after the commit, rejects if it failed. */
  private recordGrouped(...args: RecordArgs): Promise<RecordOutcome> {
    return new Promise((resolve, reject) => {
      if (this.batch.length === 0 && this.inFlight < SHARED_IN_FLIGHT)
        setImmediate(() => (this.deps.shared ? void this.flushShared() : this.flush()));
      this.batch.push({ args, done: (r) => (r.out ? resolve(r.out) : reject(r.error)) });
    });
  }

  /** Fleet mode's group commit: the batch goes to the shared store in one transaction, then what it decided is
   * journaled locally in one SQLite transaction; callers are answered after both. Any failure answers that job with
   * its error (the caller then records and answers DENIED). */
  private async flushShared(): Promise<void> {
    const jobs = this.batch;
    if (jobs.length === 0) return;
    this.batch = [];
    this.inFlight++;
    try {
      if (this.deps.stages) this.deps.stages.commits = (this.deps.stages.commits ?? 0) + 1;
      const shared = jobs.map(({ args: [id, intent, digest, policy, effect, reasons, now] }): SharedJob => ({
        id,
        intent,
        digest,
        policy,
        effect: effect as SharedJob["effect"],
        reasons,
        now,
      }));
      let results: Awaited<ReturnType<SharedDecisions["record"]>>;
      try {
        results = await this.deps.shared!.record(shared, this.make);
      } catch (error) {
        results = jobs.map(() => ({ error }));
      }
      const fresh = results.flatMap((r, i) => (r.out?.rec ? [i] : []));
      let local: { out?: unknown; error?: unknown }[] = [];
      try {
        local = this.mirrorBatch(
          fresh.map((i) => [results[i]!.out!.rec!, jobs[i]!.args[1], jobs[i]!.args[6], jobs[i]!.args[2]]),
        );
      } catch (error) {
        local = fresh.map(() => ({ error }));
      }
      const localError = new Map(fresh.map((i, k) => [i, local[k]?.error]));
      jobs.forEach((j, i) => {
        const r = results[i]!;
        if (!r.out) return j.done({ error: r.error });
        if (r.out.conflict) return j.done({ out: { rec: undefined as never, conflict: true } });
        if (r.out.busy) return j.done({ out: { rec: undefined as never, busy: true } });
        if (r.out.replay) return j.done({ out: { rec: r.out.replay, replay: r.out.replay } });
        const e = localError.get(i);
        if (e !== undefined) {
          // decided in the shared store but not journaled here: never hand out what the journal lacks
          void this.deps.shared!.revoke(r.out.rec.id).catch(() => undefined);
          return j.done({ error: e });
        }
        j.done({ out: { rec: r.out.rec } });
      });
      // journaled here: other sidecars may now answer replays of these keys with the record
      this.deps.shared!.confirm(fresh.filter((i) => localError.get(i) === undefined).map((i) => results[i]!.out!.rec!.id));
    } finally {
      this.inFlight--;
      if (this.batch.length > 0) setImmediate(() => void this.flushShared());
    }
  }

  private flush(): void {
    const jobs = this.batch;
    this.batch = [];
    if (this.deps.stages) this.deps.stages.commits = (this.deps.stages.commits ?? 0) + 1;
    let results: RecordResult[];
    try {
      results = this.commitBatch(jobs.map((j) => j.args));
    } catch (error) {
      results = jobs.map(() => ({ error })); // the commit itself failed: nothing of this batch was written
    }
    jobs.forEach((j, i) => j.done(results[i]!));
  }

  /** The policy every decision uses right now (undefined while none is loaded). Read-only uses: tools/screen. */
  currentPolicy(): ReturnType<PolicyProvider["current"]> {
    return this.deps.policies.current();
  }

  /** An agent's principal (sidecar config), for read-only uses: output redaction's scopes (sidecar/api/results.ts). */
  principalOf(agent: string): ReturnType<PrincipalLookup> {
    return this.deps.principals?.(agent);
  }

  /** Appends one audit row outside a decision (output redaction's detector counts: `result.redacted`). */
  audit(type: string, data: Record<string, unknown>): void {
    appendAuditData(this.deps.db, type, data, this.now());
  }

  /** Decides one intent from the request body as received (the agent API's entry point). */
  async decideText(text: string, agent?: string): Promise<PipelineResult> {
    const t0 = performance.now();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return invalidJson((e as Error).message);
    }
    return this.decide(body, agent, t0);
  }

  /** Decides one intent. `agent`: the authenticated agent name (token mode); undefined in dev mode. */
  async decide(body: unknown, agent?: string, t0 = performance.now()): Promise<PipelineResult> {
    const stages = this.deps.stages;
    const parsed = parseIntent(body, agent !== undefined ? { agent } : {});
    if (!parsed.ok) return invalidIntent(parsed.issues);
    const intent = parsed.intent;
    if (agent !== undefined && intent.agent !== agent) {
      return {
        status: 403,
        body: {
          error: "agent_mismatch",
          message: `this token belongs to agent "${agent}"; the intent names "${intent.agent}"`,
        },
      };
    }
    // The agent is the authenticated one (token mode) or, in dev mode, the body's: its principal is the operator's
    // word on its tenant and team; a context that claims otherwise is refused, nothing recorded (SPEC section 5).
    const conflict = principalConflict(intent, this.deps.principals);
    if (conflict !== undefined) return { status: 403, body: { error: "forbidden", message: conflict } };
    const digest = intentDigest(intent);
    const t1 = performance.now();

    // Idempotent replay without touching the policy (the stored decision stands, even across policy changes).
    if (intent.idempotency_key !== undefined) {
      const prior = this.deps.store.findIdempotent(intent.agent, intent.idempotency_key);
      if (prior) return this.replayOrConflict(prior.digest === digest ? this.deps.store.get(prior.intent_id) : undefined, t0);
    }

    const policy = this.deps.policies.current();
    if (!policy) {
      return {
        status: 503,
        body: { error: "policy_unavailable", message: "no valid policy is loaded; every intent is refused" },
      };
    }
    const now = this.now();
    let effect: Effect;
    let reasons: Reason[];
    let bound: Bound | undefined;
    const id = newIntentId(now.getTime());
    try {
      // scoped rules see the agent's principal from the sidecar config, never the intent's context
      const principal = this.deps.principals?.(intent.agent);
      const verdicts = await this.deps.policies.evaluate(policy, intent, principal ? { now, principal } : { now });
      ({ effect, reasons } = this.deps.policies.combine(verdicts));
      if (effect !== "allow" && effect !== "hold" && effect !== "deny")
        throw new Error(`unknown effect ${String(effect)}`);
      bound = bindRewrite(intent, digest, verdicts, effect); // pii: what is bound and stored
      // blocks that threw (or whose expressions failed) were turned into denials by the policy engine: report them
      if (effect === "deny") for (const f of policyFailures(verdicts)) this.internal("policy", id, f, intent);
    } catch (e) {
      this.internal("policy", id, e, intent);
      effect = "deny";
      reasons = [INTERNAL];
    }
    const t2 = performance.now();

    let out: RecordOutcome;
    try {
      out = await this.recordGrouped(id, bound?.intent ?? intent, digest, policy, effect, reasons, now);
    } catch (e) {
      // Recording failed (disk full, a hook threw): deny without an attestation; try to leave a trace.
      this.internal("store", id, e, intent);
      try {
        out = this.record(id, bound?.intent ?? intent, digest, policy, "deny", [INTERNAL], now);
      } catch (e2) {
        this.internal("store", id, e2, intent);
        this.deps.observer?.decided?.("DENIED", (performance.now() - t0) / 1000, false);
        this.logDecision(id, intent, "DENIED", [INTERNAL], undefined, t0);
        return { status: 200, body: { decision: "DENIED", intent_id: id, reasons: [INTERNAL] } };
      }
    }
    if (out.conflict) return this.replayOrConflict(undefined, t0);
    if (out.busy) {
      return {
        status: 409,
        body: {
          error: "idempotency_in_progress",
          message: "this idempotency_key's first decision is still being recorded by another sidecar; retry in a moment",
        },
      };
    }
    if (out.replay) return this.replayOrConflict(out.replay, t0);
    const response = this.render(out.rec, false);
    if (bound?.redacted && response.decision !== "DENIED") response.redacted = { params: bound.redacted };
    if (response.decision === "APPROVED" && out.rec.claims) {
      try {
        response.attestation = await (this.deps.signer ?? inlineSigner).sign(this.keyFor(out.rec), out.rec.claims);
      } catch (e) {
        // No attestation could be made: the recorded approval becomes a denial (fail closed; a later read or an
        // idempotent replay must not hand out what this answer did not).
        this.internal("sign", id, e, intent);
        try {
          this.deps.store.update(id, { decision: "DENIED", reasons: [INTERNAL] }, this.now());
        } catch (e2) {
          this.internal("store", id, e2, intent);
        }
        this.deps.observer?.decided?.("DENIED", (performance.now() - t0) / 1000, false);
        this.logDecision(id, intent, "DENIED", [INTERNAL], undefined, t0);
        return {
          status: 200,
          body: { decision: "DENIED", intent_id: id, reasons: [INTERNAL], policy: { digest: policy.digest } },
        };
      }
    }
    if (stages) {
      stages.schema += t1 - t0;
      stages.policy += t2 - t1;
      stages.record_sign += performance.now() - t2;
      stages.count++;
    }
    this.deps.observer?.decided?.(out.rec.decision, (performance.now() - t0) / 1000, false);
    // APPROVED answers carry no reasons: the line names the rules that allowed it
    const why = out.rec.decision === "APPROVED" ? reasons : out.rec.reasons;
    this.logDecision(id, intent, out.rec.decision, why, out.rec.hold?.id, t0);
    return { status: statusOf(response.decision), body: response };
  }

  /** One info line per fresh decision. Never throws: logging must not change a decision. */
  private logDecision(
    id: string,
    intent: Intent,
    decision: string,
    reasons: readonly Reason[],
    holdId: string | undefined,
    t0: number,
  ): void {
    this.logLine({
      event: "decision",
      intent_id: id,
      agent: intent.agent,
      action: intent.action,
      decision,
      rules: ruleIds(reasons),
      ...(holdId ? { hold_id: holdId } : {}),
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
    });
  }

  /** A held intent's outcome (approved, denied by an operator, expired). */
  private logHoldOutcome(
    rec: IntentRecord,
    decision: "APPROVED" | "DENIED" | "EXPIRED",
    now: Date,
    extra: { hold_id?: string; approvers?: string[]; reason?: Reason } = {},
  ): void {
    const held = Date.parse(rec.created_at);
    const holdId = extra.hold_id ?? rec.hold?.id;
    this.logLine({
      event: decision === "APPROVED" ? "hold.approved" : decision === "DENIED" ? "hold.denied" : "hold.expired",
      intent_id: rec.id,
      agent: rec.agent,
      action: rec.action,
      decision,
      rules: ruleIds(extra.reason ? [...rec.reasons, extra.reason] : rec.reasons),
      ...(holdId ? { hold_id: holdId } : {}),
      ...(extra.approvers?.length ? { operator: extra.approvers.at(-1)!, approvers: extra.approvers } : {}),
      duration_ms: Number.isFinite(held) ? Math.max(0, now.getTime() - held) : 0,
    });
  }

  private logLine(line: DecisionLogLine): void {
    try {
      (this.deps.log ?? getProcessLogger())?.info(line, line.event);
    } catch {
      /* a logger that throws must never change a decision */
    }
  }

  /** Reports an internal denial: one log line and the stage's counter. Never throws. The error's text is cleared of
   * every value the intent carries (an evaluation error may quote its input). */
  private internal(stage: InternalStage, intentId: string, error: unknown, intent: Intent): void {
    try {
      this.deps.internalErrors?.report(stage, intentId, scrubIntentValues(errorText(error), intent));
    } catch {
      /* reporting must never change a decision */
    }
  }

  private replayOrConflict(rec: IntentRecord | undefined, t0: number): PipelineResult {
    if (!rec) {
      return {
        status: 409,
        body: {
          error: "idempotency_conflict",
          message: "this idempotency_key was already used for a different intent",
        },
      };
    }
    const response = this.render(rec);
    this.deps.observer?.decided?.(response.decision, (performance.now() - t0) / 1000, true);
    return { status: statusOf(response.decision), body: response };
  }

  /** The key that signed (or signs) a record's claims: its own kid while that key exists, else the current key. */
  private keyFor(rec: IntentRecord): SigningKey {
    return (rec.kid && this.deps.keys.byKid(rec.kid)) || this.deps.keys.current;
  }

  /** The agent-facing view of a stored intent; re-signs stored claims (deterministic) instead of storing tokens.
   * `sign: false` leaves `attestation` empty for the caller to fill (the fresh-decision path signs off-thread). */
  render(rec: IntentRecord, sign = true): DecisionResponse {
    let decision = rec.decision;
    if (decision === "PENDING" && rec.hold && Date.parse(rec.hold.expires_at) <= this.now().getTime())
      decision = "EXPIRED";
    const res: DecisionResponse = { decision, intent_id: rec.id, reasons: rec.reasons };
    if (decision === "APPROVED" && rec.claims) {
      res.attestation = sign ? signClaims(this.keyFor(rec), rec.claims) : "";
      res.expires_at = new Date(rec.claims.exp * 1000).toISOString();
    }
    if (rec.policy_digest) res.policy = { digest: rec.policy_digest };
    const redacted = decision === "APPROVED" || decision === "PENDING" ? executableRedaction(rec.intent) : undefined;
    if (redacted) res.redacted = { params: redacted };
    if (rec.hold && (decision === "PENDING" || decision === "EXPIRED")) res.hold = rec.hold;
    if (decision === "EXPIRED" && !rec.reasons.some((r) => r.block === "holds")) {
      res.reasons = [
        ...rec.reasons,
        { block: "holds", rule: "expired", message: `hold ${rec.hold!.id} expired without approval` },
      ];
    }
    return res;
  }

  /** For the holds service: a held intent was approved. Builds and stores claims carrying the `approval` claim, with
   * the TTL counted from `now` (the approval), and wakes long polls. Synchronous: callable inside a transaction.
   * Returns the agent-facing response (with the attestation), or undefined when the intent is unknown. */
  approveHeld(intentId: string, approval: ApprovalClaim, now: Date = this.now()): DecisionResponse | undefined {
    const rec = this.deps.store.get(intentId);
    if (!rec) return undefined;
    const intent: Intent = { ...rec.intent };
    const claims = buildClaims(intentId, intent, rec.policy_digest ?? "", now, {
      ...this.deps.options,
      approval,
      digest: rec.digest,
    });
    // the stored intent is the redacted copy: bind the real request (digest and body digest kept at decision time)
    claims.intent = storedIntentClaim(rec.intent, rec.digest);
    const kid = this.deps.keys.current.kid;
    this.deps.store.update(intentId, { decision: "APPROVED", claims, kid }, now);
    this.logHoldOutcome(rec, "APPROVED", now, { hold_id: approval.hold_id, approvers: approval.approvers });
    return this.render({ ...rec, decision: "APPROVED", claims, kid });
  }

  /** For the holds service: a held intent was denied by an operator or expired. */
  closeHeld(intentId: string, decision: "DENIED" | "EXPIRED", reason: Reason, now: Date = this.now()): boolean {
    const rec = this.deps.store.get(intentId);
    if (!rec) return false;
    const updated = this.deps.store.update(intentId, { decision, reasons: [...rec.reasons, reason] }, now);
    if (updated) this.logHoldOutcome(rec, decision, now, { reason });
    return updated;
  }

  /** Reads an intent for an agent (undefined agent: dev mode, any). Another agent's intent is reported as absent. */
  lookup(id: string, agent?: string): IntentRecord | undefined {
    const rec = this.deps.store.get(id);
    if (!rec || (agent !== undefined && rec.agent !== agent)) return undefined;
    return rec;
  }
}
