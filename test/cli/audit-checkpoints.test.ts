// Signed audit checkpoints (issue "Hardening"): the hash chain alone is unkeyed, so a writer of the SQLite file could
// rewrite it consistently or delete rows (even all of them) and still pass. The daemon (a real child process here)
// signs the chain head at start, every N rows / T seconds and on SIGTERM; `audit verify` (the real CLI) checks the
// chain and the latest checkpoint against the data dir's key store.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { generateKeyPairSync } from "node:crypto";
import { cpSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { appendAudit, auditRowHash, openDatabase } from "../../sidecar/store/index.ts";
import { signCheckpoint } from "../../sidecar/store/audit-checkpoints.ts";
import { ed25519Thumbprint, rotateKeys, type SigningKey } from "../../sidecar/attest/index.ts";
import { runCli, spawnDaemon } from "./daemon-process.ts";

const START_MS = 120_000;
let base: string;
const dirs: string[] = [];

const TOKENS = { INTENT_SIDECAR_AGENT_TOKENS: "bot=tok-bot" };

/** Declares `n` intents (each decision is one audit row). */
async function declare(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await http(`${url}/v1/intents`, {
      token: "tok-bot",
      body: { agent: "bot", action: "tool.call", params: { tool: "shell.exec", args: { cmd: `rm -rf /${i}` } } },
    });
    expect(r.body.decision, JSON.stringify(r.body)).toMatch(/^(APPROVED|DENIED|PENDING)$/);
  }
}

beforeAll(async () => {
  base = tempDir("isc-cp-");
  const d = await spawnDaemon(["--data-dir", base], TOKENS, { readyTimeoutMs: START_MS });
  await declare(d.url, 5);
  expect(await d.stop("SIGTERM")).toBe(0); // clean shutdown: the final checkpoint covers all 5 rows
}, START_MS + 30_000);
afterAll(() => [base, ...dirs].forEach(removeDir));

/** A copy of the data dir changed by `edit` through plain SQLite, as a writer of the file could. */
function tampered(edit: (db: Database.Database) => void): string {
  const dir = tempDir("isc-cp-");
  dirs.push(dir);
  cpSync(base, dir, { recursive: true });
  const db = new Database(join(dir, "intent-sidecar.db"));
  edit(db);
  db.close();
  return dir;
}

/** Rewrites every row from `fromSeq` on with consistent hashes and head: the unkeyed chain cannot tell. */
function rewriteConsistently(db: Database.Database, fromSeq: number, change: (data: any) => void): void {
  const rows = db.prepare("SELECT seq, ts, type, data_json, prev_hash FROM audit ORDER BY seq").all() as {
    seq: number;
    ts: string;
    type: string;
    data_json: string;
    prev_hash: string;
  }[];
  let prev = rows.find((r) => r.seq === fromSeq)!.prev_hash;
  for (const r of rows.filter((x) => x.seq >= fromSeq)) {
    const data = JSON.parse(r.data_json);
    if (r.seq === fromSeq) change(data);
    const hash = auditRowHash(prev, r.seq, r.ts, r.type, data);
    db.prepare("UPDATE audit SET data_json = ?, prev_hash = ?, hash = ? WHERE seq = ?").run(
      JSON.stringify(data),
      prev,
      hash,
      r.seq,
    );
    prev = hash;
  }
  db.prepare("UPDATE audit_head SET seq = ?, hash = ?").run(rows.at(-1)!.seq, prev);
}

/** Deletes rows from `fromSeq` on and moves the head to the row before: a consistent truncation. */
function truncate(db: Database.Database, fromSeq: number): void {
  db.prepare("DELETE FROM audit WHERE seq >= ?").run(fromSeq);
  const last = db.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as
    { seq: number; hash: string } | undefined;
  if (last) db.prepare("UPDATE audit_head SET seq = ?, hash = ?").run(last.seq, last.hash);
  else db.exec("DELETE FROM audit_head");
}

function verify(dir: string) {
  return runCli(["audit", "verify", "--data-dir", dir]);
}

