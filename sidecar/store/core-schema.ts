// Core tables: intents (one row per decided intent), idempotency keys, and the hash-chained audit log.
import { registerMigration } from "./migrations.ts";

registerMigration({
  id: "core/001-intents",
  up(db) {
    db.exec(`
      CREATE TABLE intents (
        id            TEXT PRIMARY KEY,       -- time-ordered (UUIDv7), so inserts append to the index
        agent         TEXT NOT NULL,
        action        TEXT NOT NULL,
        digest        TEXT NOT NULL,
        intent_json   TEXT NOT NULL,          -- {agent, action, params, context}: the intent itself, no secrets
        decision      TEXT NOT NULL,          -- APPROVED | DENIED | PENDING | EXPIRED
        reasons_json  TEXT NOT NULL,
        claims_json   TEXT,                   -- the signed claims (never the token: it is re-signed on demand)
        kid           TEXT,                   -- the key that signed the claims
        hold_json     TEXT,                   -- the hold summary of a PENDING decision
        policy_digest TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE TABLE idempotency (
        agent      TEXT NOT NULL,
        key        TEXT NOT NULL,
        digest     TEXT NOT NULL,
        intent_id  TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (agent, key)
      ) WITHOUT ROWID;
    `);
  },
});

registerMigration({
  id: "core/002-audit",
  up(db) {
    db.exec(`
      CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        ts        TEXT NOT NULL,
        type      TEXT NOT NULL,
        data_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
      );
      -- The chain head lives apart from the rows, so deleting the last row(s) is detected too.
      CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT NOT NULL
      );
    `);
  },
});
