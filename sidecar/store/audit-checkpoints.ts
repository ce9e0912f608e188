// Signed checkpoints of the audit chain (SPEC section 10, hardening). The hash chain alone is unkeyed: whoever can
// write the SQLite file can rewrite it consistently, or delete every row, and still pass `audit verify`. So the
// daemon signs the chain head with its Ed25519 attestation key when it starts, every N rows or T seconds while
// rows are appended, and on clean shutdown: a compact JWS over {seq, head, ts, kid}, typ
// `intent-audit-checkpoint+jws` (never an attestation's typ, so the gate or proxy can never take one for an
// attestation). `verifySignedAudit` checks the chain and the latest checkpoint against the data dir's key store.
// A checkpoint is mandatory: every daemon start writes one, so a database without any was tampered with (or was
// last served by a version that did not sign checkpoints: start the daemon once).
import { verify as verifySignature, type KeyObject } from "node:crypto";
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
}

export interface Checkpoint extends CheckpointPayload {
  id: number;
  jws: string;
}

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** The compact JWS of a checkpoint, signed with `key` (the daemon's current attestation key). */
export function signCheckpoint(key: SigningKey, p: { seq: number; head: string; ts: string }): string {
  const header = b64json({ alg: "Ed25519", typ: CHECKPOINT_TYP, kid: key.kid });
  const payload = b64json({ seq: p.seq, head: p.head, ts: p.ts, kid: key.kid } satisfies CheckpointPayload);
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
      const jws = signCheckpoint(key, { seq, head: hash, ts });
      const r = db
        .prepare("INSERT INTO audit_checkpoints (seq, head, ts, kid, jws) VALUES (?, ?, ?, ?, ?)")
        .run(seq, hash, ts, key.kid, jws);
      const id = Number(r.lastInsertRowid);
      db.prepare("DELETE FROM audit_checkpoints WHERE id <= ?").run(id - KEEP_CHECKPOINTS);
      return { id, seq, head: hash, ts, kid: key.kid, jws };
    })
    .immediate();
}

/** Parses and verifies a checkpoint JWS. `keyFor` returns the public key of a kid in the key store, if any. */
export function verifyCheckpointJws(
  jws: string,
  keyFor: (kid: string) => KeyObject | undefined,
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
  const { seq, head, ts, kid } = payload;
  if (
    typeof header.kid !== "string" ||
    kid !== header.kid ||
    !Number.isSafeInteger(seq) ||
    (seq as number) < 0 ||
    typeof head !== "string" ||
    typeof ts !== "string"
  ) {
    return { ok: false, problem: "the checkpoint's payload does not have the expected shape" };
  }
  const key = keyFor(header.kid);
  if (!key) {
    return {
      ok: false,
      problem: `the checkpoint is signed by key ${header.kid}, which is not in the data dir's key store (current or retired)`,
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
  return { ok: true, payload: { seq: seq as number, head, ts, kid } };
}

export type SignedVerifyResult =
  | {
      ok: true;
      rows: number;
      head: string;
      checkpoint: CheckpointPayload;
      /** Rows appended after the last checkpoint: chained, not yet signed. */
      unsigned_rows: number;
    }
  | { ok: false; rows: number; seq: number | null; problem: string; checkpoint?: CheckpointPayload };

/** The chain (verifyAudit) and its latest signed checkpoint: the checkpoint must verify against a key of the key
 * store, the row it names must exist with the hash it signed, and the chain must not end before it. */
export function verifySignedAudit(db: Db, keyFor: (kid: string) => KeyObject | undefined): SignedVerifyResult {
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
  const v = verifyCheckpointJws(cp.jws, keyFor);
  if (!v.ok) return { ok: false, rows: chain.rows, seq: cp.seq, problem: `checkpoint at row ${cp.seq}: ${v.problem}` };
  const p = v.payload;
  if (p.seq !== cp.seq || p.head !== cp.head || p.kid !== cp.kid || p.ts !== cp.ts) {
    return {
      ok: false,
      rows: chain.rows,
      seq: cp.seq,
      problem: `checkpoint ${cp.id}: its columns differ from what it signed (row ${p.seq}, ${p.head}): edited`,
      checkpoint: p,
    };
  }
  if (chain.rows < p.seq) {
    return {
      ok: false,
      rows: chain.rows,
      seq: chain.rows + 1,
      problem:
        `the chain ends at row ${chain.rows}, but a checkpoint signed ${p.ts} covers ${p.seq} rows: ` +
        `rows ${chain.rows + 1}..${p.seq} were deleted (truncated)`,
      checkpoint: p,
    };
  }
  const rowHash =
    p.seq === 0
      ? GENESIS_HASH
      : (db.prepare("SELECT hash FROM audit WHERE seq = ?").get(p.seq) as { hash: string } | undefined)?.hash;
  if (rowHash !== p.head) {
    return {
      ok: false,
      rows: chain.rows,
      seq: p.seq,
      problem:
        `row ${p.seq} has hash ${rowHash}, but the checkpoint signed ${p.ts} says ${p.head}: ` +
        `the chain up to row ${p.seq} was rewritten`,
      checkpoint: p,
    };
  }
  return { ok: true, rows: chain.rows, head: chain.head, checkpoint: p, unsigned_rows: chain.rows - p.seq };
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
}): AuditCheckpoints {
  const { db, log } = opts;
  const settings = { ...checkpointSettingsFromEnv(), ...opts.settings };
  const now = opts.now ?? (() => new Date());
  const headSeq = db.prepare("SELECT seq FROM audit_head WHERE id = 1").pluck();
  let last: { seq: number; at: number } = { seq: -1, at: 0 };

  function checkpoint(): Checkpoint | null {
    if (!db.open || db.inTransaction) return null; // never inside someone's transaction; the next tick retries
    const t = now();
    const cp = writeCheckpoint(db, opts.key(), { now: t });
    if (cp) {
      last = { seq: cp.seq, at: t.getTime() };
      log?.info({ seq: cp.seq, head: cp.head, kid: cp.kid }, "audit checkpoint signed");
    }
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
  const timer = setInterval(
    () => {
      if (!db.open || db.inTransaction) return;
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
