// Durable webhook outbox. Events are inserted synchronously inside the transaction that produced them (a decision
// or a hold transition), one row per webhook; a background loop delivers them with retries and exponential
// backoff. Delivery never runs on the decision path, so a dead webhook cannot delay or change a decision, and
// undelivered rows survive restarts.
import type Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { SIGNATURE_HEADER, signWebhook } from "./signature.ts";

export interface Webhook {
  url: string;
  /** HMAC secret for this receiver; defaults to the outbox's default secret. */
  secret?: string;
  /** Event categories to send (`DENIED`, `PENDING`, `hold_resolved`, `budget`, as in the policy's notify block); all
   * when absent. */
  events?: readonly string[];
}

/** The policy-level category of an event type. */
export function eventCategory(type: string): string {
  if (type === "intent.denied") return "DENIED";
  if (type === "hold.pending") return "PENDING";
  if (type.startsWith("hold.")) return "hold_resolved";
  if (type.startsWith("budget.")) return "budget";
  return type;
}

export interface OutboxEvent {
  type: string; // intent.denied | hold.pending | hold.approved | hold.denied | hold.expired | budget.threshold
  data: unknown;
}

export interface OutboxOptions {
  db: Database.Database;
  webhooks: () => readonly (Webhook | string)[];
  defaultSecret: string;
  fetch?: typeof fetch;
  now?: () => number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  /** Rows delivered concurrently per pass. */
  batch?: number;
}

export const OUTBOX_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS notify_outbox (
  id              TEXT PRIMARY KEY,
  url             TEXT NOT NULL,
  type            TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  delivered_at    INTEGER
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (state, next_attempt_at);
`;

interface OutboxRow {
  id: string;
  url: string;
  type: string;
  body: string;
  attempts: number;
}

export class Outbox {
  private readonly opts: Required<Omit<OutboxOptions, "fetch">> & { fetch: typeof fetch };
  private readonly insert: Database.Statement;
  private readonly due: Database.Statement<[number, number], OutboxRow>;
  private readonly delivered: Database.Statement<[number, number, string]>;
  private readonly failed: Database.Statement<[string, number, string, number, string]>;
  /** Deliveries in flight by row id: a slow receiver occupies only its own slots, never a whole pass. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(opts: OutboxOptions) {
    this.opts = {
      now: Date.now,
      maxAttempts: 15,
      baseDelayMs: 1000,
      maxDelayMs: 3_600_000,
      timeoutMs: 5000,
      batch: 16,
      ...opts,
      fetch: opts.fetch ?? globalThis.fetch,
    };
    opts.db.exec(OUTBOX_SCHEMA_SQL);
    this.insert = opts.db.prepare(
      "INSERT INTO notify_outbox (id, url, type, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.due = opts.db.prepare(
      "SELECT id, url, type, body, attempts FROM notify_outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
    );
    this.delivered = opts.db.prepare(
      "UPDATE notify_outbox SET state = 'delivered', delivered_at = ?, attempts = ?, last_error = NULL WHERE id = ?",
    );
    this.failed = opts.db.prepare(
      "UPDATE notify_outbox SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
    );
  }

  /** Queues an event for every configured webhook that wants it. Synchronous; joins the caller's transaction. */
  enqueue(event: OutboxEvent): number {
    const now = this.opts.now();
    let n = 0;
    for (const w of this.webhooks()) {
      if (w.events && !w.events.includes(eventCategory(event.type)) && !w.events.includes(event.type)) continue;
      const id = `evt_${randomUUID()}`;
      const body = JSON.stringify({ id, type: event.type, created_at: new Date(now).toISOString(), data: event.data });
      this.insert.run(id, w.url, event.type, body, now, now);
      n++;
    }
    return n;
  }

  /** Starts delivering due rows that are not already in flight; resolves when those deliveries have finished,
   * to the number delivered. */
  async deliverDue(): Promise<number> {
    const free = this.opts.batch - this.inFlight.size;
    if (free <= 0) return 0;
    const rows = this.due.all(this.opts.now(), this.opts.batch + this.inFlight.size).filter((r) => !this.inFlight.has(r.id));
    const started = rows.slice(0, free).map((r) => {
      const p = this.deliver(r)
        .catch(() => false)
        .finally(() => this.inFlight.delete(r.id));
      this.inFlight.set(r.id, p);
      return p;
    });
    return (await Promise.all(started)).filter(Boolean).length;
  }

  /** Delivers in the background every `intervalMs`. Returns a stop function that waits for the pass in flight. */
  start(intervalMs = 500): () => Promise<void> {
    const timer = setInterval(() => void this.deliverDue().catch(() => {}), intervalMs);
    timer.unref();
    void this.deliverDue().catch(() => {});
    return async () => {
      clearInterval(timer);
      await Promise.all(this.inFlight.values());
    };
  }

  /** Deletes delivered and dead rows older than `olderThanMs` (kept meanwhile for inspection). Returns the count. */
  purge(olderThanMs = 7 * 86_400_000): number {
    return this.opts.db
      .prepare("DELETE FROM notify_outbox WHERE state IN ('delivered', 'dead') AND created_at < ?")
      .run(this.opts.now() - olderThanMs).changes;
  }

  /** Counts by state, for metrics and tests. */
  stats(): Record<"pending" | "delivered" | "dead", number> {
    const out = { pending: 0, delivered: 0, dead: 0 };
    const rows = this.opts.db
      .prepare<[], { state: keyof typeof out; n: number }>("SELECT state, COUNT(*) AS n FROM notify_outbox GROUP BY state")
      .all();
    for (const r of rows) out[r.state] = r.n;
    return out;
  }

  private webhooks(): Webhook[] {
    return this.opts.webhooks().map((w) => (typeof w === "string" ? { url: w } : w));
  }

  private async deliver(row: OutboxRow): Promise<boolean> {
    const secret = this.webhooks().find((w) => w.url === row.url)?.secret ?? this.opts.defaultSecret;
    const attempts = row.attempts + 1;
    let error: string;
    try {
      const res = await this.opts.fetch(row.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "intent-sidecar-webhook/1",
          "x-intent-sidecar-event": row.type,
          "x-intent-sidecar-delivery": row.id,
          [SIGNATURE_HEADER]: signWebhook(secret, row.body, Math.floor(this.opts.now() / 1000)),
        },
        body: row.body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        this.delivered.run(this.opts.now(), attempts, row.id);
        return true;
      }
      error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).name === "TimeoutError" ? `timed out after ${this.opts.timeoutMs} ms` : String((err as Error).message);
    }
    const dead = attempts >= this.opts.maxAttempts;
    const delay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (attempts - 1)) * (0.75 + Math.random() * 0.5);
    this.failed.run(dead ? "dead" : "pending", attempts, error.slice(0, 300), this.opts.now() + Math.round(delay), row.id);
    return false;
  }
}
