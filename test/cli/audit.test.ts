// `audit verify` (real CLI process) passes on an intact chain and exits 1 naming the first bad row after any row
// of the SQLite file is edited or deleted by hand; `audit export` writes JSON Lines.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import { fakePolicy } from "../sidecar/fake-policy.ts";
import { runCli } from "./daemon-process.ts";

let base: string;
const copies: string[] = [];

beforeAll(async () => {
  const d = await startTestDaemon({ policy: fakePolicy({ allow: ["report.send"] }) });
  for (let i = 0; i < 5; i++) {
    await http(`${d.url}/v1/intents`, {
      body: { agent: "bot", action: i % 2 ? "report.send" : "shell.rm", params: { i } },
    });
  }
  base = d.dataDir;
  await d.close();
});
afterAll(() => {
  removeDir(base);
  copies.forEach(removeDir);
});

/** A copy of the data dir with one hand edit applied through plain SQLite. */
function tampered(sql: string): string {
  const dir = tempDir();
  copies.push(dir);
  cpSync(base, dir, { recursive: true });
  const db = new Database(join(dir, "intent-sidecar.db"));
  db.exec(sql);
  db.close();
  return dir;
}

describe("audit verify / export", () => {
  it("an intact chain verifies (exit 0)", () => {
    const r = runCli(["audit", "verify", "--data-dir", base]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/audit chain ok: 5 rows, head sha256:[0-9a-f]{64}/);
  });

  it("export writes one JSON object per row, chained", () => {
    const r = runCli(["audit", "export", "--data-dir", base]);
    expect(r.status).toBe(0);
    const rows = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[0].type).toBe("decision");
    expect(rows[1].prev_hash).toBe(rows[0].hash);
    expect(rows[1].data.decision).toBe("APPROVED");
    expect(rows[0].data.decision).toBe("DENIED");
  });

  // (more tamper cases run in-process in test/sidecar/audit-chain.test.ts; each CLI run costs seconds)
  const cases: [string, string, RegExp][] = [
    [
      "an edited row",
      `UPDATE audit SET data_json = replace(data_json, '"DENIED"', '"APPROVED"') WHERE seq = 3`,
      /row 3/,
    ],
    ["a deleted middle row", `DELETE FROM audit WHERE seq = 2`, /row 2/],
    ["a deleted last row", `DELETE FROM audit WHERE seq = 5`, /row 5|head/],
  ];
  for (const [name, sql, where] of cases) {
    it(`${name} → exit 1 naming the first bad row`, () => {
      const r = runCli(["audit", "verify", "--data-dir", tampered(sql)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/BROKEN/);
      expect(r.stderr).toMatch(where);
    });
  }
});
