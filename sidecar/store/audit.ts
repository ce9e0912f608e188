// The hash-chained audit log (SPEC section 10). Every row carries the hash of the previous row; the head (last seq
// and hash) is kept in `audit_head`, so editing, deleting or truncating rows is detected by verifyAudit.
// Never put secrets in an event: no authorization headers, tokens, attestations or request bodies.
import { hash as oneShotHash } from "node:crypto";
import { canonicalize } from "../../protocol/jcs.ts";
import type { Db } from "./db.ts";
import "./audit-checkpoints-schema.ts"; // signed checkpoints of this chain (audit-checkpoints.ts)

export const GENESIS_HASH = "sha256:" + "0".repeat(64);

/** An audit event: `type` names it (e.g. "decision", "hold.approved", "proxy.denied", "policy.reloaded"); the other
 * fields are its JSON data. */
export interface AuditEvent {
  type: string;
  [field: string]: unknown;
}

export interface AuditRow {
  seq: number;
  ts: string;
  type: string;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** The hash of a row: SHA-256 over prev_hash followed by the JCS form of {seq, ts, type, data}. */
export function auditRowHash(prevHash: string, seq: number, ts: string, type: string, data: unknown): string {
  return rowHashFromCanonicalData(prevHash, seq, ts, type, canonicalize(data));
}

/** The same hash when the JCS text of `data` is already at hand: JCS sorts the row's keys as data, seq, ts, type, so
 * the row's canonical form is assembled around the data text instead of canonicalizing the data twice. */
export function rowHashFromCanonicalData(prevHash: string, seq: number, ts: string, type: string, dataJcs: string): string {
  const row = `{"data":${dataJcs},"seq":${seq},"ts":${JSON.stringify(ts)},"type":${JSON.stringify(type)}}`;
  // one-shot hash of the concatenation: the same digest as update(prev).update(row), ~1 µs cheaper per row
  return "sha256:" + oneShotHash("sha256", prevHash + row, "hex");
}

interface Statements {
  head: { get(): { seq: number; hash: string } | undefined };
  insert: { run(...a: unknown[]): unknown };
  setHead: { run(...a: unknown[]): unknown };
  /** appendIn in its own IMMEDIATE transaction, created once: db.transaction() costs ~10-30 µs per call here. */
  alone: (s: Statements, type: string, data: Record<string, unknown>, now: Date) => number;
}
const statements = new WeakMap<Db, Statements>();

function stmts(db: Db): Statements {
  let s = statements.get(db);
  if (!s) {
    s = {
      head: db.prepare("SELECT seq, hash FROM audit_head WHERE id = 1") as unknown as Statements["head"],
      insert: db.prepare("INSERT INTO audit (seq, ts, type, data_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"),
      setHead: db.prepare(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
      ),
      alone: db.transaction((st: Statements, type: string, data: Record<string, unknown>, now: Date) =>
        appendIn(st, type, data, now),
      ).immediate,
    };
    statements.set(db, s);
  }
  return s;
}

let lastIsoMs = NaN;
let lastIso = "";
/** `now.toISOString()`, remembered for the last millisecond asked: a decision's row, its audit row and the rows of
 * the decisions committed with it mostly share one timestamp, and V8 formats dates slowly (~1 µs). */
export function isoTime(now: Date): string {
  const ms = now.getTime();
  if (ms !== lastIsoMs) {
    lastIso = now.toISOString(); // throws on an invalid date, before the cache changes
    lastIsoMs = ms;
  }
  return lastIso;
}

/** The chain head as a group commit keeps it while its transaction is open (see AuditBatch). */
interface Head {
  seq: number;
  hash: string;
}
/** Open group commits, per connection. While one is open, every append on that connection goes through it. */
const batches = new WeakMap<Db, AuditBatch>();

/** Appends one event to the chain and returns its seq. Atomic on its own; inside a caller's db.transaction it joins
 * that transaction (so a decision and its audit row commit together). Synchronous: never await between this and
 * the rest of your transaction. */
export function appendAudit(db: Db, event: AuditEvent, now: Date = new Date()): number {
  const { type, ...data } = event;
  return appendAuditData(db, type, data, now);
}

/** appendAudit with the event's type and data apart (saves copying the event on the decision path). */
export function appendAuditData(db: Db, type: string, data: Record<string, unknown>, now: Date = new Date()): number {
  const s = stmts(db);
  if (!db.inTransaction) return s.alone(s, type, data, now);
  return appendIn(s, type, data, now, batches.get(db));
}

function appendIn(s: Statements, type: string, data: Record<string, unknown>, now: Date, batch?: AuditBatch): number {
  const head = batch ? batch.head() : s.head.get();
  const seq = (head?.seq ?? 0) + 1;
  const prev = head?.hash ?? GENESIS_HASH;
  const ts = isoTime(now);
  const dataJcs = canonicalize(data);
  const hash = rowHashFromCanonicalData(prev, seq, ts, type, dataJcs);
  s.insert.run(seq, ts, type, dataJcs, prev, hash);
  if (batch) batch.advance(seq, hash);
  else s.setHead.run(seq, hash);
  return seq;
}

/**
 * Group-commit mode for the audit chain: inside ONE write transaction, the head row is read once (at the first
 * append, so from inside the transaction: never a cached value another connection could have made stale) and
 * written once (`finish`, just before COMMIT), instead of a SELECT and an UPSERT per row. Outside the transaction
 * nobody sees the difference: at every commit `audit_head` is the last row, exactly as with appendAudit alone.
 * Rows appended inside a savepoint that rolls back must be forgotten too: `mark()` before the savepoint, and
 * `rollbackTo(mark)` after rolling it back. If the transaction itself fails, `close()` (in a finally) forgets all.
 */
export class AuditBatch {
  private current: Head | undefined | null = null; // null: not read yet; undefined: empty chain
  private dirty = false;

