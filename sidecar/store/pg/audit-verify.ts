// `audit verify` and `audit export` of the fleet store: every node's hash chain (fleet_audit, one writer each) checked
// by the same ChainWalker as the single-host chain, its signed checkpoints (fleet_audit_checkpoints) against the
// fleet's public keys (fleet_keys, each key bound to its node), and copies of checkpoints kept outside the database;
// the export merges all chains by time. Both read one REPEATABLE READ snapshot (sidecars may keep writing meanwhile)
// and page through the rows by key (never the whole table in memory).
import { createPublicKey, type KeyObject } from "node:crypto";
import type pg from "pg";
import { ed25519Thumbprint } from "../../attest/keys.ts";
import { ChainWalker, type StoredRow } from "../audit.ts";
import {
  checkpointHash,
  TAIL_SKEW_MS,
  verifyCheckpointJws,
  type CheckpointPayload,
  type CheckpointWitness,
} from "../audit-checkpoints.ts";

/** Rows fetched per round trip. */
const PAGE = 2000;
/** Below every seq, so rows a hand edit gave a seq below 1 are seen too. */
const MIN_SEQ = "-9223372036854775808";

export interface NodeAuditResult {
  node: string;
  ok: boolean;
  /** Rows verified (before the problem, if any). */
  rows: number;
  /** Hash of the last verified row. */
  head: string;
  /** The first bad row (null: not one row, e.g. the head record or every checkpoint is missing). */
  seq: number | null;
  problem?: string;
  /** Checkpoints stored for this node (signature, link to its predecessor and signed row hash checked). */
  checkpoints: number;
  /** The latest checkpoint, once verified. */
  checkpoint?: CheckpointPayload;
  /** Rows after the latest checkpoint (chained, not yet signed). */
  unsigned_rows?: number;
  /** Copies of this node's checkpoints that were compared (--checkpoint files). */
  witnesses: string[];
}

/** The store has no fleet_audit table: not a fleet store (or never started in fleet mode). */
export class NotAFleetStore extends Error {}

/** Runs `fn` on one connection in a read-only REPEATABLE READ transaction: every query sees one snapshot. */
async function snapshot<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const present = (
      await c.query<{ audit: boolean; cps: boolean }>(
        "SELECT to_regclass('fleet_audit') IS NOT NULL AS audit, to_regclass('fleet_audit_checkpoints') IS NOT NULL AS cps",
      )
    ).rows[0]!;
    if (!present.audit) throw new NotAFleetStore("the database has no fleet_audit table: no sidecar ran in fleet mode on it");
    const out = await fn(c);
    await c.query("COMMIT");
    return out;
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/** The node ids that have (or had) a chain: heads, rows, checkpoints, registered nodes. The rows' node ids by a loose
 * index scan (one probe per node, not a scan of the table). */
async function chainNodes(c: pg.PoolClient, hasCheckpoints: boolean): Promise<string[]> {
  const r = await c.query<{ id: string }>(
    `WITH RECURSIVE n AS (
       SELECT (SELECT min(node_id) FROM fleet_audit) AS id
       UNION ALL
       SELECT (SELECT min(node_id) FROM fleet_audit WHERE node_id > n.id) FROM n WHERE n.id IS NOT NULL)
     SELECT id FROM n WHERE id IS NOT NULL
     UNION SELECT node_id FROM fleet_audit_heads
     UNION SELECT node_id FROM fleet_nodes
     ${hasCheckpoints ? "UNION SELECT DISTINCT node_id FROM fleet_audit_checkpoints" : ""}`,
  );
  return r.rows.map((x) => x.id).sort();
}

/** The fleet's public keys by kid, each with the node that registered it. A row whose kid is not its key's
 * thumbprint vouches for nothing (left out). */
async function fleetKeys(c: pg.PoolClient): Promise<Map<string, { node: string; key: KeyObject }>> {
  const out = new Map<string, { node: string; key: KeyObject }>();
  const r = await c.query<{ kid: string; node_id: string; jwk: string }>("SELECT kid, node_id, jwk FROM fleet_keys");
  for (const row of r.rows) {
    try {
      const jwk = JSON.parse(row.jwk) as { kty?: string; crv?: string; x?: string };
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string" || ed25519Thumbprint(jwk.x) !== row.kid) continue;
      out.set(row.kid, { node: row.node_id, key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }) });
    } catch {
      // not a key: vouches for nothing
    }
  }
  return out;
}

