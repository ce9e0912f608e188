// Signed audit checkpoints in-process: what a checkpoint signs, the time trigger, and that a checkpoint can never
// pass for an attestation (its own typ). The CLI around it: test/cli/audit-checkpoints.test.ts.
import { afterEach, describe, expect, it } from "vitest";
import { appendAudit, openDatabase, type Db } from "../../sidecar/store/index.ts";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  CHECKPOINT_FILE,
  CHECKPOINT_TYP,
  checkpointHash,
  latestCheckpoint,
  startAuditCheckpoints,
  verifySignedAudit,
  writeCheckpoint,
} from "../../sidecar/store/audit-checkpoints.ts";
import { KeyRing, storedPublicKeys } from "../../sidecar/attest/keys.ts";
import { createGate, memoryReplayStore, type JwksDocument } from "../../executor-gate/index.ts";
import { removeDir, tempDir } from "../sidecar/helpers.ts";

let dir: string;
let db: Db;
afterEach(() => {
  db?.close();
  removeDir(dir);
});

function setup(): KeyRing {
  dir = tempDir();
  db = openDatabase(dir);
  return KeyRing.open(dir);
}

describe("audit checkpoints", () => {
  it("sign {seq, head, ts, kid} of the chain head; verify against the key store", () => {
    const keys = setup();
    const pub = storedPublicKeys(dir);
    expect(verifySignedAudit(db, (k) => pub.get(k))).toMatchObject({ ok: false, problem: /no signed checkpoint/ });
    expect(writeCheckpoint(db, keys.current)).toMatchObject({ seq: 0 });
    expect(verifySignedAudit(db, (k) => pub.get(k))).toMatchObject({ ok: true, rows: 0, unsigned_rows: 0 });
    for (let i = 0; i < 3; i++) appendAudit(db, { type: "t", i });
    const cp = writeCheckpoint(db, keys.current)!;
    expect(cp).toMatchObject({ seq: 3, kid: keys.current.kid });
    expect(writeCheckpoint(db, keys.current)).toBeNull(); // head unchanged: nothing new to sign
    const [h, p] = cp.jws
      .split(".")
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, "base64url").toString()));
    expect(h).toEqual({ alg: "Ed25519", typ: CHECKPOINT_TYP, kid: keys.current.kid });
    expect(p).toEqual({ seq: 3, head: cp.head, ts: cp.ts, kid: keys.current.kid, prev: expect.any(String) });
    appendAudit(db, { type: "t", i: 4 });
    expect(verifySignedAudit(db, (k) => pub.get(k))).toMatchObject({ ok: true, rows: 4, unsigned_rows: 1 });
    // no key store, no trust
    expect(verifySignedAudit(db, () => undefined)).toMatchObject({
      ok: false,
      problem: /not in the data dir's key store/,
    });
  });

  it("a checkpoint is not an attestation: the executor gate refuses it", async () => {
    const keys = setup();
    const cp = writeCheckpoint(db, keys.current)!;
    const gate = createGate({
      jwks: keys.jwks() as unknown as JwksDocument,
      replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }),
    });
    await expect(
      gate.verify(cp.jws, { agent: "a", action: "tool.call", params: {}, context: {} }),
    ).rejects.toMatchObject({ code: "malformed" });
  });

  it("the daemon's checkpointer signs at start, after T seconds with new rows, and on stop", async () => {
    const keys = setup();
    const cps = startAuditCheckpoints({ db, key: () => keys.current, settings: { everyRows: 1000, everySeconds: 1 } });
    expect(latestCheckpoint(db)).toMatchObject({ seq: 0 });
    appendAudit(db, { type: "t", i: 1 });
    appendAudit(db, { type: "t", i: 2 });
    await new Promise((r) => setTimeout(r, 2300));
    expect(latestCheckpoint(db)).toMatchObject({ seq: 2 });
    appendAudit(db, { type: "t", i: 3 });
    cps.stop();
    expect(latestCheckpoint(db)).toMatchObject({ seq: 3 });
  });

  it("the checkpointer keeps the latest checkpoint in <data-dir>/audit-checkpoint.jws (0600)", () => {
    const keys = setup();
    const cps = startAuditCheckpoints({ db, key: () => keys.current, settings: { everyRows: 1000, everySeconds: 60 } });
    const file = join(dir, CHECKPOINT_FILE);
    expect(readFileSync(file, "utf8").trim()).toBe(latestCheckpoint(db)!.jws);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    appendAudit(db, { type: "t", i: 1 });
    cps.stop();
    expect(readFileSync(file, "utf8").trim()).toBe(latestCheckpoint(db)!.jws);
  });

  it("checkpoints are chained: each signs the previous one's hash; deleting one in the middle is detected", () => {
    const keys = setup();
    const pub = storedPublicKeys(dir);
    const keyFor = (k: string) => pub.get(k);
    const a = writeCheckpoint(db, keys.current)!;
    appendAudit(db, { type: "t", i: 1 });
    const b = writeCheckpoint(db, keys.current)!;
    appendAudit(db, { type: "t", i: 2 });
    const c = writeCheckpoint(db, keys.current)!;
    const payload = (jws: string) => JSON.parse(Buffer.from(jws.split(".")[1]!, "base64url").toString());
    expect(payload(a.jws).prev).toBeNull();
    expect(payload(b.jws).prev).toBe(checkpointHash(a.jws));
    expect(payload(c.jws).prev).toBe(checkpointHash(b.jws));
    expect(verifySignedAudit(db, keyFor)).toMatchObject({ ok: true, checkpoints: 3 });
    db.prepare("DELETE FROM audit_checkpoints WHERE id = ?").run(b.id);
    expect(verifySignedAudit(db, keyFor)).toMatchObject({ ok: false, problem: /checkpoint in between was deleted/ });
  });

  it("witnesses: a copy newer than the database's latest, or unlike its checkpoint at that row, fails", () => {
    const keys = setup();
    const pub = storedPublicKeys(dir);
    const keyFor = (k: string) => pub.get(k);
    writeCheckpoint(db, keys.current);
    appendAudit(db, { type: "t", i: 1 });
    const b = writeCheckpoint(db, keys.current)!;
    const w = (jws: string | undefined, local = false) => ({ witnesses: [{ source: "copy", jws, local }] });
    expect(verifySignedAudit(db, keyFor, w(b.jws))).toMatchObject({ ok: true, witnesses: ["copy"] });
    // a missing local file is tolerated only while there is at most the first checkpoint
    expect(verifySignedAudit(db, keyFor, w(undefined, true))).toMatchObject({ ok: false, problem: /is missing/ });
    db.prepare("DELETE FROM audit_checkpoints WHERE id = ?").run(b.id);
    expect(verifySignedAudit(db, keyFor, w(b.jws))).toMatchObject({ ok: false, problem: /rolled back/ });
    // a different checkpoint at the same row (re-signed by whoever could): not the one the copy holds
    appendAudit(db, { type: "t", i: 2 });
    const c = writeCheckpoint(db, keys.current)!;
    db.prepare("DELETE FROM audit_checkpoints WHERE id = ?").run(c.id);
    const other = writeCheckpoint(db, keys.current, { now: new Date(Date.now() + 1000) })!;
    expect(other.seq).toBe(c.seq);
    expect(verifySignedAudit(db, keyFor, w(c.jws))).toMatchObject({ ok: false, problem: /not among the database/ });
  });

  it("rows after the last checkpoint dated before it are refused (the unsigned tail is bounded)", () => {
    const keys = setup();
    const pub = storedPublicKeys(dir);
    appendAudit(db, { type: "t", i: 1 });
    writeCheckpoint(db, keys.current);
    appendAudit(db, { type: "t", i: 2 }, new Date(Date.now() - 3600_000));
    expect(verifySignedAudit(db, (k) => pub.get(k))).toMatchObject({ ok: false, seq: 2, problem: /dated .* before/ });
  });
});