  private constructor(
    private readonly db: Db,
    private readonly s: Statements,
  ) {}

  /** Opens a batch on `db`; call inside the transaction that will commit its rows. */
  static open(db: Db): AuditBatch {
    if (!db.inTransaction) throw new Error("AuditBatch.open: call it inside the write transaction");
    if (batches.has(db)) throw new Error("AuditBatch.open: a batch is already open on this connection");
    const b = new AuditBatch(db, stmts(db));
    batches.set(db, b);
    return b;
  }

  /** @internal the head as of the last append of this transaction. */
  head(): Head | undefined {
    if (this.current === null) this.current = this.s.head.get();
    return this.current;
  }

  /** @internal */
  advance(seq: number, hash: string): void {
    this.current = { seq, hash };
    this.dirty = true;
  }

  /** The state to return to if the savepoint about to open rolls back. */
  mark(): { current: Head | undefined | null; dirty: boolean } {
    return { current: this.current, dirty: this.dirty };
  }

  rollbackTo(m: { current: Head | undefined | null; dirty: boolean }): void {
    this.current = m.current;
    this.dirty = m.dirty;
  }

  /** Writes the head row (once) and closes the batch; call last inside the transaction. */
  finish(): void {
    batches.delete(this.db);
    if (this.dirty && this.current) this.s.setHead.run(this.current.seq, this.current.hash);
    this.dirty = false;
  }

