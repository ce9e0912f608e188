// Ledger table. Each reservation row carries `cum`, the running total of its (limit, scope) stream, so a rolling
// window's total is two index probes (latest cum minus the cum at the window's start) however many rows it holds.
// Amounts are integers in millionths so running totals stay exact.
export const LIMITS_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS soft_limit_ledger (
  limit_id  TEXT    NOT NULL,
  scope_key TEXT    NOT NULL,
  ts        INTEGER NOT NULL, -- ms since epoch, non-decreasing per (limit_id, scope_key)
  amount    INTEGER NOT NULL, -- millionths of the measure
  cum       INTEGER NOT NULL, -- running total of amount per (limit_id, scope_key), this row included
  intent_id TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS soft_limit_ledger_window ON soft_limit_ledger (limit_id, scope_key, ts, cum);
CREATE UNIQUE INDEX IF NOT EXISTS soft_limit_ledger_intent ON soft_limit_ledger (intent_id, limit_id);
`;

/** Fixed-point scale of ledger amounts. */
export const UNITS = 1_000_000;
