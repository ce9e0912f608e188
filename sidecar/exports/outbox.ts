// Durable export outbox: the webhook outbox's pattern (sidecar/notify/outbox.ts) for batched sinks. An event is
// inserted synchronously, one row per configured sink, inside the transaction that produced it (a decision, a hold
// transition, a redemption), so it commits with it or not at all and survives a crash; a background loop per sink
// sends due rows in seq order, `batch` at a time, deletes them once the sink took them, and on failure retries the
// batch with exponential backoff and jitter. Nothing here runs on the decision path but the INSERT, so a dead or slow
// sink cannot delay or change a decision. Delivery is at least once (a crash between send and delete resends).
import type Database from "better-sqlite3";
import type { RetryConfig } from "./config.ts";

export const EXPORT_OUTBOX_SQL = `
CREATE TABLE IF NOT EXISTS export_outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  sink            TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  created_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS export_outbox_due ON export_outbox (sink, state, next_attempt_at, seq);
`;

export interface OutboxRow {
  seq: number;
  body: string;
  attempts: number;
  created_at: number;
}

/** Sends one batch; resolves when the sink has taken all of it, rejects otherwise (the batch is retried). */
export interface Sink {
  name: string;
  retry: RetryConfig;
  send(rows: OutboxRow[]): Promise<void>;
  close?(): Promise<void>;
}

export interface OutboxEvents {
  delivered(sink: string, n: number): void;
  failed(sink: string, error: string, dead: number): void;
}

export class ExportOutbox {
  private readonly insert: Database.Statement<[string, string, number, number]>;
  private readonly due: Database.Statement<[string, number, number], OutboxRow>;
  private readonly remove: Database.Statement<[string]>;
  private readonly retryLater: Database.Statement<[string, number, string, string]>;
  private readonly loops = new Map<string, SinkLoop>();

  constructor(
    private readonly db: Database.Database,
    private readonly sinks: readonly Sink[],
    private readonly events: OutboxEvents,
    private readonly now: () => number = Date.now,
  ) {
    db.exec(EXPORT_OUTBOX_SQL);
    this.insert = db.prepare("INSERT INTO export_outbox (sink, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?)");
    this.due = db.prepare(
      "SELECT seq, body, attempts, created_at FROM export_outbox WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
    );
    this.remove = db.prepare("DELETE FROM export_outbox WHERE seq IN (SELECT value FROM json_each(?))");
    // attempts + 1; dead once max_attempts is reached; next_attempt_at after the backoff
    this.retryLater = db.prepare(
      `UPDATE export_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
         state = CASE WHEN attempts + 1 >= ? THEN 'dead' ELSE 'pending' END
       WHERE seq IN (SELECT value FROM json_each(?))`,
    );
    for (const s of sinks) this.loops.set(s.name, new SinkLoop(this, s));
  }

  /** Queues serialized events for every sink. Synchronous: joins the caller's transaction. */
  enqueue(bodies: readonly string[]): void {
    if (bodies.length === 0) return;
    const now = this.now();
    for (const s of this.sinks) for (const b of bodies) this.insert.run(s.name, b, now, now);
    // sent shortly after the caller's transaction committed (it is synchronous, so by then it has)
    for (const l of this.loops.values()) l.kick();
  }

  start(): void {
    for (const l of this.loops.values()) l.start();
  }

