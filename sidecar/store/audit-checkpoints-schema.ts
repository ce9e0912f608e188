// The table of signed audit checkpoints (see audit-checkpoints.ts). Registered by audit.ts, so every database that
// has the audit chain has it too.
import { registerMigration } from "./migrations.ts";

registerMigration({
  id: "audit/003-checkpoints",
  up(db) {
    db.exec(`
      -- A checkpoint: the daemon's Ed25519 signature over {seq, head, ts, kid} of the chain at some row. The columns
      -- repeat the signed payload for queries; verification trusts only the JWS.
      CREATE TABLE audit_checkpoints (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        seq  INTEGER NOT NULL,
        head TEXT NOT NULL,
        ts   TEXT NOT NULL,
        kid  TEXT NOT NULL,
        jws  TEXT NOT NULL
      );
      CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);
    `);
  },
});
