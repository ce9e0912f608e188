// Composes holds, soft limits, webhook notifications and the operator API for the daemon, and adapts them to the
// pipeline's seams (sidecar/pipeline-hooks.ts). The daemon calls createHoldsSubsystem once, passes `holdHook` and
// `limitHook` to the Pipeline, then `attach(pipeline)`, serves `operatorApp` on the operator listener, and calls
// `close()` on shutdown.
import type { Hono } from "hono";
import type { Db, IntentRecord, IntentStore } from "../store/index.ts";
import { appendAudit } from "../store/index.ts";
import type { KeyRing } from "../attest/index.ts";
import { signClaims } from "../attest/index.ts";
import type { HoldService as HoldHook, LimitLedger as LimitHook } from "../pipeline-hooks.ts";
import type { Pipeline } from "../pipeline.ts";
import { HoldService } from "./service.ts";
import { DEFAULT_HOLDS_POLICY, type HoldAuditEvent, type HoldsApi, type HoldsPolicy } from "./types.ts";
import { LimitLedger } from "../limits/ledger.ts";
import { RateLimiter, SqliteRateCounter, asSoftLimit, type RateLimit } from "../limits/rate.ts";
import type { SoftLimit } from "../limits/types.ts";
import { BudgetBook, type CostPolicy } from "../limits/budgets.ts";
import { longestWindowMs } from "../limits/budget-units.ts";
import { COST_RETENTION_MS, CostLedger } from "../limits/cost.ts";
import { costUsage, parseUsageQuery } from "../operator/usage.ts";
import { Outbox, type Webhook } from "../notify/outbox.ts";
import { loadWebhookSecret } from "../notify/secret.ts";
import { createOperatorApp } from "../operator/app.ts";
import { createOperatorViews, safeSummary, summarizerFor } from "../operator/views.ts";
import { OperatorAuth } from "../operator/auth.ts";
import "./migrations.ts";
import type { Registry } from "prom-client";
import { registerHoldMetrics } from "./metrics.ts";

/** The parts of the policy engine's PolicyConfig this subsystem reads (absent under the interim evaluator). */
interface PolicyConfigView {
  softLimits?: SoftLimit[];
  rateLimits?: RateLimit[];
  holds?: HoldsPolicy;
  notify?: { webhooks?: (Webhook | string)[] };
  costs?: CostPolicy;
}

