// SQLite replay store: used `jti`s survive restarts of the executor. One file (WAL, mode 0600), safe to share
// between processes on one host: the INSERT is the atomic "first use wins".
// better-sqlite3 is loaded when a store is created, not when the gate is imported: executors that use
// remoteRedemption need not install it, and those that need it get a clear error when it is missing.
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { GateConfigError } from "../errors.ts";
import type { ReplayStore } from "./store.ts";

export interface SqliteReplayOptions {
  now?: () => number;
  /** `FULL` (default) makes each recorded use durable before the action runs; `NORMAL` survives process crashes only. */
  synchronous?: "FULL" | "NORMAL";
}

type DatabaseCtor = typeof BetterSqlite3;
let cached: DatabaseCtor | undefined;

/** Loads better-sqlite3 (an optional dependency of the gate). `load` is for tests. @internal (not in the published
 * types, which must not need better-sqlite3's) */
export function loadSqlite(load: (id: string) => unknown = createRequire(import.meta.url)): DatabaseCtor {
  try {
    const mod = load("better-sqlite3") as DatabaseCtor | { default: DatabaseCtor };
    const ctor = (typeof mod === "function" ? mod : mod.default) as DatabaseCtor;
    if (typeof ctor !== "function") throw new Error("better-sqlite3 did not export a constructor");
    return ctor;
  } catch (e) {
    throw new GateConfigError(
      "sqlite_unavailable",
      `the SQLite replay store needs the optional dependency better-sqlite3, which could not be loaded ` +
        `(${e instanceof Error ? e.message.split("\n")[0] : String(e)}). Install it (npm install better-sqlite3), ` +
        `or record uses at the sidecar instead: replay: remoteRedemption({ url, token }).`,
      { cause: e },
    );
  }
}

/** Creates `file` with mode 0600 if it does not exist, and tightens an existing one (and its WAL / shared-memory
 * files) to 0600: the store says which attestations were used, and a writer could free them for a second use. */
function privateFile(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    if (f === file && !existsSync(f)) closeSync(openSync(f, "a", 0o600));
    if (existsSync(f)) chmodSync(f, 0o600);
  }
}

export function sqliteReplayStore(file: string, opts: SqliteReplayOptions = {}): ReplayStore & { close(): void } {
  if (typeof file !== "string" || file === "" || file === ":memory:") {
    throw new GateConfigError(
      "replay_store_required",
      `sqliteReplayStore needs the path of a database file (got ${JSON.stringify(file)}): an in-memory or temporary ` +
        `database forgets every use on restart`,
    );
  }
  const Database = (cached ??= loadSqlite());
  const now = opts.now ?? Date.now;
  privateFile(file);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${opts.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
  db.pragma("busy_timeout = 5000");
  db.exec(
    "CREATE TABLE IF NOT EXISTS gate_used_jti (jti TEXT PRIMARY KEY, keep_until INTEGER NOT NULL, used_at INTEGER NOT NULL) WITHOUT ROWID",
  );
  privateFile(file); // the WAL and shared-memory files exist now (SQLite gives them the database's mode)
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