function expectBroken(dir: string, why: RegExp): void {
  const r = verify(dir);
  expect(r.status, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toMatch(/BROKEN/);
  expect(r.stderr).toMatch(why);
}

describe("audit verify with signed checkpoints", () => {
  it("an untouched data dir verifies: chain and the checkpoint signed on SIGTERM", () => {
    const r = verify(base);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit chain ok: 5 rows, head sha256:[0-9a-f]{64}/);
    expect(r.stdout).toMatch(/signed checkpoint ok: row 5, signed \S+ by key \S+; no rows after it/);
  });

  it("rows appended after the last checkpoint are reported, and pass", () => {
    const dir = tampered(() => undefined);
    const db = openDatabase(dir);
    appendAudit(db, { type: "test.after", n: 1 });
    appendAudit(db, { type: "test.after", n: 2 });
    db.close();
    const r = verify(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit chain ok: 7 rows/);
    expect(r.stdout).toMatch(/2 rows after the last checkpoint \(not yet signed\)/);
  });

  it("a consistent rewrite (hashes and head recomputed) fails", () => {
    const dir = tampered((db) => rewriteConsistently(db, 3, (d) => (d.decision = "APPROVED")));
    expectBroken(dir, /row 5 .*checkpoint.*rewritten/);
  });

  it("a consistent truncation of the last rows fails", () => {
    expectBroken(
      tampered((db) => truncate(db, 4)),
      /chain ends at row 3, but a checkpoint .* covers 5 rows: rows 4\.\.5 were deleted \(truncated\)/,
    );
  });

  it("deleting every row (and the head) fails", () => {
    expectBroken(
      tampered((db) => truncate(db, 1)),
      /chain ends at row 0.*rows 1\.\.5 were deleted/,
    );
  });

  it("deleting the checkpoints, or the checkpoints table, fails", () => {
    expectBroken(
      tampered((db) => db.exec("DELETE FROM audit_checkpoints")),
      /no signed checkpoint.*checkpoints were deleted/,
    );
    expectBroken(
      tampered((db) => db.exec("DROP TABLE audit_checkpoints")),
      /audit_checkpoints table is missing/,
    );
    // and with it every row: an empty log of a daemon that ran still needs its start checkpoint
    expectBroken(
      tampered((db) => {
        truncate(db, 1);
        db.exec("DELETE FROM audit_checkpoints; DELETE FROM schema_migrations WHERE id = 'audit/003-checkpoints'");
        db.exec("DROP TABLE audit_checkpoints");
      }),
      /no signed checkpoint/,
    );
  });

  it("a rewrite with a checkpoint signed by another key, or with edited checkpoint columns, fails", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = (publicKey.export({ format: "jwk" }) as { x: string }).x;
    const kid = ed25519Thumbprint(x);
    const forger = { kid, privateKey, publicKey } as unknown as SigningKey;
    const forged = tampered((db) => {
      rewriteConsistently(db, 2, (d) => (d.decision = "APPROVED"));
      const head = db.prepare("SELECT seq, hash FROM audit_head").get() as { seq: number; hash: string };
      const ts = new Date().toISOString();
      db.prepare("INSERT INTO audit_checkpoints (seq, head, ts, kid, jws) VALUES (?, ?, ?, ?, ?)").run(
        head.seq,
        head.hash,
        ts,
        kid,
        signCheckpoint(forger, { seq: head.seq, head: head.hash, ts }),
      );
    });
    expectBroken(forged, /signed by key .* not in the data dir's key store/);

    const edited = tampered((db) => {
      rewriteConsistently(db, 2, (d) => (d.decision = "APPROVED"));
      db.exec("UPDATE audit_checkpoints SET head = (SELECT hash FROM audit_head)");
    });
    expectBroken(edited, /columns differ from what it signed/);
  });

  it("a checkpoint signed by a key retired since (keys rotate) still verifies", () => {
    const dir = tampered(() => undefined);
    rotateKeys(dir);
    const r = verify(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/signed checkpoint ok: row 5/);
  });
});

describe("the daemon signs while it runs", () => {
  it(
    "every N rows (INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS); after SIGKILL the unsigned rest is reported and passes",
    async () => {
      const dir = tempDir("isc-cp-");
      dirs.push(dir);
      const d = await spawnDaemon(
        ["--data-dir", dir],
        { ...TOKENS, INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS: "3", INTENT_SIDECAR_AUDIT_CHECKPOINT_SECONDS: "3600" },
        { readyTimeoutMs: START_MS },
      );
      try {
        await declare(d.url, 4);
        // the checkpointer looks once a second
        let out = "";
        for (let i = 0; i < 40 && !/signed checkpoint ok: row [34]/.test(out); i++) {
          await new Promise((r) => setTimeout(r, 250));
          out = verify(dir).stdout;
        }
        expect(out).toMatch(/signed checkpoint ok: row 4/);
        await declare(d.url, 1); // one row that the periodic rule does not sign yet
        await new Promise((r) => setTimeout(r, 1200));
      } finally {
        await d.stop("SIGKILL"); // no clean shutdown: no final checkpoint
      }
      const r = verify(dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/audit chain ok: 5 rows/);
      expect(r.stdout).toMatch(/signed checkpoint ok: row 4.*1 rows after the last checkpoint \(not yet signed\)/);
    },
    START_MS + 60_000,
  );
});

