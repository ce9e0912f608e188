// The daemon's SQLite store: open, migrations registry, intents/idempotency, hash-chained audit.
export { openDatabase, dbPath, DB_FILE, type Db } from "./db.ts";
export { registerMigration, runMigrations, registeredMigrations, type Migration } from "./migrations.ts";
export {
  appendAudit,
  appendAuditData,
  isoTime,
  AuditBatch,
  verifyAudit,
  auditRows,
  auditRowHash,
  GENESIS_HASH,
  type AuditEvent,
  type AuditRow,
  type VerifyResult,
} from "./audit.ts";
export {
  IntentStore,
  intentChanges,
  newIntentId,
  type IntentRecord,
  type IntentUpdate,
  type StoredIntent,
} from "./intents.ts";
export { redactForStorage, storedIntentClaim, isSecretHeader, type Redaction } from "./redact.ts";
export { GroupCommit, type JobResult } from "./group-commit.ts";
export { startCheckpointer, type Checkpointer } from "./checkpointer.ts";