/** Reads a witness's node without trusting it (verifyCheckpointJws then checks the signature for that node). */
function witnessNode(jws: string): string | undefined {
  try {
    const p = JSON.parse(Buffer.from(jws.split(".")[1] ?? "", "base64url").toString("utf8")) as { node?: unknown };
    return typeof p.node === "string" ? p.node : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies every node's chain and checkpoints; one result per node, sorted by node id. `witnesses`: copies of
 * checkpoints kept outside the database (each names its node). `trusted`: public keys by kid from outside the database
 * (`keys list` of each host): fleet_keys is writable by whoever can write the store, so with `trusted` a checkpoint's
 * key must also be one of these (same key material), not only registered by its node. */
export async function verifyFleetAudit(
  pool: pg.Pool,
  opts: { witnesses?: CheckpointWitness[]; trusted?: Map<string, KeyObject> } = {},
): Promise<NodeAuditResult[]> {
  return snapshot(pool, async (c) => {
    const hasCheckpoints = (await c.query<{ t: boolean }>("SELECT to_regclass('fleet_audit_checkpoints') IS NOT NULL AS t")).rows[0]!.t;
    const keys = await fleetKeys(c);
    if (opts.trusted) {
      for (const [kid, k] of keys) {
        const t = opts.trusted.get(kid);
        if (!t || !t.equals(k.key)) keys.delete(kid); // registered in the store but vouched for by no trusted file
      }
    }
    const nodes = await chainNodes(c, hasCheckpoints);
    const byNode = new Map<string, CheckpointWitness[]>();
    const results: NodeAuditResult[] = [];
    for (const w of opts.witnesses ?? []) {
      const node = w.jws === undefined ? undefined : witnessNode(w.jws);
      if (node === undefined) {
        results.push({
          node: "(unknown)",
          ok: false,
          rows: 0,
          head: "",
          seq: null,
          problem: `the checkpoint copy ${w.source} ${w.jws === undefined ? "does not exist" : "names no fleet node (not a fleet checkpoint)"}`,
          checkpoints: 0,
          witnesses: [],
        });
        continue;
      }
      if (!nodes.includes(node)) nodes.push(node);
      byNode.set(node, [...(byNode.get(node) ?? []), w]);
    }
    nodes.sort();
    const keyStore = (node: string) =>
      opts.trusted ? `the trusted keys (--jwks) registered by node ${node} (fleet_keys)` : `the fleet's keys registered by node ${node} (fleet_keys)`;
    for (const node of nodes) results.push(await verifyNode(c, node, keys, keyStore(node), hasCheckpoints, byNode.get(node) ?? []));
    return results;
  });
}

async function verifyNode(
  c: pg.PoolClient,
  node: string,
  keys: Map<string, { node: string; key: KeyObject }>,
  keyStore: string,
  hasCheckpoints: boolean,
  witnesses: CheckpointWitness[],
): Promise<NodeAuditResult> {
  const walk = new ChainWalker();
  const result = (seq: number | null, problem?: string, extra: Partial<NodeAuditResult> = {}): NodeAuditResult => ({
    node,
    ok: problem === undefined,
    rows: walk.rows,
    head: walk.prev,
    seq,
    ...(problem !== undefined ? { problem } : {}),
    checkpoints: stored.length,
    witnesses: [],
    ...extra,
  });
  const head = (await c.query<{ seq: number; hash: string }>("SELECT seq, hash FROM fleet_audit_heads WHERE node_id = $1", [node])).rows[0];
  const stored = hasCheckpoints
    ? (
        await c.query<{ seq: number; hash: string; jws: string }>(
          "SELECT seq, hash, jws FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq",
          [node],
        )
      ).rows.map((r) => ({ ...r, seq: Number(r.seq) }))
    : [];

  // the checkpoints themselves: signature by a key this node registered, columns as signed, links between them
  const keyFor = (kid: string) => {
    const k = keys.get(kid);
    return k && k.node === node ? k.key : undefined;
  };
  const signed: CheckpointPayload[] = [];
  let cpProblem: { seq: number; problem: string } | undefined;
  for (const [i, cp] of stored.entries()) {
    const v = verifyCheckpointJws(cp.jws, keyFor, { node, keyStore });
    if (!v.ok) {
      cpProblem = { seq: cp.seq, problem: `checkpoint at row ${cp.seq}: ${v.problem}` };
      break;
    }
    const p = v.payload;
    if (p.seq !== cp.seq || p.head !== cp.hash) {
      cpProblem = { seq: cp.seq, problem: `checkpoint at row ${cp.seq}: its columns differ from what it signed (row ${p.seq}, ${p.head}): edited` };
      break;
    }
    const before = stored[i - 1];
    if (before && p.prev !== checkpointHash(before.jws)) {
      cpProblem = {
        seq: cp.seq,
        problem: `checkpoint at row ${cp.seq} (signed ${p.ts}) signs a predecessor that is not the checkpoint stored before it: a checkpoint in between was deleted or replaced`,
      };
      break;
    }
    signed.push(p);
  }
  const latest = signed[signed.length - 1];

  // copies outside the database: verified, not newer than the latest stored checkpoint, equal to the one at their row
  const seen: string[] = [];
  let witnessProblem: { seq: number | null; problem: string } | undefined;
  const witnessAt = new Map<number, { source: string; head: string }>(); // rows whose hash a pruned witness vouches for
  for (const w of witnesses) {
    const v = verifyCheckpointJws(w.jws!, keyFor, { node, keyStore });
    if (!v.ok) {
      witnessProblem ??= { seq: null, problem: `the checkpoint copy ${w.source}: ${v.problem}` };
      continue;
    }
    const wp = v.payload;
    if (!latest || wp.seq > latest.seq) {
      witnessProblem ??= {
        seq: wp.seq,
        problem:
          `the checkpoint copy ${w.source} (row ${wp.seq}, signed ${wp.ts}) is newer than the store's latest checkpoint` +
          `${latest ? ` (row ${latest.seq}, signed ${latest.ts})` : ""}: checkpoints were deleted from the store (rolled back)`,
      };
      continue;
    }
    if (wp.seq >= stored[0]!.seq) {
      if (!stored.some((s) => s.seq === wp.seq && s.jws === w.jws)) {
        witnessProblem ??= {
          seq: wp.seq,
          problem: `the checkpoint copy ${w.source} (row ${wp.seq}, signed ${wp.ts}) is not the store's checkpoint at row ${wp.seq}: the store's checkpoints were replaced`,
        };
        continue;
      }
    } else witnessAt.set(wp.seq, { source: w.source, head: wp.head }); // older than every kept one: check the row
    seen.push(w.source);
  }

  // the rows, by key in pages: chained, and equal to what each checkpoint signed
  const signedAt = new Map(signed.map((p) => [p.seq, p]));
  const tailFrom = latest ? Date.parse(latest.ts) - TAIL_SKEW_MS : NaN;
  let rowProblem: { seq: number; problem: string } | undefined;
  let after = MIN_SEQ;
  for (;;) {
    const page = await c.query<StoredRow>(
      "SELECT seq, ts, type, data_json, prev_hash, hash FROM fleet_audit WHERE node_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
      [node, after, PAGE],
    );
    for (const r of page.rows) {
      r.seq = Number(r.seq);
      const bad = walk.step(r);
      if (bad) return result(bad.seq, bad.problem);
      const p = signedAt.get(r.seq);
      if (p && p.head !== r.hash) {
        rowProblem ??= {
          seq: r.seq,
          problem: `row ${r.seq} has hash ${r.hash}, but the checkpoint signed ${p.ts} says ${p.head}: the chain up to row ${r.seq} was rewritten`,
        };
      }
      const w = witnessAt.get(r.seq);
      if (w && w.head !== r.hash) rowProblem ??= { seq: r.seq, problem: `row ${r.seq} differs from what the checkpoint copy ${w.source} signed: rewritten` };
      if (latest && r.seq > latest.seq && !(Date.parse(r.ts) >= tailFrom)) {
        rowProblem ??= {
          seq: r.seq,
          problem: `row ${r.seq} is dated ${r.ts}, before the checkpoint signed ${latest.ts} that precedes it: rows after the last checkpoint were inserted or rewritten with a forged time`,
        };
      }
    }
    if (page.rows.length < PAGE) break;
    after = String(page.rows[page.rows.length - 1]!.seq);
  }
  const end = walk.end(head, "fleet_audit_heads");
  if (!end.ok) return result(end.seq, end.problem);
  if (!hasCheckpoints) return result(null, "the fleet_audit_checkpoints table is missing (deleted): the signed checkpoints that vouch for the chains are gone");
  if (cpProblem) return result(cpProblem.seq, cpProblem.problem);
  if (!latest) {
    return result(
      null,
      `no signed checkpoint, but every fleet sidecar signs one when it starts: the checkpoints were deleted (${walk.rows} rows are not vouched for)`,
    );
  }
  for (const p of [...signed].reverse()) {
    if (walk.rows < p.seq) {
      return result(
        walk.rows + 1,
        `the chain ends at row ${walk.rows}, but a checkpoint signed ${p.ts} covers ${p.seq} rows: rows ${walk.rows + 1}..${p.seq} were deleted (truncated)`,
        { checkpoint: p },
      );
    }
  }
  for (const [seq, w] of witnessAt) {
    if (walk.rows < seq) return result(walk.rows + 1, `the checkpoint copy ${w.source} covers ${seq} rows, but the chain ends at row ${walk.rows}: truncated`);
  }
  if (rowProblem) return result(rowProblem.seq, rowProblem.problem, { checkpoint: latest });
  if (witnessProblem) return result(witnessProblem.seq, witnessProblem.problem, { checkpoint: latest });
  return result(null, undefined, { checkpoint: latest, unsigned_rows: walk.rows - latest.seq, witnesses: seen });
}

export interface FleetAuditRow {
  node_id: string;
  seq: number;
  ts: string;
  type: string;
  data: unknown;
  prev_hash: string;
  hash: string;
}

/** Every node's rows merged by time (ts, then node, then seq), from one snapshot, a page at a time. `node`: only
 * that node's chain. */
export async function* fleetAuditRows(pool: pg.Pool, opts: { node?: string } = {}): AsyncGenerator<FleetAuditRow> {
  // an async generator cannot hold the snapshot's callback open, so the transaction is driven by hand
  const c = await pool.connect();
  let done = false;
  try {
    await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!(await c.query<{ t: boolean }>("SELECT to_regclass('fleet_audit') IS NOT NULL AS t")).rows[0]!.t)
      throw new NotAFleetStore("the database has no fleet_audit table: no sidecar ran in fleet mode on it");
    const only = opts.node === undefined ? "" : "AND node_id = $5";
    let key: [string, string, string] | undefined;
    for (;;) {
      const args: unknown[] = key ? [...key, PAGE] : ["", "", MIN_SEQ, PAGE];
      if (opts.node !== undefined) args.push(opts.node);
      const page = await c.query<{ node_id: string; seq: number; ts: string; type: string; data_json: string; prev_hash: string; hash: string }>(
        `SELECT node_id, seq, ts, type, data_json, prev_hash, hash FROM fleet_audit
          WHERE (ts, node_id, seq) > ($1::text, $2::text, $3::bigint) ${only}
          ORDER BY ts, node_id, seq LIMIT $4`,
        args,
      );
      for (const r of page.rows) {
        yield { node_id: r.node_id, seq: Number(r.seq), ts: r.ts, type: r.type, data: JSON.parse(r.data_json), prev_hash: r.prev_hash, hash: r.hash };
      }
      if (page.rows.length < PAGE) break;
      const last = page.rows[page.rows.length - 1]!;
      key = [last.ts, last.node_id, String(last.seq)];
    }
    await c.query("COMMIT");
    done = true;
  } finally {
    if (!done) await c.query("ROLLBACK").catch(() => undefined);
    c.release();
  }
}
