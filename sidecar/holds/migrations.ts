// Registers the holds, soft-limit and outbox tables with the store's migrations registry, so every process that
// opens the data dir's database (daemon, CLI) sees them. The constructors also create them if missing (tests open
// bare databases).
import { registerMigration } from "../store/index.ts";
import { HOLDS_SCHEMA_SQL } from "./schema.ts";
import { LIMITS_SCHEMA_SQL } from "../limits/schema.ts";
import { RATE_SCHEMA_SQL } from "../limits/rate.ts";
import { OUTBOX_SCHEMA_SQL } from "../notify/outbox.ts";

registerMigration({ id: "holds/001-holds", up: (db) => db.exec(HOLDS_SCHEMA_SQL) });
registerMigration({ id: "limits/001-ledger", up: (db) => db.exec(LIMITS_SCHEMA_SQL) });
registerMigration({ id: "limits/002-rate-ledger", up: (db) => db.exec(RATE_SCHEMA_SQL) });
registerMigration({ id: "notify/001-outbox", up: (db) => db.exec(OUTBOX_SCHEMA_SQL) });
