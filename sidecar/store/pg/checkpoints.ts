// Signed checkpoints of this node's audit chain in the fleet store (fleet_audit_checkpoints), the fleet-mode twin of
// sidecar/store/audit-checkpoints.ts and the same JWS (typ intent-audit-checkpoint+jws, {seq, head, ts, kid, prev}
// plus `node`), signed by this node's current Ed25519 key: at start, every N rows or T seconds while rows are
// appended (INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS / _SECONDS, as on a single host) and at stop. Each one signs the
// hash of the node's previous checkpoint (`prev`), so deleting or replacing one in the middle is detected; the latest
// is also kept in the data dir (fleet-audit-checkpoint.jws), a copy outside the database for `audit verify
// --checkpoint`. `audit verify --store` checks them against fleet_keys (sidecar/store/pg/audit-verify.ts).
import type { SigningKey } from "../../attest/keys.ts";
import { GENESIS_HASH, isoTime } from "../audit.ts";
import {
  checkpointHash,
  readCheckpointFile,
  checkpointSettingsFromEnv,
  signCheckpoint,
  writeCheckpointFile,
  type CheckpointSettings,
} from "../audit-checkpoints.ts";
import { errorMessage, type FleetPool } from "./pool.ts";

/** The copy of this node's latest fleet checkpoint, in its data dir (next to the single-host audit-checkpoint.jws). */
export const FLEET_CHECKPOINT_FILE = "fleet-audit-checkpoint.jws";
/** Checkpoints kept per node (older ones prune): verification needs the latest; the chain links it to every row. */
const KEEP_CHECKPOINTS = 1000;

export interface FleetCheckpoint {
  node: string;
  seq: number;
  hash: string;
  ts: string;
  kid: string;
  jws: string;
}

/** Signs the node's committed chain head and stores the checkpoint. Null when the latest checkpoint already covers
 * the head. The head row and the rows below it commit together (NodeChain), so the head read here is a row that
 * exists; the checkpoint row's primary key (node, seq) makes a second signer of the same head a no-op. */