  /** Closes without writing (the transaction is being rolled back). Idempotent; safe after finish(). */
  close(): void {
    if (batches.get(this.db) === this) batches.delete(this.db);
  }
}

/** An audit row as stored (data still as its JCS text). */
export interface StoredRow {
  seq: number;
  ts: string;
  type: string;
  data_json: string;
  prev_hash: string;
  hash: string;
}

/** Stored rows in chain order, streamed (never the whole table in memory). Without `fromSeq`, every row: verify
 * must also see rows a hand edit gave a seq below 1. */
function storedRows(db: Db, fromSeq?: number): Iterable<StoredRow> {
  const cols = "SELECT seq, ts, type, data_json, prev_hash, hash FROM audit";
  return (
    fromSeq === undefined
      ? db.prepare(`${cols} ORDER BY seq`).iterate()
      : db.prepare(`${cols} WHERE seq >= ? ORDER BY seq`).iterate(fromSeq)
  ) as Iterable<StoredRow>;
}

export type VerifyResult =
  { ok: true; rows: number; head: string } | { ok: false; rows: number; seq: number | null; problem: string };

/** The checks of one chain, fed its stored rows in seq order (so the SQLite chain and each fleet node's chain in
 * PostgreSQL are verified by the same code): seqs contiguous from 1, each prev_hash equal to the previous row's hash,
 * each hash recomputed; `end` compares the last row with the stored head. */
export class ChainWalker {
  rows = 0;
  prev = GENESIS_HASH;

  /** The first problem of row `r`, or undefined when it extends the chain. */
  step(r: StoredRow): { ok: false; rows: number; seq: number; problem: string } | undefined {
    const rows = this.rows;
    const expectedSeq = rows + 1;
    if (r.seq !== expectedSeq) {
      return { ok: false, rows, seq: expectedSeq, problem: `row ${expectedSeq} is missing (next row found is ${r.seq})` };
    }
    if (r.prev_hash !== this.prev) {
      return { ok: false, rows, seq: r.seq, problem: `row ${r.seq}: prev_hash does not match the hash of row ${r.seq - 1}` };
    }
    let data: unknown;
    try {
      data = JSON.parse(r.data_json);
    } catch {
      return { ok: false, rows, seq: r.seq, problem: `row ${r.seq}: data is not valid JSON` };
    }
    let hash: string;
    try {
      hash = auditRowHash(this.prev, r.seq, r.ts, r.type, data);
    } catch {
      return { ok: false, rows, seq: r.seq, problem: `row ${r.seq}: data cannot be canonicalized` };
    }
    if (hash !== r.hash) return { ok: false, rows, seq: r.seq, problem: `row ${r.seq}: contents do not match its hash (edited)` };
    this.prev = r.hash;
    this.rows++;
    return undefined;
  }

  /** After the last row: the stored head (`headName` names its record in messages) must be that row. */
  end(head: { seq: number; hash: string } | undefined, headName = "audit_head"): VerifyResult {
    const { rows, prev } = this;
    if (!head) {
      if (rows === 0) return { ok: true, rows: 0, head: GENESIS_HASH };
      return { ok: false, rows, seq: null, problem: `the chain head record (${headName}) is missing` };
    }
    if (head.seq !== rows || head.hash !== prev) {
      return {
        ok: false,
        rows,
        seq: rows + 1,
        problem: `the chain head says ${head.seq} rows ending in ${head.hash}, but the table has ${rows} rows ending in ${prev} (rows deleted or edited at the end)`,
      };
    }
    return { ok: true, rows, head: prev };
  }
}

/** Walks the whole chain: seqs contiguous from 1, each prev_hash equal to the previous row's hash, each hash
 * recomputed, and the last row equal to the stored head. Reports the first bad row. */
export function verifyAudit(db: Db): VerifyResult {
  const head = db.prepare("SELECT seq, hash FROM audit_head WHERE id = 1").get() as
    { seq: number; hash: string } | undefined;
  const walk = new ChainWalker();
  for (const r of storedRows(db)) {
    const bad = walk.step(r);
    if (bad) return bad;
  }
  return walk.end(head);
}

/** Every row in order, for `audit export` (JSON Lines). */
export function* auditRows(db: Db, fromSeq = 1): Generator<AuditRow> {
  for (const r of storedRows(db, fromSeq)) {
    yield { seq: r.seq, ts: r.ts, type: r.type, data: JSON.parse(r.data_json), prev_hash: r.prev_hash, hash: r.hash };
  }
}
