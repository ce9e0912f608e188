// The audit hash chain in-process: appendAudit joins the caller's transaction; verifyAudit finds every kind of
// hand edit (the CLI around it is tested in test/cli/audit.test.ts).
import { afterEach, describe, expect, it } from "vitest";
import { appendAudit, openDatabase, verifyAudit, type Db } from "../../sidecar/store/index.ts";
import { removeDir, tempDir } from "./helpers.ts";

let dir: string;
let db: Db;

function fresh(rows = 4): Db {
  dir = tempDir();
  db = openDatabase(dir);
  for (let i = 1; i <= rows; i++) appendAudit(db, { type: "test.event", n: i, note: `row ${i}` });
  return db;
}
afterEach(() => {
  db?.close();
  removeDir(dir);
});

describe("audit chain", () => {
  it("an empty and an intact chain verify", () => {
    expect(verifyAudit(fresh(0))).toMatchObject({ ok: true, rows: 0 });
    db.close();
    removeDir(dir);
    expect(verifyAudit(fresh(4))).toMatchObject({ ok: true, rows: 4 });
  });

  it("survives reopening and keeps chaining", () => {
    fresh(2);
    db.close();
    db = openDatabase(dir);
    appendAudit(db, { type: "test.event", n: 3 });
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 3 });
  });

  it("an audit row appended inside a failed transaction is rolled back with it", () => {
    fresh(2);
    expect(() =>
      db.transaction(() => {
        appendAudit(db, { type: "test.event", n: 3 });
        throw new Error("abort");
      })(),
    ).toThrow("abort");
    expect(verifyAudit(db)).toMatchObject({ ok: true, rows: 2 });
  });

  const tampers: [string, string, number | null][] = [
    ["edited data", `UPDATE audit SET data_json = '{"n":99,"note":"row 2"}' WHERE seq = 2`, 2],
    ["edited timestamp", `UPDATE audit SET ts = '2020-01-01T00:00:00.000Z' WHERE seq = 3`, 3],
    ["edited type", `UPDATE audit SET type = 'other' WHERE seq = 1`, 1],
    ["deleted first row", `DELETE FROM audit WHERE seq = 1`, 1],
    ["deleted last row", `DELETE FROM audit WHERE seq = 4`, 4],
    ["deleted last two rows", `DELETE FROM audit WHERE seq >= 3`, 3],
    ["deleted head record", `DELETE FROM audit_head`, null],
    ["replaced hash", `UPDATE audit SET hash = 'sha256:' || lower(hex(randomblob(32))) WHERE seq = 2`, 2],
    ["all rows deleted", `DELETE FROM audit`, 1],
  ];
  for (const [name, sql, seq] of tampers) {
    it(`detects: ${name}`, () => {
      fresh(4);
      db.exec(sql);
      const r = verifyAudit(db);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.seq).toBe(seq);
    });
  }
});
