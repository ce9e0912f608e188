// GroupCommit on a real SQLite file: many jobs in one transaction, a failing job leaves no trace and loses none of
// the others, a job is never run twice once it announced something outside the database (pin), and the audit chain
// written through a group commit stays verifiable.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { appendAudit, dbPath, GroupCommit, openDatabase, verifyAudit, type Db } from "../../sidecar/store/index.ts";
import { removeDir, tempDir } from "../sidecar/helpers.ts";

let dir: string;
let db: Db;
const others: Database.Database[] = [];

function fresh(): Db {
  dir = tempDir("isc-group-");
  db = openDatabase(dir);
  db.exec("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT NOT NULL)");
  return db;
}
afterEach(() => {
  for (const o of others.splice(0)) o.close();
  db?.close();
  removeDir(dir);
});

/** A job like a decision: writes its row and an audit row; `fail` throws after writing them; `announce` pins. */
type Job = [n: number, opts?: { fail?: boolean; announce?: boolean }];
function makeGroup(calls: Map<number, number>, announced: number[]) {
  const group: GroupCommit<Job, number> = new GroupCommit(db, (n, opts = {}) => {
    calls.set(n, (calls.get(n) ?? 0) + 1);
    db.prepare("INSERT INTO notes (n, text) VALUES (?, ?)").run(n, `note ${n}`);
    appendAudit(db, { type: "note", n });
    if (opts.announce) {
      group.pin();
      announced.push(n);
    }
    if (opts.fail) throw new Error(`job ${n} failed`);
    return n;
  });
  return group;
}
const notes = () => db.prepare("SELECT n FROM notes ORDER BY n").pluck().all() as number[];
const auditNs = () =>
  (db.prepare("SELECT data_json FROM audit ORDER BY seq").pluck().all() as string[]).map((j) => JSON.parse(j).n);

describe("group commit", () => {
  it("a job that fails after writing leaves nothing; the others are committed once, in order", () => {
    fresh();
    const calls = new Map<number, number>();
    const results = makeGroup(calls, []).commit([[1], [2], [3, { fail: true }], [4], [5]]);
    expect(results.map((r) => r.out)).toEqual([1, 2, undefined, 4, 5]);
    expect(String(results[2]!.error)).toContain("job 3 failed");
    expect(notes()).toEqual([1, 2, 4, 5]);
    expect(auditNs()).toEqual([1, 2, 4, 5]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 4 });
    expect(calls.get(3)).toBe(1); // the failed job is not run again
  });

  it("after a job pins, a later failing job is rolled back alone and nothing before the pin runs twice", () => {
    fresh();
    const calls = new Map<number, number>();
    const announced: number[] = [];
    const results = makeGroup(calls, announced).commit([[1], [2, { announce: true }], [3], [4, { fail: true }], [5]]);
    expect(results.map((r) => r.out)).toEqual([1, 2, 3, undefined, 5]);
    expect(announced).toEqual([2]);
    expect([...calls.values()].every((c) => c === 1)).toBe(true);
    expect(notes()).toEqual([1, 2, 3, 5]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 4 });
  });

  it("several failures in one commit: each fails alone, the chain stays contiguous", () => {
    fresh();
    const results = makeGroup(new Map(), []).commit([
      [1, { fail: true }],
      [2],
      [3, { fail: true }],
      [4, { announce: true }],
      [5, { fail: true }],
      [6],
    ]);
    expect(results.map((r) => r.out ?? "x")).toEqual(["x", 2, "x", 4, "x", 6]);
    expect(notes()).toEqual([2, 4, 6]);
    expect(auditNs()).toEqual([2, 4, 6]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 3 });
  });

  it("if SQLite rolls the whole transaction back under a failing job, no later job runs outside it", () => {
    fresh();
    const calls = new Map<number, number>();
    const group: GroupCommit<Job, number> = new GroupCommit(db, (n, opts = {}) => {
      calls.set(n, (calls.get(n) ?? 0) + 1);
      db.prepare("INSERT INTO notes (n, text) VALUES (?, ?)").run(n, `note ${n}`);
      appendAudit(db, { type: "note", n });
      if (opts.announce) group.pin();
      if (opts.fail) {
        db.exec("ROLLBACK"); // what SQLite does by itself on some errors (SQLITE_FULL, SQLITE_IOERR)
        throw new Error("disk full");
      }
      return n;
    });
    const results = group.commit([[1, { announce: true }], [2, { fail: true }], [3]]);
    expect(results.every((r) => String(r.error).includes("disk full"))).toBe(true);
    expect(calls.has(3)).toBe(false);
    expect(notes()).toEqual([]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 0 });
    expect(group.commit([[4]]).map((r) => r.out)).toEqual([4]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 1 });
  });

  it("when the transaction cannot start, every job gets the error, nothing is written, and the next commit works", () => {
    fresh();
    const group = makeGroup(new Map(), []);
    group.commit([[1]]);
    const other = new Database(dbPath(dir));
    others.push(other);
    db.pragma("busy_timeout = 0");
    other.prepare("BEGIN IMMEDIATE").run(); // another process holds the write lock
    const results = group.commit([[2], [3]]);
    expect(results.every((r) => String(r.error).includes("locked"))).toBe(true);
    other.prepare("ROLLBACK").run();
    expect(group.commit([[4]]).map((r) => r.out)).toEqual([4]);
    expect(notes()).toEqual([1, 4]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 2 });
  });

  it("rows another connection appends between commits are chained, not overwritten (the head is read in the transaction)", () => {
    fresh();
    const group = makeGroup(new Map(), []);
    const cli = new Database(dbPath(dir)); // e.g. `intent-sidecar keys rotate` in another process
    others.push(cli);
    cli.pragma("busy_timeout = 5000");
    group.commit([[1], [2]]);
    appendAudit(cli, { type: "keys.rotated", n: 100 });
    group.commit([[3], [4, { fail: true }], [5]]);
    appendAudit(db, { type: "operator.action", n: 200 }); // an operator action on the daemon's own connection
    appendAudit(cli, { type: "keys.rotated", n: 101 });
    group.commit([[6]]);
    expect(auditNs()).toEqual([1, 2, 100, 3, 5, 200, 101, 6]);
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 8 });
    expect(verifyAudit(cli)).toMatchObject({ ok: true, rows: 8 });
  });

  it("deleting the last rows written by a group commit is still detected (the head is written every commit)", () => {
    fresh();
    const group = makeGroup(new Map(), []);
    group.commit([[1], [2], [3]]);
    group.commit([[4], [5]]);
    expect(db.prepare("SELECT seq FROM audit_head").pluck().get()).toBe(5);
    db.exec("DELETE FROM audit WHERE seq >= 4");
    expect(verifyAudit(db)).toMatchObject({ ok: false, seq: 4 });
  });
});