export interface HoldsSubsystemOptions {
  db: Db;
  store: IntentStore;
  keys: KeyRing;
  dataDir: string;
  operatorTokens: Record<string, string>;
  /** Agent tokens: an operator token equal to one of them is refused, so agent tokens never work as operator tokens. */
  agentTokens?: Record<string, string>;
  /** The policy in force (its `config` is the policy engine's PolicyConfig). */
  currentPolicy(): { digest: string; config?: unknown } | undefined;
  reloadPolicy(): Promise<{ ok: boolean; digest?: string; error?: string }>;
  issuer: string;
  ttlSeconds: number;
  audienceFor(action: string): string;
  now?: () => Date;
  log?: { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  /** The daemon's Prometheus registry: adds hold and outbox gauges. */
  registry?: Registry;
  /** Hears every hold transition inside its transaction (created, approval, approved, denied, expired), after its
   * audit entry: the SIEM exports queue it there (sidecar/exports/). Must only write to the database. */
  onHoldEvent?: (e: HoldAuditEvent) => void;
  /** Sweeper and delivery intervals (tests shorten them). */
  sweepMs?: number;
  deliverMs?: number;
  /** Fleet mode: the operator API's holds come from the shared store (sidecar/store/pg/holds.ts). */
  holdsApi?: HoldsApi;
}

export interface HoldsSubsystem {
  holds: HoldService;
  ledger: LimitLedger;
  outbox: Outbox;
  holdHook: HoldHook;
  limitHook: LimitHook;
  operatorApp: Hono<any>;
  /** Late binding: hold outcomes are written to the intent record through the pipeline. */
  attach(pipeline: Pipeline): void;
  /** Queues a DENIED notification for a decided intent (call inside the decision's transaction). */
  notifyDecision(rec: IntentRecord): void;
  close(): Promise<void>;
}

function configOf(policy: { config?: unknown } | undefined): PolicyConfigView {
  const c = policy?.config as PolicyConfigView | undefined;
  return c && typeof c === "object" ? c : {};
}

export function limitsOf(policy: { config?: unknown } | undefined): SoftLimit[] {
  const s = configOf(policy).softLimits;
  return Array.isArray(s) ? s : [];
}

export function rateLimitsOf(policy: { config?: unknown } | undefined): RateLimit[] {
  const r = configOf(policy).rateLimits;
  return Array.isArray(r) ? r : [];
}

export function holdsPolicyOf(policy: { config?: unknown } | undefined): HoldsPolicy {
  const h = configOf(policy).holds;
  return h && typeof h.ttlMs === "number" && h.overrides instanceof Map ? h : DEFAULT_HOLDS_POLICY;
}

export function createHoldsSubsystem(o: HoldsSubsystemOptions): HoldsSubsystem {
  const now = o.now ?? (() => new Date());
  let pipeline: Pipeline | undefined;
  const ledger = new LimitLedger(o.db);
  // rate limits key their streams through the ledger, so both use the principals the daemon wires into it
  const rates = new RateLimiter(
    new SqliteRateCounter(o.db),
    (l, intent) => ledger.charges(intent, [asSoftLimit(l)])[0]!.scopeKey,
  );
  const outbox = new Outbox({
    db: o.db,
    webhooks: () => configOf(o.currentPolicy()).notify?.webhooks ?? [],
    defaultSecret: loadWebhookSecret(o.dataDir),
  });
  // cost totals share the soft-limit ledger (and its principals); budget alerts go through the outbox
  const costs = new CostLedger(o.db, ledger);
  const budgets = new BudgetBook(o.db, costs, outbox);
  const costPolicy = (p: { config?: unknown } | undefined) => configOf(p).costs;
  const holds = new HoldService({
    db: o.db,
    sign: (claims) => signClaims(o.keys.current, claims),
    policy: () => holdsPolicyOf(o.currentPolicy()),
    audit: (e) => {
      appendAudit(o.db, { ...e }, now());
      o.onHoldEvent?.(e);
    },
    reserve: (intentId, intent, ms) => {
      ledger.reserve(intentId, intent, limitsOf(o.currentPolicy()), ms);
      rates.reserve(intentId, intent, rateLimitsOf(o.currentPolicy()), ms); // an approved hold counts too
      budgets.record(intentId, intent, costPolicy(o.currentPolicy()), ms); // an approved hold's cost counts
    },
    notify: (e) => void outbox.enqueue({ type: e.type, data: e.hold }), // the hold view carries its summary
    summarize: (intent) => safeSummary(summarizerFor(o.currentPolicy() as Parameters<typeof summarizerFor>[0]), intent),
    onTransition: (t) => {
      const at = new Date(t.now);
      if (t.type === "approval") o.store.update(t.hold.intent_id, { decision: "PENDING", hold: t.summary }, at);
      else if (t.type === "approved") {
        if (!pipeline) throw new Error("holds subsystem not attached to the pipeline");
        pipeline.approveHeld(t.hold.intent_id, t.approval!, at);
      } else pipeline?.closeHeld(t.hold.intent_id, t.type === "denied" ? "DENIED" : "EXPIRED", t.reason!, at);
    },
    issuer: o.issuer,
    audience: o.audienceFor,
    attestationTtlSeconds: o.ttlSeconds,
    now: () => now().getTime(),
  });

  const holdHook: HoldHook = {
    create: (req) =>
      holds.create({
        intentId: req.intentId,
        intent: req.intent,
        reasons: req.reasons,
        policyDigest: req.policy.digest,
        digest: req.digest,
        holdsPolicy: holdsPolicyOf(req.policy),
      }),
  };
  const limitHook: LimitHook = {
    checkAndReserve(req) {
      // rate limits first, reading only: one that refuses leaves budgets and the soft-limit ledger untouched
      const rateLimits = rateLimitsOf(req.policy);
      const rated = rates.check(req.intent, rateLimits, req.now.getTime());
      if (rated) return rated;
      // budgets first: they only read until the intent passes everything, then count its cost
      const budget = budgets.evaluate(req.intentId, req.intent, costPolicy(req.policy), req.now.getTime());
      if (budget.refused) return budget.refused;
      const r = ledger.checkAndReserve(req.intentId, req.intent, limitsOf(req.policy), req.now.getTime());
      if (!r.ok) return r.reasons;
      budget.commit();
      rates.reserve(req.intentId, req.intent, rateLimits, req.now.getTime());
      return [];
    },
  };

  const auth = new OperatorAuth(o.operatorTokens, o.agentTokens);
  if (auth.rejected.length > 0) {
    o.log?.error({ operators: auth.rejected }, "operator token(s) equal to an agent token are refused; give operators their own tokens");
  }
  if (!auth.configured) {
    o.log?.warn({}, "no operator tokens configured (INTENT_SIDECAR_OPERATOR_TOKENS or operator_tokens): nobody can approve holds");
  }
  const views = createOperatorViews({
    db: o.db,
    ledger,
    currentPolicy: () => o.currentPolicy() as Parameters<typeof summarizerFor>[0],
    limits: () => limitsOf(o.currentPolicy()),
    now: () => now().getTime(),
  });
  const operatorApp = createOperatorApp({
    holds: o.holdsApi ?? holds,
    auth,
    reloadPolicy: o.reloadPolicy,
    recentDecisions: (limit, filter) => views.decisions(limit, filter),
    views,
    costUsage: (q) => {
      const t = now().getTime();
      return costUsage({ costs, budgets, policy: () => costPolicy(o.currentPolicy()) }, parseUsageQuery(q, t), t);
    },
    audit: (e) => void appendAudit(o.db, e, now()),
  });

  if (o.registry) registerHoldMetrics(o.registry, o.db);
  holds.on("error", (err: Error) => o.log?.error({ err: err.message }, "hold sweeper failed"));
  const stopSweeper = holds.startSweeper(o.sweepMs ?? 1000);
  const pruneTimer = setInterval(() => {
    try {
      ledger.prune(limitsOf(o.currentPolicy()), now().getTime());
      rates.prune(rateLimitsOf(o.currentPolicy()), now().getTime());
      const longest = (costPolicy(o.currentPolicy())?.budgets ?? []).map((b) => longestWindowMs(b.per));
      const keep = Math.max(COST_RETENTION_MS, ...longest);
      costs.prune(now().getTime(), keep);
      budgets.purge(now().getTime() - keep);
      outbox.purge();
    } catch (err) {
      o.log?.error({ err: (err as Error).message }, "soft-limit ledger / outbox clean-up failed");
    }
  }, 10 * 60_000);
  pruneTimer.unref();
  const stopOutbox = outbox.start(o.deliverMs ?? 500);

  return {
    holds,
    ledger,
    outbox,
    holdHook,
    limitHook,
    operatorApp,
    attach(p) {
      pipeline = p;
    },
    notifyDecision(rec) {
      if (rec.decision !== "DENIED") return;
      outbox.enqueue({
        type: "intent.denied",
        data: { intent_id: rec.id, agent: rec.agent, action: rec.action, reasons: rec.reasons, decided_at: rec.created_at },
      });
    },
    async close() {
      stopSweeper();
      clearInterval(pruneTimer);
      await stopOutbox();
    },
  };
}
