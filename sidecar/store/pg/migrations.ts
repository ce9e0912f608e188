// Versioned migrations of the fleet store, applied on start. Many sidecars may start at once: every start takes one
// transaction-scoped advisory lock before reading `fleet_migrations`, so exactly one applies what is missing and the
// others then find it applied. A migration is never edited once released; add the next one.
import type { FleetPool } from "./pool.ts";

/** pg_advisory_xact_lock key of the migration step ("intent-sidecar migrations", as a fixed bigint). */
const MIGRATION_LOCK = 7_400_001;

export interface PgMigration {
  id: string;
  sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    id: "fleet/001-core",
    sql: `
      -- every sidecar of the fleet, by its node id (a random id kept in its data dir)
      CREATE TABLE fleet_nodes (
        node_id    TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen  TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      -- public signing keys of every sidecar: each serves the union as its JWKS
      CREATE TABLE fleet_keys (
        kid        TEXT PRIMARY KEY,
        node_id    TEXT NOT NULL,
        jwk        TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        retired_at TIMESTAMPTZ
      );
      -- every decided intent (the stored record: redacted intent, reasons, claims; never a token)
      CREATE TABLE fleet_intents (
        id         TEXT PRIMARY KEY,
        node_id    TEXT NOT NULL,
        agent      TEXT NOT NULL,
        action     TEXT NOT NULL,
        decision   TEXT NOT NULL,
        record     TEXT NOT NULL,
        -- set once the deciding node journaled the decision locally (after its answer): until then another node
        -- replaying the idempotency key must not hand out the record's attestation (the journal may still fail and
        -- the decision be revoked)
        confirmed  BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX fleet_intents_agent ON fleet_intents (agent, created_at);
      CREATE TABLE fleet_idempotency (
        agent      TEXT NOT NULL,
        key        TEXT NOT NULL,
        digest     TEXT NOT NULL,
        intent_id  TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (agent, key)
      );
      -- soft limits and rate limits: one head row per (limit, scope) stream, locked by check-and-reserve, so concurrent
      -- reservations on one cap are serialized fleet-wide. The head carries the stream's running total (cum) and each
      -- entry the running total after it, so a window's total is the head's cum minus the cum of the last entry
      -- before the window: one index probe, read in the statement that takes the lock. Entries carry database time.
      CREATE TABLE fleet_ledger_heads (
        limit_id  TEXT   NOT NULL,
        scope_key TEXT   NOT NULL,
        cum       BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (limit_id, scope_key)
      );
      CREATE TABLE fleet_ledger (
        limit_id  TEXT        NOT NULL,
        scope_key TEXT        NOT NULL,
        ts        TIMESTAMPTZ NOT NULL,
        amount    BIGINT      NOT NULL, -- millionths of the measure
        cum       BIGINT      NOT NULL, -- the stream's running total, this entry included
        intent_id TEXT        NOT NULL,
        PRIMARY KEY (intent_id, limit_id)
      );
      CREATE INDEX fleet_ledger_window ON fleet_ledger (limit_id, scope_key, ts, cum);
      CREATE TABLE fleet_holds (
        id                 TEXT PRIMARY KEY,
        intent_id          TEXT NOT NULL UNIQUE,
        origin             TEXT NOT NULL,   -- the node that decided: it signs the attestation on approval
        agent              TEXT NOT NULL,
        action             TEXT NOT NULL,
        intent             TEXT NOT NULL,   -- the redacted intent (no secret headers, no bodies)
        digest             TEXT NOT NULL,
        reasons            TEXT NOT NULL,
        rules              TEXT NOT NULL,
        policy_digest      TEXT NOT NULL,
        state              TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
        approvals_required INTEGER NOT NULL,
        created_at         BIGINT NOT NULL, -- ms since epoch
        expires_at         BIGINT NOT NULL,
        resolved_at        BIGINT,
        resolved_by        TEXT,
        resolution_note    TEXT,
        applied_at         BIGINT           -- when the origin carried the resolution to its intent record
      );
      CREATE INDEX fleet_holds_state ON fleet_holds (state, expires_at);
      CREATE INDEX fleet_holds_agent ON fleet_holds (agent, state);
      CREATE INDEX fleet_holds_unapplied ON fleet_holds (origin) WHERE applied_at IS NULL AND state <> 'pending';
      CREATE TABLE fleet_hold_approvals (
        hold_id  TEXT NOT NULL REFERENCES fleet_holds (id),
        operator TEXT NOT NULL,
        comment  TEXT,
        at       BIGINT NOT NULL,
        node_id  TEXT NOT NULL,
        PRIMARY KEY (hold_id, operator)
      );
      CREATE TABLE fleet_redemptions (
        jti         TEXT PRIMARY KEY,
        aud         TEXT NOT NULL,
        exp         BIGINT NOT NULL,
        redeemed_at TEXT NOT NULL,
        redeemed_by TEXT,
        node_id     TEXT NOT NULL
      );
      -- one hash chain per node (single writer each): rows as in the SQLite audit table, data as its JCS text
      CREATE TABLE fleet_audit (
        node_id   TEXT   NOT NULL,
        seq       BIGINT NOT NULL,
        ts        TEXT   NOT NULL,
        type      TEXT   NOT NULL,
        data_json TEXT   NOT NULL,
        prev_hash TEXT   NOT NULL,
        hash      TEXT   NOT NULL,
        PRIMARY KEY (node_id, seq)
      );
      CREATE INDEX fleet_audit_ts ON fleet_audit (ts);
      CREATE TABLE fleet_audit_heads (
        node_id TEXT PRIMARY KEY,
        seq     BIGINT NOT NULL,
        hash    TEXT NOT NULL
      );
      -- signed checkpoints of each chain (a JWS by the node's key over {node, seq, hash})
      CREATE TABLE fleet_audit_checkpoints (
        node_id TEXT   NOT NULL,
        seq     BIGINT NOT NULL,
        hash    TEXT   NOT NULL,
        jws     TEXT   NOT NULL,
        at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (node_id, seq)
      );
    `,
  },
];

/** Applies every migration not yet applied, under the advisory lock. Returns the ids it applied. */
export async function migrate(db: FleetPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<string[]> {
  return db.tx(async (c) => {
    await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await c.query(
      "CREATE TABLE IF NOT EXISTS fleet_migrations (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    );
    const done = new Set((await c.query<{ id: string }>("SELECT id FROM fleet_migrations")).rows.map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await c.query(m.sql);
      await c.query("INSERT INTO fleet_migrations (id) VALUES ($1)", [m.id]);
      applied.push(m.id);
    }
    return applied;
  });
}
