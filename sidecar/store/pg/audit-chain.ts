// One hash chain per node in the fleet store (fleet_audit), with rows hashed exactly as the SQLite chain's
// (sidecar/store/audit.ts), so one verifier serves both. Appends happen inside the caller's transaction: the head row
// is read FOR UPDATE (so two writers with one node id cannot fork the chain: the second waits, then continues from
// the first's head) and written once with all the rows of that transaction.
import { canonicalize } from "../../../protocol/jcs.ts";
import { GENESIS_HASH, isoTime, rowHashFromCanonicalData } from "../audit.ts";
import type { PgClient } from "./pool.ts";

export interface ChainEvent {
  type: string;
  data: Record<string, unknown>;
  at: Date;
}

/** Makes sure the node's head row exists (once, at start). */
export async function initChain(c: { query: PgClient["query"] }, node: string): Promise<void> {
  await c.query("INSERT INTO fleet_audit_heads (node_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING", [
    node,
    GENESIS_HASH,
  ]);
}

/** Appends `events` to `node`'s chain inside the open transaction on `c`. Returns the last seq (0 when none). */
export async function appendChain(c: PgClient, node: string, events: readonly ChainEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const head = (await c.query<{ seq: number; hash: string }>(
    "SELECT seq, hash FROM fleet_audit_heads WHERE node_id = $1 FOR UPDATE",
    [node],
  )).rows[0];
  if (!head) throw new Error(`audit chain head for node ${node} is missing`);
  let seq = head.seq;
  let prev = head.hash;
  const cols: [number[], string[], string[], string[], string[], string[]] = [[], [], [], [], [], []];
  for (const e of events) {
    seq++;
    const ts = isoTime(e.at);
    const dataJcs = canonicalize(e.data);
    const hash = rowHashFromCanonicalData(prev, seq, ts, e.type, dataJcs);
    cols[0].push(seq);
    cols[1].push(ts);
    cols[2].push(e.type);
    cols[3].push(dataJcs);
    cols[4].push(prev);
    cols[5].push(hash);
    prev = hash;
  }
  await c.query(
    `INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash)
       SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
    [node, ...cols],
  );
  await c.query("UPDATE fleet_audit_heads SET seq = $2, hash = $3 WHERE node_id = $1", [node, seq, prev]);
  return seq;
}
