// The one SQLite file of the daemon (SPEC section 2): `<data-dir>/intent-sidecar.db`, WAL, opened once per process.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
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
  const db = new Database(dbPath(dataDir), { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma("busy_timeout = 5000");
  if (!opts.readonly) {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${opts.synchronous ?? "NORMAL"}`);
    db.pragma("foreign_keys = ON");
    runMigrations(db);
  }
  return db;
}
