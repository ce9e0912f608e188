// Signed checkpoints of the audit chain (SPEC section 10, hardening). The hash chain alone is unkeyed: whoever can
// write the SQLite file can rewrite it consistently, or delete every row, and still pass `audit verify`. So the
// daemon signs the chain head with its Ed25519 attestation key when it starts, every N rows or T seconds while
// rows are appended, and on clean shutdown: a compact JWS over {seq, head, ts, kid}, typ
// `intent-audit-checkpoint+jws` (never an attestation's typ, so the gate or proxy can never take one for an
// attestation). `verifySignedAudit` checks the chain and the latest checkpoint against the data dir's key store.
// A checkpoint is mandatory: every daemon start writes one, so a database without any was tampered with (or was
// last served by a version that did not sign checkpoints: start the daemon once).
//
// The table is writable by whoever can write the database, so it cannot vouch for itself: deleting the newer
// checkpoints and rewriting the rows after an older genuine one (say the seq-0 checkpoint of the first start), or
// emptying the log down to it, would otherwise verify. Hence:
// - chaining: each checkpoint signs `prev`, the SHA-256 of the previous checkpoint's JWS, and `verifySignedAudit`
//   checks every stored checkpoint (signature, link to its predecessor, the row hash it signed), so deleting or
//   editing one in the middle, or rewriting rows under any of them, is detected;
// - a copy outside the database: the daemon also writes its latest checkpoint JWS to `<data-dir>/audit-checkpoint.jws`
//   (0600, atomic rename). A witness (that file, or a copy shipped off the host: `audit verify --checkpoint FILE`)
//   newer than the database's latest checkpoint, or different from the database's checkpoint at its row, means the
//   checkpoints were rolled back;
// - the unsigned tail: rows after the last checkpoint must be dated at or after its signed ts (minus a small skew).
// Remaining limit: an attacker who can write the whole data dir (database AND the file) can roll both back to an
// older consistent state; only a copy kept off the host detects that.
import { createHash, verify as verifySignature, type KeyObject } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { signInput } from "../attest/sign.ts";
import type { SigningKey } from "../attest/keys.ts";
import { GENESIS_HASH, isoTime, verifyAudit } from "./audit.ts";
import type { Db } from "./db.ts";

export const CHECKPOINT_TYP = "intent-audit-checkpoint+jws";
/** Checkpoints kept (older ones prune): verification needs only the latest, the chain links it to every row. */
const KEEP_CHECKPOINTS = 1000;

/** What a checkpoint signs. */
export interface CheckpointPayload {
  /** The last row covered (0: the empty chain). */
  seq: number;
  /** That row's hash (GENESIS_HASH for seq 0). */
  head: string;
  /** When it was signed (ISO 8601). */
  ts: string;
  /** The signing key (RFC 7638 thumbprint, as in the JWKS). */
  kid: string;
  /** SHA-256 (hex) of the previous checkpoint's JWS; null for the first. Absent in checkpoints signed by versions
   * before chaining. */
  prev?: string | null;
  /** Fleet mode: the node whose chain (fleet_audit) this checkpoint covers. Absent for the SQLite chain, and a
   * checkpoint of one kind is never accepted as the other (verifyCheckpointJws checks it against `opts.node`). */
  node?: string;
}

/** The name of the copy of the latest checkpoint kept in the data dir, outside the database. */
export const CHECKPOINT_FILE = "audit-checkpoint.jws";
/** Rows after the last checkpoint may be dated this much before its ts (a decision's time is taken before its row
 * commits, and a checkpoint may be signed in between). */
export const TAIL_SKEW_MS = 60_000;

/** The hash a checkpoint's successor signs as `prev`. */
export function checkpointHash(jws: string): string {
  return createHash("sha256").update(jws).digest("hex");
}

/** Writes the checkpoint file (0600, write to a temporary file, fsync, rename over). */
export function writeCheckpointFile(file: string, jws: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${jws}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
    throw e;
  }
}

/** The checkpoint file of the data dir holding `db` (undefined for an in-memory database). */
export function checkpointFileFor(db: Db): string | undefined {
  const name = (db as { name?: string }).name;
  return name && name !== ":memory:" && name !== "" ? join(dirname(name), CHECKPOINT_FILE) : undefined;
}

