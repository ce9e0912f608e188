// Keeps the fleet ledger small: entries that left every window of their stream are deleted, except, per stream, the
// newest entry at or before the cut-off, whose running total is the base the next window total subtracts (as the
// SQLite ledger's prune). Entries carry clock_timestamp() taken under the stream's lock, so per stream time order is
// running-total order and "newest before the cut-off" is the largest cum before it.
import type { FleetPool } from "./pool.ts";

export interface PrunableStream {
  /** The ledger's limit id (soft limit id, or RATE_PREFIX + rate limit id). */
  limitId: string;
  windowMs: number;
}

/** Deletes what no window needs any more. Returns the number of entries deleted. Limits not given are kept. */
export async function pruneLedger(db: FleetPool, limits: readonly PrunableStream[], chunk = 5000): Promise<number> {
  let deleted = 0;
  for (const l of limits) {
    for (;;) {
      const r = await db.query(
        `DELETE FROM fleet_ledger WHERE ctid IN (
           SELECT l.ctid FROM fleet_ledger l
             JOIN (SELECT scope_key, max(cum) AS keep FROM fleet_ledger
                    WHERE limit_id = $1 AND ts <= now() - $2 * interval '1 millisecond' GROUP BY scope_key) k
               ON k.scope_key = l.scope_key
            WHERE l.limit_id = $1 AND l.ts <= now() - $2 * interval '1 millisecond' AND l.cum < k.keep
            LIMIT $3)`,
        [l.limitId, l.windowMs, chunk],
      );
      deleted += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < chunk) break;
    }
  }
  return deleted;
}
