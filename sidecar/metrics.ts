// Prometheus metrics (`GET /metrics`). One registry per daemon, so several daemons in one process (tests) coexist.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  decisions: Counter<"decision" | "replay">;
  latency: Histogram<"decision">;
  policyReloads: Counter<"result">;
  /** Internal denials by stage: a policy block that threw or failed to evaluate, a store error, a signing failure. */
  internalErrors: Counter<"stage">;
  /** SIEM exports (sidecar/exports/): events per sink that were delivered, set aside as dead after their last retry,
   * or could not be queued (sink="queue"); a failure never changes a decision. */
  exportEvents: Counter<"sink" | "result">;
  /** Failed delivery attempts (batches) per sink; each is retried with backoff. */
  exportFailures: Counter<"sink">;
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
    exportEvents: new Counter({
      name: "intent_sidecar_export_events_total",
      help: "OCSF events by sink and result (delivered; dead: given up after max_attempts; unqueued: could not be queued)",
      labelNames: ["sink", "result"],
      registers: [registry],
    }),
    exportFailures: new Counter({
      name: "intent_sidecar_export_failures_total",
      help: "Failed export deliveries (batches) by sink; retried with backoff from the durable outbox",
      labelNames: ["sink"],
      registers: [registry],
    }),
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
