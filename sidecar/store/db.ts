// The one SQLite file of the daemon (SPEC section 2): `<data-dir>/intent-sidecar.db`, WAL, opened once per process.
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { runMigrations } from "./migrations.ts";
import "./core-schema.ts"; // registers the core tables (intents, idempotency, audit)

export type Db = Database.Database;

export const DB_FILE = "intent-sidecar.db";

export function dbPath(dataDir: string): string {
  return join(dataDir, DB_FILE);
}

/** Opens (creating if needed) the data dir's database and applies every registered migration.
 * synchronous=NORMAL in WAL mode: a commit survives a process crash; an OS crash may lose the last
 * transactions but never corrupts the file (measured: FULL costs ~2x decisions/s, see docs/performance/decisions.md). */
export function openDatabase(dataDir: string, opts: { readonly?: boolean; synchronous?: "NORMAL" | "FULL" } = {}): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = dbPath(dataDir);
  // Private files: SQLite gives the -wal and -shm files the database file's mode, so create it 0600 first (and fix
  // a database made 0644 by an older version, with its -wal/-shm, after WAL is on).
  if (!opts.readonly) {
    if (!existsSync(file)) closeSync(openSync(file, "a", 0o600));
    chmodSync(file, 0o600);
  }
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma("busy_timeout = 5000");
  if (!opts.readonly) {
    db.pragma("journal_mode = WAL");
    for (const f of [`${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    db.pragma(`synchronous = ${opts.synchronous ?? "NORMAL"}`);
    db.pragma("foreign_keys = ON");
    runMigrations(db);
  }
  return db;
}