export interface Checkpoint extends CheckpointPayload {
  id: number;
  jws: string;
}

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** The compact JWS of a checkpoint, signed with `key` (the daemon's current attestation key). `node`: a fleet
 * node's chain (sidecar/store/pg/checkpoints.ts). */
export function signCheckpoint(
  key: SigningKey,
  p: { seq: number; head: string; ts: string; prev?: string | null; node?: string },
): string {
  const header = b64json({ alg: "Ed25519", typ: CHECKPOINT_TYP, kid: key.kid });
  const payload = b64json({
    seq: p.seq,
    head: p.head,
    ts: p.ts,
    kid: key.kid,
    prev: p.prev ?? null,
    ...(p.node !== undefined ? { node: p.node } : {}),
  } satisfies CheckpointPayload);
  return signInput(key, `${header}.${payload}`);
}

function tableExists(db: Db): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoints'").get() !== undefined
  );
}

/** The checkpoint covering the most rows (the newest of those), if any. */
export function latestCheckpoint(db: Db): Checkpoint | undefined {
  return db
    .prepare("SELECT id, seq, head, ts, kid, jws FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1")
    .get() as Checkpoint | undefined;
}

/** The last inserted checkpoint (the predecessor the next one links to). */
function lastInserted(db: Db): { jws: string } | undefined {
  return db.prepare("SELECT jws FROM audit_checkpoints ORDER BY id DESC LIMIT 1").get() as { jws: string } | undefined;
}

/** Signs the current chain head and stores the checkpoint, in one IMMEDIATE transaction (so the head cannot move
 * in between). Without `force`, does nothing (returns null) when the latest checkpoint already covers the head. */
export function writeCheckpoint(
  db: Db,
  key: SigningKey,
  opts: { now?: Date; force?: boolean } = {},
): Checkpoint | null {
  return db
    .transaction((): Checkpoint | null => {
      const head = db.prepare("SELECT seq, hash FROM audit_head WHERE id = 1").get() as
        { seq: number; hash: string } | undefined;
      const seq = head?.seq ?? 0;
      const hash = head?.hash ?? GENESIS_HASH;
      const last = latestCheckpoint(db);
      if (!opts.force && last && last.seq === seq && last.head === hash) return null;
      const ts = isoTime(opts.now ?? new Date());
      const before = lastInserted(db);
      const jws = signCheckpoint(key, { seq, head: hash, ts, prev: before ? checkpointHash(before.jws) : null });
      const r = db
        .prepare("INSERT INTO audit_checkpoints (seq, head, ts, kid, jws) VALUES (?, ?, ?, ?, ?)")
        .run(seq, hash, ts, key.kid, jws);
      const id = Number(r.lastInsertRowid);
      db.prepare("DELETE FROM audit_checkpoints WHERE id <= ?").run(id - KEEP_CHECKPOINTS);
      return { id, seq, head: hash, ts, kid: key.kid, jws };
    })
    .immediate();
}

/** Parses and verifies a checkpoint JWS. `keyFor` returns the public key of a kid in the key store, if any.
 * `opts.node`: the fleet node whose chain it must cover (absent: the SQLite chain, which a fleet checkpoint is not);
 * `opts.keyStore`: how to name the key store in a message. */
export function verifyCheckpointJws(
  jws: string,
  keyFor: (kid: string) => KeyObject | undefined,
  opts: { node?: string; keyStore?: string } = {},
): { ok: true; payload: CheckpointPayload } | { ok: false; problem: string } {
  const parts = typeof jws === "string" ? jws.split(".") : [];
  if (parts.length !== 3) return { ok: false, problem: "the checkpoint is not a compact JWS" };
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
    payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return { ok: false, problem: "the checkpoint's header or payload is not JSON" };
  }
  if (header.typ !== CHECKPOINT_TYP)
    return { ok: false, problem: `the checkpoint's typ is ${JSON.stringify(header.typ)}` };
  if (header.alg !== "Ed25519" && header.alg !== "EdDSA")
    return { ok: false, problem: `the checkpoint's algorithm ${JSON.stringify(header.alg)} is refused` };
  const { seq, head, ts, kid, prev, node } = payload;
  if (
    typeof header.kid !== "string" ||
    (prev !== undefined && prev !== null && typeof prev !== "string") ||
    kid !== header.kid ||
    !Number.isSafeInteger(seq) ||
    (seq as number) < 0 ||
    typeof head !== "string" ||
    typeof ts !== "string" ||
    (node !== undefined && typeof node !== "string")
  ) {
    return { ok: false, problem: "the checkpoint's payload does not have the expected shape" };
  }
  if (node !== opts.node) {
    return {
      ok: false,
      problem:
        node === undefined
          ? `the checkpoint names no node (a single-host checkpoint), not node ${opts.node}'s chain`
          : opts.node === undefined
            ? `the checkpoint covers fleet node ${String(node)}'s chain, not this data dir's`
            : `the checkpoint covers node ${String(node)}'s chain, not node ${opts.node}'s`,
    };
  }
  const key = keyFor(header.kid);
  if (!key) {
    return {
      ok: false,
      problem: `the checkpoint is signed by key ${header.kid}, which is not in ${opts.keyStore ?? "the data dir's key store (current or retired)"}`,
    };
  }
  const sig = Buffer.from(parts[2]!, "base64url");
  let good = false;
  try {
    good = sig.length === 64 && verifySignature(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, sig);
  } catch {
    good = false;
  }
  if (!good)
    return {
      ok: false,
      problem: `the checkpoint's signature does not verify with key ${header.kid} (forged or edited)`,
    };
  const out: CheckpointPayload = { seq: seq as number, head, ts, kid };
  if (prev !== undefined) out.prev = prev as string | null;
  if (node !== undefined) out.node = node as string;
  return { ok: true, payload: out };
}