  /** Stops the loops after the batches in flight; `drain` first sends what is due to sinks that finish fast (the
   * file), so a clean stop leaves it complete. */
  async stop(drainSinks: readonly string[] = []): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => l.stop(drainSinks.includes(l.sink.name))));
  }

  /** Pending and dead rows per sink (tests, the metrics gauge). */
  counts(): Record<string, { pending: number; dead: number }> {
    const out: Record<string, { pending: number; dead: number }> = {};
    for (const s of this.sinks) out[s.name] = { pending: 0, dead: 0 };
    const rows = this.db
      .prepare<[], { sink: string; state: "pending" | "dead"; n: number }>("SELECT sink, state, COUNT(*) AS n FROM export_outbox GROUP BY sink, state")
      .all();
    for (const r of rows) (out[r.sink] ??= { pending: 0, dead: 0 })[r.state] = r.n;
    return out;
  }

  /** Deletes dead rows older than a week (kept meanwhile for inspection). */
  purgeDead(olderThanMs = 7 * 86_400_000): number {
    return this.db.prepare("DELETE FROM export_outbox WHERE state = 'dead' AND created_at < ?").run(this.now() - olderThanMs).changes;
  }

  /** @internal one pass for one sink: true when a full batch went out (there may be more). */
  async pass(sink: Sink): Promise<{ sent: number; full: boolean }> {
    if (!this.db.open) return { sent: 0, full: false };
    const rows = this.due.all(sink.name, this.now(), sink.retry.batch);
    if (rows.length === 0) return { sent: 0, full: false };
    const seqs = JSON.stringify(rows.map((r) => r.seq));
    try {
      await sink.send(rows);
    } catch (e) {
      const error = String((e as Error)?.message ?? e).slice(0, 300);
      const attempts = Math.max(...rows.map((r) => r.attempts)) + 1;
      const delay = Math.min(sink.retry.maxMs, sink.retry.initialMs * 2 ** (attempts - 1)) * (0.75 + Math.random() * 0.5);
      if (!this.db.open) return { sent: 0, full: false };
      this.retryLater.run(error, this.now() + Math.round(delay), String(sink.retry.maxAttempts), seqs);
      this.events.failed(sink.name, error, rows.filter((r) => r.attempts + 1 >= sink.retry.maxAttempts).length);
      throw new RetryLater(error, this.now() + Math.round(delay));
    }
    if (this.db.open) this.remove.run(seqs);
    this.events.delivered(sink.name, rows.length);
    return { sent: rows.length, full: rows.length === sink.retry.batch };
  }

  /** @internal when the sink's next row is due (ms), or undefined when none is pending. */
  nextDue(sink: string): number | undefined {
    if (!this.db.open) return undefined;
    const r = this.db
      .prepare<[string], { t: number | null }>("SELECT MIN(next_attempt_at) AS t FROM export_outbox WHERE sink = ? AND state = 'pending'")
      .get(sink);
    return r?.t ?? undefined;
  }
}

class RetryLater extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/** One sink's delivery loop: at most one batch in flight; woken by new events (after flush_ms, so they batch up) and
 * by the next retry time. */
class SinkLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private again = false;
  /** After a failure, nothing is sent to the sink before this (ms): new events wait with the failed batch. */
  private pausedUntil = 0;

  constructor(
    private readonly outbox: ExportOutbox,
    readonly sink: Sink,
  ) {}

  start(): void {
    this.schedule(0); // what an earlier run left behind
  }

  kick(): void {
    if (this.running) this.again = true;
    else this.schedule(this.sink.retry.flushMs);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    ms = Math.max(ms, this.pausedUntil - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.run().finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    let failed = false;
    try {
      for (;;) {
        this.again = false;
        const r = await this.outbox.pass(this.sink);
        this.pausedUntil = 0;
        if (this.stopped || !r.full) break;
      }
    } catch (e) {
      failed = true; // counted and logged by the outbox's events; retried at the next due time
      this.pausedUntil = e instanceof RetryLater ? e.at : Date.now() + this.sink.retry.initialMs;
    }
    if (this.stopped) return;
    if (this.again && !failed) return void queueMicrotask(() => this.kick());
    const next = this.outbox.nextDue(this.sink.name);
    if (next !== undefined) this.schedule(Math.max(this.sink.retry.flushMs, next - Date.now()));
  }

  async stop(drain: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!drain) {
      // a hung collector must not hold the daemon's stop for its whole timeout: the batch stays queued (the pass
      // writes nothing once the database is closed) and is sent again after the restart
      await Promise.race([this.running, new Promise((r) => setTimeout(r, 1000).unref())]);
      return;
    }
    await this.running;
    try {
      for (;;) if (!(await this.outbox.pass(this.sink)).full) break;
    } catch {
      // left for the next start
    }
  }
}