export async function writeFleetCheckpoint(
  db: FleetPool,
  node: string,
  key: SigningKey,
  now: Date = new Date(),
): Promise<FleetCheckpoint | null> {
  return db.tx(async (c) => {
    const head = (await c.query<{ seq: number; hash: string }>("SELECT seq, hash FROM fleet_audit_heads WHERE node_id = $1", [node])).rows[0];
    const seq = head ? Number(head.seq) : 0;
    const hash = head?.hash ?? GENESIS_HASH;
    const last = (
      await c.query<{ seq: number; hash: string; jws: string }>(
        "SELECT seq, hash, jws FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq DESC LIMIT 1",
        [node],
      )
    ).rows[0];
    if (last && Number(last.seq) >= seq) return null;
    const ts = isoTime(now);
    const jws = signCheckpoint(key, { seq, head: hash, ts, node, prev: last ? checkpointHash(last.jws) : null });
    const r = await c.query(
      "INSERT INTO fleet_audit_checkpoints (node_id, seq, hash, jws) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
      [node, seq, hash, jws],
    );
    if (r.rowCount !== 1) return null;
    // the key is registered with the checkpoint it signed (FleetKeys registers it too, but only every few seconds:
    // right after `keys rotate` a verifier would otherwise find a checkpoint by a key the store does not know yet)
    await c.query("INSERT INTO fleet_keys (kid, node_id, jwk) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING", [
      key.kid,
      node,
      JSON.stringify(key.jwk),
    ]);
    await c.query(
      `DELETE FROM fleet_audit_checkpoints WHERE node_id = $1 AND seq < (
         SELECT seq FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
      [node, KEEP_CHECKPOINTS - 1],
    );
    return { node, seq, hash, ts, kid: key.kid, jws };
  });
}

/** Before signing at start: the store must still hold what this node signed last (its copy in the data dir), or
 * the new checkpoint would vouch for a chain rolled back or rewritten while the node was down. Throws (the node does
 * not start) naming the way out. A copy of another node id (the id file was deleted to start a new chain) is stale. */
async function checkOwnCopy(db: FleetPool, node: string, file: string): Promise<void> {
  const jws = readCheckpointFile(file);
  if (!jws) return;
  let p: { node?: unknown; seq?: unknown; head?: unknown; ts?: unknown };
  try {
    p = JSON.parse(Buffer.from(jws.split(".")[1] ?? "", "base64url").toString("utf8")) as typeof p;
  } catch {
    throw new Error(`${file} is not a checkpoint; delete it to start without this node's copy`);
  }
  if (p.node !== node || typeof p.seq !== "number" || typeof p.head !== "string") return;
  const r = (
    await db.query<{ row_hash: string | null; cp: string | null; oldest: number | null }>(
      `SELECT (SELECT hash FROM fleet_audit WHERE node_id = $1 AND seq = $2) AS row_hash,
              (SELECT jws FROM fleet_audit_checkpoints WHERE node_id = $1 AND seq = $2) AS cp,
              (SELECT min(seq) FROM fleet_audit_checkpoints WHERE node_id = $1) AS oldest`,
      [node, p.seq],
    )
  ).rows[0]!;
  const rowOk = p.seq === 0 ? true : r.row_hash === p.head;
  const kept = r.oldest !== null && p.seq >= Number(r.oldest);
  if (rowOk && (!kept || r.cp === jws)) return;
  throw new Error(
    `the fleet store no longer holds the audit checkpoint this node signed last (row ${p.seq}, signed ${String(p.ts)}, ` +
      `copy in ${file}): node ${node}'s chain or checkpoints were rolled back or rewritten (a restore from backup?). ` +
      `Run \`intent-sidecar audit verify --data-dir …\` to see what changed; to accept the store as it is, keep that ` +
      `file elsewhere as evidence, delete it and start again`,
  );
}

export interface FleetCheckpoints {
  /** Signs the head now if it moved since the last checkpoint. */
  checkpoint(): Promise<FleetCheckpoint | null>;
  /** Stops the timer and signs the final head (clean shutdown); call before the pool closes. Never throws. */
  stop(): Promise<void>;
}

interface Log {
  info(o: object, m?: string): void;
  error(o: object, m?: string): void;
}

/** The daemon's fleet checkpointer. The first checkpoint is signed before this resolves: a failure stops the start
 * (a node that cannot sign its chain should not decide). Afterwards a failure (database down) is logged once and
 * retried every tick; decisions are denied meanwhile anyway. */
export async function startFleetCheckpoints(o: {
  db: FleetPool;
  node: string;
  key: () => SigningKey;
  /** The copy of the latest checkpoint outside the database (null: none). */
  file: string | null;
  settings?: Partial<CheckpointSettings>;
  log?: Log;
  now?: () => Date;
}): Promise<FleetCheckpoints> {
  const settings = { ...checkpointSettingsFromEnv(), ...o.settings };
  const now = o.now ?? (() => new Date());
  let last = { seq: -1, at: now().getTime() };
  let failing = false;
  let busy: Promise<unknown> = Promise.resolve();

  async function checkpoint(): Promise<FleetCheckpoint | null> {
    const t = now();
    const cp = await writeFleetCheckpoint(o.db, o.node, o.key(), t);
    if (cp) {
      last = { seq: cp.seq, at: t.getTime() };
      o.log?.info({ node: cp.node, seq: cp.seq, head: cp.hash, kid: cp.kid }, "fleet audit checkpoint signed");
      if (o.file) writeCheckpointFile(o.file, cp.jws);
    }
    return cp;
  }

  /** One checkpoint at a time (a tick never overlaps the previous one or stop's). */
  function guarded(): Promise<unknown> {
    busy = busy.then(async () => {
      try {
        await checkpoint();
        if (failing) o.log?.info({ node: o.node }, "fleet audit checkpoints signed again");
        failing = false;
      } catch (e) {
        if (!failing) o.log?.error({ node: o.node, err: errorMessage(e) }, "could not sign a fleet audit checkpoint; retrying");
        failing = true;
      }
    });
    return busy;
  }

  if (o.file) await checkOwnCopy(o.db, o.node, o.file);
  const first = await checkpoint(); // at start
  if (!first) {
    const r = (await o.db.query<{ seq: number; jws: string }>(
      "SELECT seq, jws FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq DESC LIMIT 1",
      [o.node],
    )).rows[0];
    if (r) {
      last = { seq: Number(r.seq), at: now().getTime() };
      if (o.file) writeCheckpointFile(o.file, r.jws); // the copy follows the database's latest
    }
  }
  let ticking = false;
  const timer = setInterval(
    () => {
      if (ticking) return;
      ticking = true;
      o.db
        .query<{ seq: number }>("SELECT seq FROM fleet_audit_heads WHERE node_id = $1", [o.node])
        .then(async (r) => {
          const seq = Number(r.rows[0]?.seq ?? 0);
          const since = seq - last.seq;
          if (since > 0 && (since >= settings.everyRows || now().getTime() - last.at >= settings.everySeconds * 1000))
            await guarded();
        })
        .catch(() => undefined) // the database is away: the pool's health says so; the next tick retries
        .finally(() => (ticking = false));
    },
    Math.min(1000, settings.everySeconds * 1000),
  );
  timer.unref();
  let stopped: Promise<void> | undefined;
  return {
    checkpoint,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await guarded();
      })();
      return stopped;
    },
  };
}