export type SignedVerifyResult =
  | {
      ok: true;
      rows: number;
      head: string;
      checkpoint: CheckpointPayload;
      /** Rows appended after the last checkpoint: chained, not yet signed. */
      unsigned_rows: number;
      /** Checkpoints checked (signature, chain link, signed row hash). */
      checkpoints: number;
      /** Copies of the latest checkpoint compared (the data dir's file, --checkpoint files). */
      witnesses: string[];
    }
  | { ok: false; rows: number; seq: number | null; problem: string; checkpoint?: CheckpointPayload };

/** A copy of a checkpoint kept outside the database: `jws` undefined when the file does not exist. */
export interface CheckpointWitness {
  /** Where it came from (a path), for messages. */
  source: string;
  jws: string | undefined;
  /** The data dir's own file (its absence is judged by the number of checkpoints) rather than an operator's copy. */
  local?: boolean;
}

/** Reads a checkpoint file (undefined if it does not exist). */
export function readCheckpointFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The chain (verifyAudit), every stored checkpoint and the copies of the latest one kept outside the database:
 * - each checkpoint verifies against a key of the key store, its columns match what it signed, the row it names
 *   exists with the hash it signed, and (when chained) it signs the hash of the checkpoint stored before it;
 * - each witness verifies too, is not newer than the database's latest checkpoint, and equals the database's
 *   checkpoint at its row (a data dir's own file may only be missing while there is at most one checkpoint);
 * - rows after the latest checkpoint are not dated before it. */
export function verifySignedAudit(
  db: Db,
  keyFor: (kid: string) => KeyObject | undefined,
  opts: { witnesses?: CheckpointWitness[] } = {},
): SignedVerifyResult {
  const chain = verifyAudit(db);
  if (!chain.ok) return chain;
  if (!tableExists(db)) {
    return {
      ok: false,
      rows: chain.rows,
      seq: null,
      problem:
        "the audit_checkpoints table is missing (deleted): the signed checkpoints that vouch for the chain are gone",
    };
  }
  const all = db.prepare("SELECT id, seq, head, ts, kid, jws FROM audit_checkpoints ORDER BY id").all() as Checkpoint[];
  const cp = latestCheckpoint(db);
  if (!cp) {
    return {
      ok: false,
      rows: chain.rows,
      seq: null,
      problem:
        `no signed checkpoint, but the daemon signs one whenever it starts: the checkpoints were deleted ` +
        `(${chain.rows} rows are not vouched for). If this data dir was last served by a version without signed ` +
        `checkpoints, start the daemon once and verify again`,
    };
  }
  const rowHashAt = db.prepare("SELECT hash FROM audit WHERE seq = ?").pluck();
  const hashAt = (seq: number): string | undefined =>
    seq === 0 ? GENESIS_HASH : (rowHashAt.get(seq) as string | undefined);
  const fail = (seq: number | null, problem: string, checkpoint?: CheckpointPayload): SignedVerifyResult => ({
    ok: false,
    rows: chain.rows,
    seq,
    problem,
    ...(checkpoint ? { checkpoint } : {}),
  });

  // every stored checkpoint, oldest first
  let latest: CheckpointPayload | undefined;
  let prevJws: string | undefined;
  const signed: CheckpointPayload[] = [];
  // first the signatures, the columns and the links between checkpoints
  for (const c of all) {
    const v = verifyCheckpointJws(c.jws, keyFor);
    if (!v.ok) return fail(c.seq, `checkpoint at row ${c.seq}: ${v.problem}`);
    const p = v.payload;
    if (p.seq !== c.seq || p.head !== c.head || p.kid !== c.kid || p.ts !== c.ts) {
      return fail(
        c.seq,
        `checkpoint ${c.id}: its columns differ from what it signed (row ${p.seq}, ${p.head}): edited`,
        p,
      );
    }
    if (p.prev !== undefined && prevJws !== undefined && p.prev !== checkpointHash(prevJws)) {
      return fail(
        c.seq,
        `checkpoint ${c.id} (row ${p.seq}, signed ${p.ts}) signs a predecessor that is not the checkpoint stored ` +
          `before it: a checkpoint in between was deleted or replaced`,
        p,
      );
    }
    prevJws = c.jws;
    if (c.id === cp.id) latest = p;
    signed.push(p);
  }
  // then the rows each one vouches for
  for (const p of [...signed].reverse()) {
    if (chain.rows < p.seq) {
      return fail(
        chain.rows + 1,
        `the chain ends at row ${chain.rows}, but a checkpoint signed ${p.ts} covers ${p.seq} rows: ` +
          `rows ${chain.rows + 1}..${p.seq} were deleted (truncated)`,
        p,
      );
    }
    const rowHash = hashAt(p.seq);
    if (rowHash !== p.head) {
      return fail(
        p.seq,
        `row ${p.seq} has hash ${rowHash}, but the checkpoint signed ${p.ts} says ${p.head}: ` +
          `the chain up to row ${p.seq} was rewritten`,
        p,
      );
    }
  }
  const p = latest!;

  // the copies kept outside the database
  const seen: string[] = [];
  for (const w of opts.witnesses ?? []) {
    if (w.jws === undefined) {
      if (!w.local) return fail(null, `the checkpoint copy ${w.source} does not exist`);
      if (all.length > 1) {
        return fail(
          null,
          `the checkpoint file ${w.source} is missing, but the database holds ${all.length} checkpoints: the daemon ` +
            `writes its latest checkpoint there whenever it signs one, so the file was deleted, and nothing outside ` +
            `the database vouches that the newest checkpoints were not deleted (rolled back) with rows rewritten ` +
            `after an older one. Compare with a copy kept off the host (--checkpoint FILE). If this data dir was ` +
            `last served by a version that did not write the file, start the daemon once and verify again`,
        );
      }
      continue;
    }
    const v = verifyCheckpointJws(w.jws, keyFor);
    if (!v.ok) return fail(null, `the checkpoint copy ${w.source}: ${v.problem}`);
    const wp = v.payload;
    if (wp.seq > p.seq) {
      return fail(
        wp.seq,
        `the checkpoint copy ${w.source} (row ${wp.seq}, signed ${wp.ts}) is newer than the database's latest ` +
          `checkpoint (row ${p.seq}, signed ${p.ts}): checkpoints were deleted from the database (rolled back)` +
          (chain.rows < wp.seq ? `, and rows ${chain.rows + 1}..${wp.seq} are gone (truncated)` : ""),
        wp,
      );
    }
    const atSeq = all.filter((c) => c.seq === wp.seq);
    const oldestKept = all[0]!.seq;
    if (wp.seq > oldestKept) {
      if (!atSeq.some((c) => c.jws === w.jws)) {
        return fail(
          wp.seq,
          `the checkpoint copy ${w.source} (row ${wp.seq}, signed ${wp.ts}) is not among the database's ` +
            `checkpoints at row ${wp.seq}: the database's checkpoints were deleted or replaced`,
          wp,
        );
      }
    } else if (hashAt(wp.seq) !== wp.head) {
      // older than every checkpoint kept (pruned): the chain must still hold the head it signed
      return fail(wp.seq, `row ${wp.seq} differs from what the checkpoint copy ${w.source} signed: rewritten`, wp);
    }
    seen.push(w.source);
  }

  // the unsigned tail: rows appended after the latest checkpoint cannot be dated before it
  const limit = Date.parse(p.ts) - TAIL_SKEW_MS;
  const early = db
    .prepare("SELECT seq, ts FROM audit WHERE seq > ? ORDER BY seq")
    .all(p.seq)
    .find((r) => !(Date.parse((r as { ts: string }).ts) >= limit)) as { seq: number; ts: string } | undefined;
  if (early) {
    return fail(
      early.seq,
      `row ${early.seq} is dated ${early.ts}, before the checkpoint signed ${p.ts} that precedes it: rows after ` +
        `the last checkpoint were written after it, so they were inserted or rewritten with a forged time`,
      p,
    );
  }
  return {
    ok: true,
    rows: chain.rows,
    head: chain.head,
    checkpoint: p,
    unsigned_rows: chain.rows - p.seq,
    checkpoints: all.length,
    witnesses: seen,
  };
}

export interface CheckpointSettings {
  /** Sign once this many rows were appended since the last checkpoint. Default 1000. */
  everyRows: number;
  /** Sign when rows were appended and the last checkpoint is this old. Default 60. */
  everySeconds: number;
}

/** Settings from INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS / INTENT_SIDECAR_AUDIT_CHECKPOINT_SECONDS (positive integers). */
export function checkpointSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): CheckpointSettings {
  const read = (name: string, dflt: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return dflt;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    everyRows: read("INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS", 1000),
    everySeconds: read("INTENT_SIDECAR_AUDIT_CHECKPOINT_SECONDS", 60),
  };
}

