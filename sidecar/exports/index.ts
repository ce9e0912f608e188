// The export seam: the daemon reports what happened (decisions, hold transitions, policy reloads, proxy decisions,
// detections); each becomes OCSF events (ocsf.ts) queued in the durable outbox (outbox.ts) for every configured sink
// (JSONL file, Splunk HEC, OTLP logs). Every method is synchronous and only writes to the database, so it may run
// inside the decision's transaction (where the group commit may run it twice, rolling back the first), and it never
// throws: a mapping or queueing failure is logged and counted, and the decision stands.
// The daemon imports this module only when the config has an `exports` block.
import type Database from "better-sqlite3";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { IntentRecord } from "../store/index.ts";
import type { HoldAuditEvent } from "../holds/types.ts";
import type { ProxyDecisionEvent } from "../../proxy/server.ts";
import { PACKAGE_DIR } from "../package-root.ts";
import { readFileSync } from "node:fs";
import { Gauge } from "prom-client";
import { join } from "node:path";
import type { ExportsConfig } from "./config.ts";
import { ExportOutbox, type Sink } from "./outbox.ts";
import { JsonlSink } from "./jsonl.ts";
import { SplunkHecSink } from "./splunk-hec.ts";
import {
  decisionEvent,
  detectionEvent,
  holdEvent,
  piiDetections,
  policyReloadEvent,
  proxyDetections,
  proxyEvent,
  type Detection,
  type OcsfEvent,
  type Origin,
} from "./ocsf.ts";

export type { Detection } from "./ocsf.ts";

export interface Exports {
  /** A recorded decision (call inside its transaction; the pipeline's onRecorded). */
  decision(rec: IntentRecord): void;
  /** A hold transition (inside its transaction; the holds service's audit hook). */
  holdEvent(e: HoldAuditEvent): void;
  policyReload(r: { ok: boolean; digest?: string }, file: string): void;
  proxyDecision(e: ProxyDecisionEvent): void;
  detection(d: Detection): void;
  /** Pending and dead events per sink. */
  counts(): Record<string, { pending: number; dead: number }>;
  close(): Promise<void>;
}

export interface ExportsOptions {
  config: ExportsConfig;
  db: Database.Database;
  log: Pick<Logger, "warn" | "error" | "info">;
  metrics: Pick<Metrics, "exportEvents" | "exportFailures"> & { registry?: Metrics["registry"] };
  /** The sidecar id (attestations' `iss`). */
  sidecarId: string;
  now?: () => Date;
  fetch?: typeof fetch;
}

function productVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")).version ?? "0.0.0");
  } catch {
    return "0.0.0";
  }
}

export async function startExports(o: ExportsOptions): Promise<Exports> {
  const now = o.now ?? (() => new Date());
  const version = productVersion();
  const origin: Origin = { product: { name: "intent-sidecar", vendor_name: "intent-sidecar", version }, sidecarId: o.sidecarId };
  const sinks: Sink[] = [];
  if (o.config.ocsfJsonl) sinks.push(new JsonlSink(o.config.ocsfJsonl));
  if (o.config.splunkHec) sinks.push(new SplunkHecSink(o.config.splunkHec, o.fetch)); // reads the token file: throws what to fix
  if (o.config.otlp) {
    const { OtlpSink } = await import("./otlp.ts"); // the OpenTelemetry SDK, only when configured
    sinks.push(new OtlpSink(o.config.otlp, version));
  }
  const failuresLogged = new Map<string, number>();
  const outbox = new ExportOutbox(o.db, sinks, {
    delivered: (sink, n) => o.metrics.exportEvents.inc({ sink, result: "delivered" }, n),
    failed(sink, error, dead) {
      o.metrics.exportFailures.inc({ sink });
      if (dead > 0) {
        o.metrics.exportEvents.inc({ sink, result: "dead" }, dead);
        o.log.error({ sink, events: dead, error }, "export: events given up after their last retry (kept in export_outbox as dead for a week)");
      }
      // one line per sink per minute while it keeps failing
      const t = Date.now();
      if ((failuresLogged.get(sink) ?? 0) + 60_000 > t) return;
      failuresLogged.set(sink, t);
      o.log.warn({ sink, error }, "export: delivery failed; retrying from the outbox with backoff");
    },
  });
  outbox.start();
  if (o.metrics.registry) {
    // read at scrape time: alert on a growing `pending` (a sink is down) or any `dead`
    new Gauge({
      name: "intent_sidecar_export_outbox",
      help: "OCSF events waiting in the export outbox by sink and state (pending, dead)",
      labelNames: ["sink", "state"],
      registers: [o.metrics.registry],
      collect() {
        if (!o.db.open) return;
        for (const [sink, c] of Object.entries(outbox.counts())) {
          this.set({ sink, state: "pending" }, c.pending);
          this.set({ sink, state: "dead" }, c.dead);
        }
      },
    });
  }
  outbox.purgeDead();
  const purge = setInterval(() => {
    try {
      outbox.purgeDead();
    } catch (e) {
      o.log.error({ err: (e as Error).message }, "export: outbox clean-up failed");
    }
  }, 3_600_000);
  purge.unref();

  let closed = false;
  // map and queue; never throws into the caller (a decision, a hold transition, the proxy)
  const queue = (build: () => OcsfEvent[]) => {
    if (closed) return; // a late proxy request or reload while the daemon stops
    try {
      const events = build();
      outbox.enqueue(events.map((e) => JSON.stringify(e)));
    } catch (e) {
      o.metrics.exportEvents.inc({ sink: "queue", result: "unqueued" });
      o.log.error({ err: (e as Error).message }, "export: could not queue an event; the decision stands");
    }
  };
  return {
    decision: (rec) => queue(() => [decisionEvent(rec, origin), ...piiDetections(rec).map((d) => detectionEvent(d, origin))]),
    holdEvent: (e) => queue(() => [holdEvent(e, now().getTime(), origin)]),
    policyReload: (r, file) => queue(() => [policyReloadEvent(r, file, now().getTime(), origin)]),
    proxyDecision(e) {
      const t = now().getTime();
      queue(() => [proxyEvent(e, t, origin), ...proxyDetections(e, t).map((d) => detectionEvent(d, origin))]);
    },
    detection: (d) => queue(() => [detectionEvent(d, origin)]),
    counts: () => outbox.counts(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(purge);
      await outbox.stop(["ocsf_jsonl"]); // the file gets what is due before the database closes
      for (const s of sinks) await s.close?.().catch(() => {});
    },
  };
}
