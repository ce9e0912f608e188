// Hold tables. A hold is the durable record of a PENDING intent; approvals are one row per distinct operator.
// Attestations are never stored: on quorum the claims are stored, and the (deterministic Ed25519) JWS is signed
// from them whenever the agent reads its intent.
export const HOLDS_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS holds (
  id                 TEXT PRIMARY KEY,
  intent_id          TEXT NOT NULL UNIQUE,
  agent              TEXT NOT NULL,
  action             TEXT NOT NULL,
  intent_json        TEXT NOT NULL,
  reasons_json       TEXT NOT NULL,
  rules_json         TEXT NOT NULL,   -- rule ids that raised the hold, for filtering and quorum overrides
  policy_digest      TEXT NOT NULL,
  state              TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
  approvals_required INTEGER NOT NULL,
  created_at         INTEGER NOT NULL, -- ms since epoch
  expires_at         INTEGER NOT NULL,
  resolved_at        INTEGER,
  resolved_by        TEXT,
  resolution_note    TEXT,
  claims_json        TEXT              -- attestation claims, set when the quorum is reached
);
CREATE INDEX IF NOT EXISTS holds_state_expiry ON holds (state, expires_at);
CREATE INDEX IF NOT EXISTS holds_agent ON holds (agent, created_at);
CREATE TABLE IF NOT EXISTS hold_approvals (
  hold_id  TEXT NOT NULL REFERENCES holds (id),
  operator TEXT NOT NULL,
  comment  TEXT,
  at       INTEGER NOT NULL,
  PRIMARY KEY (hold_id, operator)
);
`;
