// Prometheus metrics (`GET /metrics`). One registry per daemon, so several daemons in one process (tests) coexist.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  decisions: Counter<"decision" | "replay">;
  latency: Histogram<"decision">;
  policyReloads: Counter<"result">;
  /** Internal denials by stage: a policy block that threw or failed to evaluate, a store error, a signing failure. */
  internalErrors: Counter<"stage">;
}

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: "intent_sidecar_" });
  return {
    registry,
    decisions: new Counter({
      name: "intent_sidecar_decisions_total",
      help: "Decisions by outcome (replay=true: an idempotent replay of a stored decision)",
      labelNames: ["decision", "replay"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "intent_sidecar_decision_duration_seconds",
      help: "Time to decide an intent, from parsed body to response",
      labelNames: ["decision"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: "intent_sidecar_policy_reloads_total",
      help: "Policy reloads by result (ok, failed)",
      labelNames: ["result"],
      registers: [registry],
    }),
    internalErrors: internalErrorsCounter(registry),
  };
}

/** `intent_sidecar_internal_errors_total{stage="policy|store|sign"}`, each stage present from the start (at 0). */
function internalErrorsCounter(registry: Registry): Counter<"stage"> {
  const c = new Counter({
    name: "intent_sidecar_internal_errors_total",
    help: "Intents denied because of an internal error, by stage (policy: a block threw or failed to evaluate; store; sign)",
    labelNames: ["stage"],
    registers: [registry],
  });
  for (const stage of ["policy", "store", "sign"]) c.inc({ stage }, 0);
  return c;
}
