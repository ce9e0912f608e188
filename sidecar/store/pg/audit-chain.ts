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


/** The rows that follow `head` for `events` (hashed as the SQLite chain's), as columns for unnest, and the new head. */
export function chainRows(
  head: { seq: number; hash: string },
  events: readonly ChainEvent[],
): { columns: [number[], string[], string[], string[], string[], string[]]; head: { seq: number; hash: string } } {
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
  return { columns: cols, head: { seq, hash: prev } };
}

/** Thrown when the stored head is not where this process expected it (another writer, or a batch before this one
 * rolled back): the transaction is rolled back and may be retried after the head is reloaded. */
export class ChainMoved extends Error {
  readonly code = "chain_moved";
  constructor(node: string) {
    super(`audit chain head of node ${node} moved underneath this transaction`);
  }
}

/** What a transaction of NodeChain.tx may do with the chain. */
export interface ChainTx {
  /** Reserves rows for `events` after every earlier reservation of this process; the caller writes them and the
   * conditional head update (see append) in its transaction. */
  reserve(events: readonly ChainEvent[]): Promise<ChainWrite>;
  /** Reserves and writes `events` (rows and head in one statement). */
  append(events: readonly ChainEvent[]): Promise<void>;
}

/**
 * This node's chain as one process writes it. The head is kept in memory (no round trip to read it) and the rows of a
 * transaction are reserved from it; from that reservation to the transaction's end the chain is this transaction's
 * turn (an in-process mutex), so the rows land in reservation order and the head row's update is conditional on
 * still being where the rows start (`WHERE seq = from`). Transactions of this process overlap everywhere else (locks,
 * reads, the jobs); only the last write and the commit take turns. A failed transaction that had its turn forgets
 * the head, which the next turn reads again. A head that moved anyway (another process writing as this node: a copied
 * data dir) fails the condition: ChainMoved, the transaction rolls back and is retried on the true head.
 */
export class NodeChain {
  private head: { seq: number; hash: string } | undefined;
  private turn: Promise<void> = Promise.resolve();

  constructor(readonly node: string) {}

  /** Runs `fn` in a transaction of `db` that may append to this chain; retries when the head had moved. */
  async tx<T>(db: { tx<R>(fn: (c: PgClient) => Promise<R>): Promise<R> }, fn: (c: PgClient, chain: ChainTx) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let release: (() => void) | undefined;
      const take = async () => {
        if (release) return;
        const prev = this.turn;
        this.turn = new Promise<void>((r) => (release = r));
        await prev;
      };
      try {
        return await db.tx((c) => {
          const reserve = async (events: readonly ChainEvent[]): Promise<ChainWrite> => {
            await take();
            if (!this.head) {
              const h = (await c.query<{ seq: number; hash: string }>("SELECT seq, hash FROM fleet_audit_heads WHERE node_id = $1", [this.node])).rows[0];
              if (!h) throw new Error(`audit chain head for node ${this.node} is missing`);
              this.head = { seq: Number(h.seq), hash: h.hash };
            }
            const from = this.head;
            const rows = chainRows(from, events);
            this.head = rows.head;
            return { columns: rows.columns, from, to: rows.head };
          };
          return fn(c, {
            reserve,
            append: async (events) => {
              if (events.length === 0) return;
              const w = await reserve(events);
              const r = await c.query(
                `WITH a AS (INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash)
                              SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]))
                 UPDATE fleet_audit_heads SET seq = $8, hash = $9 WHERE node_id = $1 AND seq = $10 AND hash = $11`,
                [this.node, ...w.columns, w.to.seq, w.to.hash, w.from.seq, w.from.hash],
              );
              if (r.rowCount !== 1) throw new ChainMoved(this.node);
            },
          });
        });
      } catch (e) {
        if (release) this.head = undefined; // what this turn reserved was not written: read the head again
        if (!(e instanceof ChainMoved) || attempt >= 4) throw e;
      } finally {
        release?.();
      }
    }
  }
}

export interface ChainWrite {
  columns: [number[], string[], string[], string[], string[], string[]];
  from: { seq: number; hash: string };
  to: { seq: number; hash: string };
}