interface CheckpointLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AuditCheckpoints {
  /** Signs the head now if it moved since the last checkpoint. */
  checkpoint(): Checkpoint | null;
  /** Stops the timer and signs the final head (clean shutdown). Call before closing the database. */
  stop(): void;
}

/** The daemon's checkpointer: signs at start, then every `everyRows` rows or `everySeconds` seconds while rows are
 * appended (checked once a second on the event loop: one indexed read), and on stop. Each checkpoint is also
 * logged (seq, head, kid): a log shipped off the host is a witness a writer of the data dir cannot roll back. */
export function startAuditCheckpoints(opts: {
  db: Db;
  key: () => SigningKey;
  settings?: Partial<CheckpointSettings>;
  log?: CheckpointLog;
  now?: () => Date;
  /** Where to keep the copy of the latest checkpoint (default: `audit-checkpoint.jws` next to the database; null:
   * none). */
  file?: string | null;
}): AuditCheckpoints {
  const { db, log } = opts;
  const file = opts.file === undefined ? checkpointFileFor(db) : (opts.file ?? undefined);
  const settings = { ...checkpointSettingsFromEnv(), ...opts.settings };
  const now = opts.now ?? (() => new Date());
  const headSeq = db.prepare("SELECT seq FROM audit_head WHERE id = 1").pluck();
  let last: { seq: number; at: number } = { seq: -1, at: 0 };
  /** A checkpoint JWS not yet in the file (its write failed: retried every tick). */
  let fileBehind: string | undefined;

  function flushFile(): void {
    if (!file || fileBehind === undefined) return;
    writeCheckpointFile(file, fileBehind); // throws: the caller logs it, the next tick retries
    fileBehind = undefined;
  }

  function checkpoint(): Checkpoint | null {
    if (!db.open || db.inTransaction) return null; // never inside someone's transaction; the next tick retries
    const t = now();
    const cp = writeCheckpoint(db, opts.key(), { now: t });
    if (cp) {
      last = { seq: cp.seq, at: t.getTime() };
      log?.info({ seq: cp.seq, head: cp.head, kid: cp.kid }, "audit checkpoint signed");
      fileBehind = cp.jws;
    }
    flushFile();
    return cp;
  }

  function guarded(): void {
    try {
      checkpoint();
    } catch (e) {
      log?.error({ err: (e as Error).message }, "could not sign an audit checkpoint; retrying");
    }
  }

  checkpoint(); // at start: a failure here stops the start (a daemon that cannot sign its audit log should not run)
  const lastNow = latestCheckpoint(db);
  if (lastNow) last = { seq: lastNow.seq, at: now().getTime() };
  // the head did not move since the last run (nothing new signed): the file still gets the latest checkpoint (a
  // data dir last served by a version that did not write it, or a write that failed)
  if (file && lastNow && readCheckpointFile(file) !== lastNow.jws) writeCheckpointFile(file, lastNow.jws);
  const timer = setInterval(
    () => {
      if (!db.open || db.inTransaction) return;
      if (fileBehind !== undefined) {
        try {
          flushFile();
        } catch (e) {
          log?.error({ err: (e as Error).message, file }, "could not write the audit checkpoint file; retrying");
        }
      }
      const seq = (headSeq.get() as number | undefined) ?? 0;
      const since = seq - last.seq;
      if (since <= 0) return;
      if (since >= settings.everyRows || now().getTime() - last.at >= settings.everySeconds * 1000) guarded();
    },
    Math.min(1000, settings.everySeconds * 1000),
  );
  timer.unref();
  let stopped = false;
  return {
    checkpoint,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      guarded();
    },
  };
}