describe("the copy of the latest checkpoint outside the database", () => {
  const file = (dir: string) => join(dir, "audit-checkpoint.jws");
  const checkpoints = (db: Database.Database) =>
    db.prepare("SELECT id, seq, jws FROM audit_checkpoints ORDER BY id").all() as {
      id: number;
      seq: number;
      jws: string;
    }[];

  it("the daemon keeps it in <data-dir>/audit-checkpoint.jws (0600): the latest checkpoint", () => {
    expect(statSync(file(base)).mode & 0o777).toBe(0o600);
    const db = new Database(join(base, "intent-sidecar.db"), { readonly: true });
    const cps = checkpoints(db);
    db.close();
    expect(cps.length).toBeGreaterThan(1);
    expect(readFileSync(file(base), "utf8").trim()).toBe(cps.at(-1)!.jws);
    const r = verify(base);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/checkpoints ok: \d+ stored, chained; latest matches .*audit-checkpoint\.jws/);
  });

  it("deleting the newest checkpoints and rewriting rows after an older one: the file is newer → exit 1", () => {
    const dir = tampered((db) => {
      const first = checkpoints(db)[0]!;
      db.prepare("DELETE FROM audit_checkpoints WHERE id <> ?").run(first.id);
      rewriteConsistently(db, first.seq + 1, (d) => (d.decision = "APPROVED"));
    });
    expectBroken(dir, /is newer than the database's latest checkpoint .*rolled back/);
  });

  it("the file deleted while several checkpoints exist → exit 1 saying what that means", () => {
    const dir = tampered(() => undefined);
    unlinkSync(file(dir));
    expectBroken(dir, /audit-checkpoint\.jws is missing, but the database holds \d+ checkpoints/);
  });

  it("rows appended after the last checkpoint with a forged earlier time → exit 1", () => {
    const dir = tampered((db) => {
      const head = db.prepare("SELECT seq, hash FROM audit_head").get() as { seq: number; hash: string };
      const seq = head.seq + 1;
      const ts = "2020-01-01T00:00:00.000Z";
      const data = { decision: "APPROVED" };
      const hash = auditRowHash(head.hash, seq, ts, "decision", data);
      db.prepare("INSERT INTO audit (seq, ts, type, data_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)").run(
        seq,
        ts,
        "decision",
        JSON.stringify(data),
        head.hash,
        hash,
      );
      db.prepare("UPDATE audit_head SET seq = ?, hash = ?").run(seq, hash);
    });
    expectBroken(dir, /is dated 2020-01-01.* before the checkpoint/);
  });

  it("--checkpoint FILE: a rollback of the database AND the data dir's file verifies alone, not against an off-host copy", () => {
    const offHost = join(tempDir("isc-cp-offhost-"), "checkpoint.jws");
    dirs.push(join(offHost, ".."));
    writeFileSync(offHost, readFileSync(file(base)));
    let older = "";
    const dir = tampered((db) => {
      const cps = checkpoints(db);
      const first = cps[0]!;
      older = first.jws;
      db.prepare("DELETE FROM audit_checkpoints WHERE id <> ?").run(first.id);
      truncate(db, first.seq + 1);
    });
    writeFileSync(file(dir), older); // the attacker writes the whole data dir
    const alone = verify(dir);
    expect(alone.status, alone.stderr).toBe(0); // the documented limit
    const ok = runCli(["audit", "verify", "--data-dir", base, "--checkpoint", offHost]);
    expect(ok.status, ok.stderr).toBe(0);
    const r = runCli(["audit", "verify", "--data-dir", dir, "--checkpoint", offHost]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/checkpoint\.jws .* is newer than the database's latest checkpoint/);
    const missing = runCli(["audit", "verify", "--data-dir", base, "--checkpoint", join(dir, "nope.jws")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
  });
});
