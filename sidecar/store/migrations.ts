// A tiny migrations registry. Each module that owns tables registers its migrations at import time
// (`registerMigration({ id: "holds/001-holds", up(db) {...} })`); openDatabase applies the ones not yet applied,
// in registration order, each in its own transaction, and records them in `schema_migrations`.
import type Database from "better-sqlite3";

export interface Migration {
  /** Stable, unique id, prefixed by the owner: "core/001-intents", "holds/001-holds". Never rename one. */
  id: string;
  up(db: Database.Database): void;
}

const registry: Migration[] = [];

export function registerMigration(m: Migration): void {
  if (registry.some((r) => r.id === m.id)) return; // a module imported twice registers once
  registry.push(m);
}

export function registeredMigrations(): readonly Migration[] {
  return registry;
}

export function runMigrations(db: Database.Database): string[] {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
  const applied = new Set((db.prepare("SELECT id FROM schema_migrations").all() as { id: string }[]).map((r) => r.id));
  const ran: string[] = [];
  const record = db.prepare("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)");
  for (const m of registry) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      m.up(db);
      record.run(m.id, new Date().toISOString());
    }).immediate();
    ran.push(m.id);
  }
  return ran;
}
