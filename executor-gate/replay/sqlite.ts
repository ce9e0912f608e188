// SQLite replay store: used `jti`s survive restarts of the executor. One file (WAL), safe to share between
// processes on one host: the INSERT is the atomic "first use wins".
import Database from "better-sqlite3";
import type { ReplayStore } from "./store.ts";

export interface SqliteReplayOptions {
  now?: () => number;
  /** `FULL` (default) makes each recorded use durable before the action runs; `NORMAL` survives process crashes only. */
  synchronous?: "FULL" | "NORMAL";
}

export function sqliteReplayStore(file: string, opts: SqliteReplayOptions = {}): ReplayStore & { close(): void } {
  const now = opts.now ?? Date.now;
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${opts.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
  db.pragma("busy_timeout = 5000");
  db.exec(
    "CREATE TABLE IF NOT EXISTS gate_used_jti (jti TEXT PRIMARY KEY, keep_until INTEGER NOT NULL, used_at INTEGER NOT NULL) WITHOUT ROWID",
  );
  const hasStmt = db.prepare<[string, number], { one: number }>(
    "SELECT 1 AS one FROM gate_used_jti WHERE jti = ? AND keep_until >= ?",
  );
  // A lapsed record (kept past its token's exp) may be overwritten; a live one never.
  const insertStmt = db.prepare<[string, number, number, number]>(
    "INSERT INTO gate_used_jti (jti, keep_until, used_at) VALUES (?, ?, ?) ON CONFLICT(jti) DO UPDATE SET keep_until = excluded.keep_until, used_at = excluded.used_at WHERE gate_used_jti.keep_until < ?",
  );
  const sweepStmt = db.prepare<[number]>("DELETE FROM gate_used_jti WHERE keep_until < ?");
  let nextSweep = 0;
  let closed = false;

  return {
    has(jti) {
      return hasStmt.get(jti, Math.floor(now() / 1000)) !== undefined;
    },
    consume(jti, expiresAt) {
      const t = Math.floor(now() / 1000);
      if (t >= nextSweep) {
        nextSweep = t + 300;
        sweepStmt.run(t);
      }
      return insertStmt.run(jti, Math.ceil(expiresAt), t, t).changes === 1;
    },
    close() {
      if (!closed) db.close();
      closed = true;
    },
  };
}
