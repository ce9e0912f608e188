// Prometheus gauges for operators: holds by state and the webhook outbox by state, read from SQLite at scrape time.
import { Gauge, type Registry } from "prom-client";
import type Database from "better-sqlite3";

export function registerHoldMetrics(registry: Registry, db: Database.Database): void {
  const holds = db.prepare<[], { state: string; n: number }>("SELECT state, COUNT(*) AS n FROM holds GROUP BY state");
  const outbox = db.prepare<[], { state: string; n: number }>("SELECT state, COUNT(*) AS n FROM notify_outbox GROUP BY state");
  const fill = (g: Gauge<"state">, states: string[], rows: { state: string; n: number }[]) => {
    for (const s of states) g.set({ state: s }, rows.find((r) => r.state === s)?.n ?? 0);
  };
  new Gauge({
    name: "intent_sidecar_holds",
    help: "Holds by state (pending, approved, denied, expired)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      if (db.open) fill(this, ["pending", "approved", "denied", "expired"], holds.all());
    },
  });
  new Gauge({
    name: "intent_sidecar_webhook_outbox",
    help: "Webhook outbox rows by state (pending = not yet delivered, dead = gave up)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      if (db.open) fill(this, ["pending", "delivered", "dead"], outbox.all());
    },
  });
}
