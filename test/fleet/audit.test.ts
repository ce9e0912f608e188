// Audit in fleet mode (issue 17): two real sidecars on one real PostgreSQL each write their own hash chain and sign
// checkpoints of it; `audit verify --store` (the real CLI) checks every chain and its checkpoints, one line per node,
// and names the node and row of an edited row, a deleted last row or a forged checkpoint; `audit export --store`
// merges the chains by time. The store URL carries a password that must never be printed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { runCli, spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";
import { pgSkipReason, startPostgres, type PgCluster } from "./postgres.ts";
import { ed25519Thumbprint, type SigningKey } from "../../sidecar/attest/keys.ts";
import { signCheckpoint, verifyCheckpointJws } from "../../sidecar/store/audit-checkpoints.ts";
import { GENESIS_HASH } from "../../sidecar/store/audit.ts";
import { chainRows } from "../../sidecar/store/pg/audit-chain.ts";
import { writeFleetCheckpoint } from "../../sidecar/store/pg/checkpoints.ts";
import { openPool } from "../../sidecar/store/pg/pool.ts";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BIN } from "../cli/daemon-process.ts";

const skip = pgSkipReason();
if (skip) console.warn(`[fleet audit] skipped: ${skip}`);

const SECRET = "pw-never-printed-4711";
const POLICY = `
actions:
  allow: ["pay", "wire.send"]
custom:
  - id: big-wire
    hold: 'intent.action == "wire.send"'
    reason: wires need an operator
holds:
  approvals_required: 1
`;
const TOKENS = { bot: "tok-bot-0123456789" };
const OPS = { alice: "op-alice-0123456789" };

async function post(url: string, token: string, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const x = (publicKey.export({ format: "jwk" }) as { x: string }).x;
  const kid = ed25519Thumbprint(x);
  return { kid, privateKey, publicKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "Ed25519" } };
}

describe.skipIf(skip !== undefined)("audit in fleet mode (2 sidecars, one PostgreSQL)", () => {
  let cluster: PgCluster;
  let dir: string;
  let url: string;
  let configFile: string;
  let sql: pg.Pool;
  const nodes: string[] = []; // node ids of sidecar 0 and 1

  const verify = (args: string[] = ["--store", url], env: Record<string, string> = {}) => {
    const r = runCli(["audit", "verify", ...args], env);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    return { ...r, lines: r.stdout.trim().split("\n").filter(Boolean) };
  };
  const lineOf = (lines: string[], node: string) => lines.find((l) => l.startsWith(`node ${node}:`));

  beforeAll(async () => {
    cluster = await startPostgres();
    url = cluster.url.replace("postgres@", `postgres:${SECRET}@`); // trust auth: the password is never asked for
    dir = mkdtempSync(join(tmpdir(), "intent-sidecar-fleet-audit-"));
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    configFile = join(dir, "sidecar.yaml");
    writeFileSync(configFile, JSON.stringify({ policy: "policy.yaml", store: url, agent_tokens: TOKENS, operator_tokens: OPS }));
    const env = { INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS: "3" }; // several checkpoints per chain
    const start = (i: number) =>
      spawnDaemon(["--config", configFile, "--data-dir", join(dir, `node${i}`)], env, { dev: false, readyTimeoutMs: 60_000 });
    const sidecars: RunningDaemon[] = await Promise.all([start(0), start(1)]);
    try {
      const [s0, s1] = sidecars as [RunningDaemon, RunningDaemon];
      // two bursts of 4 decisions per node, apart: a checkpoint after each (every 3 rows), besides the start's
      for (const burst of [0, 1]) {
        if (burst) await new Promise((r) => setTimeout(r, 1500));
        for (const s of [s0, s1, s0, s1, s0, s1, s0, s1]) {
          const a = await post(`${s.url}/v1/intents`, TOKENS.bot, { agent: "bot", action: "pay", params: { usd: "1" }, context: {} });
          expect(a.body.decision).toBe("APPROVED");
        }
      }
      // a hold made on sidecar 0, approved through sidecar 1's operator API
      const held = await post(`${s0.url}/v1/intents`, TOKENS.bot, { agent: "bot", action: "wire.send", params: {}, context: {} });
      expect(held.status).toBe(202);
      const approved = await post(`${s1.operatorUrl}/v1/holds/${held.body.hold.id}/approve`, OPS.alice, { comment: "ok" });
      expect(approved.body.state).toBe("approved");
      let decided = "";
      for (let i = 0; i < 100 && decided !== "APPROVED"; i++) {
        const r = await fetch(`${s0.url}/v1/intents/${held.body.intent_id}?wait=5`, { headers: { authorization: `Bearer ${TOKENS.bot}` } });
        decided = ((await r.json()) as { decision: string }).decision;
      }
      expect(decided).toBe("APPROVED");
    } finally {
      for (const s of sidecars) expect(await s.stop("SIGTERM")).toBe(0); // each signs its final head
    }
    for (const i of [0, 1]) nodes.push(readFileSync(join(dir, `node${i}`, "fleet-node-id"), "utf8").trim());
    sql = new pg.Pool({ connectionString: cluster.url, max: 2 });
  }, 240_000);

  afterAll(async () => {
    await sql?.end();
    cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `edit`, then `check`, then puts the store back as it was (one transaction per step). */
  async function tampered(edit: string, args: unknown[], undo: string, undoArgs: unknown[], check: () => void): Promise<void> {
    await sql.query(edit, args);
    try {
      check();
    } finally {
      await sql.query(undo, undoArgs);
    }
  }

  it("verify passes for every node: via --store, the config file (with its node's checkpoint copy) and the env", async () => {
    const r = verify();
    expect(r.status, r.stderr).toBe(0);
    expect(r.lines).toHaveLength(2);
    for (const n of nodes) expect(lineOf(r.lines, n)).toMatch(/: ok, \d+ rows, head sha256:[0-9a-f]{64}; \d+ checkpoints, latest at row \d+ signed .* by key /);
    // every row of both chains is signed (the stop checkpoint at the latest), and checkpoints came every 3 rows
    const cps = await sql.query<{ node_id: string; n: number; max: number }>(
      "SELECT node_id, count(*)::int AS n, max(seq)::int AS max FROM fleet_audit_checkpoints GROUP BY node_id",
    );
    const heads = await sql.query<{ node_id: string; seq: number }>("SELECT node_id, seq::int AS seq FROM fleet_audit_heads");
    for (const h of heads.rows) {
      const cp = cps.rows.find((c) => c.node_id === h.node_id)!;
      expect(cp.max).toBe(h.seq);
      expect(cp.n).toBeGreaterThanOrEqual(3);
    }
    const viaConfig = verify(["--config", configFile, "--data-dir", join(dir, "node0")]);
    expect(viaConfig.status, viaConfig.stderr).toBe(0);
    expect(lineOf(viaConfig.lines, nodes[0]!)).toContain(`matches ${join(dir, "node0", "fleet-audit-checkpoint.jws")}`);
    const viaEnv = verify([], { INTENT_SIDECAR_DATABASE_URL: url });
    expect(viaEnv.status, viaEnv.stderr).toBe(0);
    expect(viaEnv.lines).toHaveLength(2);
    const json = verify(["--store", url, "--json"]);
    expect(json.status, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { node: string; ok: boolean; rows: number; unsigned_rows: number }[];
    expect(parsed.map((p) => p.node).sort()).toEqual([...nodes].sort());
    expect(parsed.every((p) => p.ok && p.rows > 0 && p.unsigned_rows === 0)).toBe(true);
    // --store sqlite: the data dir's own chain, as on a single host
    const local = verify(["--store", "sqlite", "--data-dir", join(dir, "node0")]);
    expect(local.status, local.stderr).toBe(0);
    expect(local.stdout).toMatch(/^audit chain ok: /);
  }, 60_000);

  it("export merges both chains by time (ts, node, seq), node_id on each row", async () => {
    const r = runCli(["audit", "export", "--store", url]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { node_id: string; seq: number; ts: string; type: string; hash: string });
    const total = (await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM fleet_audit")).rows[0]!.n;
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((x) => x.node_id))).toEqual(new Set(nodes));
    const key = (x: { ts: string; node_id: string; seq: number }) => [x.ts, x.node_id, x.seq] as const;
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [key(rows[i - 1]!), key(rows[i]!)];
      expect(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2]))), `row ${i} out of order`).toBe(true);
    }
    for (const n of nodes) {
      const seqs = rows.filter((x) => x.node_id === n).map((x) => x.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    expect(rows.some((x) => x.type.startsWith("hold"))).toBe(true);
    // one node, to a file
    const file = join(dir, "node1.jsonl");
    expect(runCli(["audit", "export", "--store", url, "--node", nodes[1]!, "-o", file]).status).toBe(0);
    const one = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { node_id: string });
    expect(one.length).toBe(rows.filter((x) => x.node_id === nodes[1]).length);
  }, 60_000);

  it("an edited row's data_json is reported with its node and row; the other node stays ok", async () => {
    const [a, b] = nodes as [string, string];
    const before = (await sql.query<{ data_json: string }>("SELECT data_json FROM fleet_audit WHERE node_id = $1 AND seq = 3", [a])).rows[0]!.data_json;
    const edited = before.includes("APPROVED") ? before.replace("APPROVED", "DENIED") : before.replace("{", '{"x":1,');
    await tampered("UPDATE fleet_audit SET data_json = $3 WHERE node_id = $1 AND seq = $2", [a, 3, edited],
      "UPDATE fleet_audit SET data_json = $3 WHERE node_id = $1 AND seq = $2", [a, 3, before], () => {
        const r = verify();
        expect(r.status).toBe(1);
        expect(lineOf(r.lines, a)).toBe(`node ${a}: BROKEN at row 3: row 3: contents do not match its hash (edited) (2 rows verified before it)`);
        expect(lineOf(r.lines, b)).toMatch(/: ok, /);
        expect(r.stderr).toContain(`fleet audit BROKEN: 1 of 2 chains`);
        expect(r.stderr).toContain(a);
      });
    expect(verify().status).toBe(0); // restored
  }, 60_000);

  it("a deleted last row is reported with its node and row, and so is a consistent truncation (head moved back)", async () => {
    const b = nodes[1]!;
    const last = (await sql.query("SELECT * FROM fleet_audit WHERE node_id = $1 ORDER BY seq DESC LIMIT 1", [b])).rows[0]!;
    const seq = Number(last.seq);
    const restore = "INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    const cols = [b, seq, last.ts, last.type, last.data_json, last.prev_hash, last.hash];
    await tampered("DELETE FROM fleet_audit WHERE node_id = $1 AND seq = $2", [b, seq], restore, cols, () => {
      const r = verify();
      expect(r.status).toBe(1);
      expect(lineOf(r.lines, b)).toMatch(new RegExp(`^node ${b}: BROKEN at row ${seq}: the chain head says ${seq} rows .* but the table has ${seq - 1} rows`));
    });
    // the head moved back too: the chain alone looks whole, the signed checkpoint says otherwise
    await sql.query("DELETE FROM fleet_audit WHERE node_id = $1 AND seq = $2", [b, seq]);
    await tampered("UPDATE fleet_audit_heads SET seq = $2, hash = $3 WHERE node_id = $1", [b, seq - 1, last.prev_hash],
      "UPDATE fleet_audit_heads SET seq = $2, hash = $3 WHERE node_id = $1", [b, seq, last.hash], () => {
        const r = verify();
        expect(r.status).toBe(1);
        expect(lineOf(r.lines, b)).toMatch(new RegExp(`^node ${b}: BROKEN at row ${seq}: the chain ends at row ${seq - 1}, but a checkpoint signed .* covers ${seq} rows: rows ${seq}..${seq} were deleted`));
      });
    await sql.query(restore, cols);
    expect(verify().status).toBe(0);
  }, 60_000);

  it("a forged or edited checkpoint is reported with its node and row", async () => {
    const [a, b] = nodes as [string, string];
    const cp = (await sql.query<{ seq: number; hash: string; jws: string }>(
      "SELECT seq::int AS seq, hash, jws FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq DESC LIMIT 1", [a],
    )).rows[0]!;
    const prev = JSON.parse(Buffer.from(cp.jws.split(".")[1]!, "base64url").toString()).prev as string;
    const forger = newKey();
    const forged = signCheckpoint(forger, { seq: cp.seq, head: cp.hash, ts: new Date().toISOString(), node: a, prev });
    const setJws = "UPDATE fleet_audit_checkpoints SET jws = $3 WHERE node_id = $1 AND seq = $2";
    const check = (problem: RegExp) => () => {
      const r = verify();
      expect(r.status).toBe(1);
      expect(lineOf(r.lines, a)).toMatch(new RegExp(`^node ${a}: BROKEN at row ${cp.seq}: checkpoint at row ${cp.seq}: ${problem.source}`));
      expect(lineOf(r.lines, b)).toMatch(/: ok, /);
    };
    // signed by a key no node registered
    await tampered(setJws, [a, cp.seq, forged], setJws, [a, cp.seq, cp.jws],
      check(new RegExp(`the checkpoint is signed by key ${forger.kid}, which is not in the fleet's keys registered by node ${a}`)));
    // ...or one registered in the name of another node
    await sql.query("INSERT INTO fleet_keys (kid, node_id, jwk) VALUES ($1, $2, $3)", [forger.kid, b, JSON.stringify(forger.jwk)]);
    try {
      await tampered(setJws, [a, cp.seq, forged], setJws, [a, cp.seq, cp.jws], check(/the checkpoint is signed by key .* not in the fleet's keys registered by node/));
    } finally {
      await sql.query("DELETE FROM fleet_keys WHERE kid = $1", [forger.kid]);
    }
    // ...or registered in the right node's name by a writer of the store: only keys from outside the store tell
    const jwksFiles = [0, 1].map((i) => {
      const f = join(dir, `jwks${i}.json`);
      const r = runCli(["keys", "list", "--data-dir", join(dir, `node${i}`)]);
      expect(r.status, r.stderr).toBe(0);
      writeFileSync(f, r.stdout);
      return f;
    });
    const withJwks = ["--store", url, ...jwksFiles.flatMap((f) => ["--jwks", f])];
    expect(verify(withJwks).status).toBe(0);
    await sql.query("INSERT INTO fleet_keys (kid, node_id, jwk) VALUES ($1, $2, $3)", [forger.kid, a, JSON.stringify(forger.jwk)]);
    try {
      await tampered(setJws, [a, cp.seq, forged], setJws, [a, cp.seq, cp.jws], () => {
        expect(verify().status).toBe(0); // the store vouches for its own forgery
        const r = verify(withJwks);
        expect(r.status).toBe(1);
        expect(lineOf(r.lines, a)).toMatch(
          new RegExp(`^node ${a}: BROKEN at row ${cp.seq}: checkpoint at row ${cp.seq}: the checkpoint is signed by key ${forger.kid}, which is not in the trusted keys \\(--jwks\\) registered by node ${a}`),
        );
      });
    } finally {
      await sql.query("DELETE FROM fleet_keys WHERE kid = $1", [forger.kid]);
    }
    // the genuine signature over an edited payload
    const [h, p, s] = cp.jws.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const edited = `${h}.${Buffer.from(JSON.stringify({ ...payload, head: "sha256:" + "1".repeat(64) })).toString("base64url")}.${s}`;
    await tampered(setJws, [a, cp.seq, edited], setJws, [a, cp.seq, cp.jws], check(/the checkpoint's signature does not verify with key .* \(forged or edited\)/));
    // every checkpoint of a node deleted
    const all = (await sql.query("SELECT node_id, seq, hash, jws, at FROM fleet_audit_checkpoints WHERE node_id = $1", [b])).rows;
    await sql.query("DELETE FROM fleet_audit_checkpoints WHERE node_id = $1", [b]);
    try {
      const r = verify();
      expect(r.status).toBe(1);
      expect(lineOf(r.lines, b)).toMatch(/BROKEN: no signed checkpoint, but every fleet sidecar signs one when it starts/);
    } finally {
      for (const c of all)
        await sql.query("INSERT INTO fleet_audit_checkpoints (node_id, seq, hash, jws, at) VALUES ($1, $2, $3, $4, $5)", [c.node_id, c.seq, c.hash, c.jws, c.at]);
    }
    expect(verify().status).toBe(0);
  }, 60_000);

  it("a long chain is read in pages: verify and export cross page boundaries; an edit on the third page is found", async () => {
    // a third node's chain written as NodeChain writes it, 4500 rows (pages of 2000), signed by its registered key
    const node = "zz-synthetic";
    const key = newKey();
    const t0 = Date.now();
    const events = Array.from({ length: 4500 }, (_, i) => ({ type: "decision", data: { i, decision: "APPROVED" }, at: new Date(t0 + i) }));
    const { columns, head } = chainRows({ seq: 0, hash: GENESIS_HASH }, events);
    await sql.query(
      "INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
      [node, ...columns],
    );
    await sql.query("INSERT INTO fleet_audit_heads (node_id, seq, hash) VALUES ($1, $2, $3)", [node, head.seq, head.hash]);
    await sql.query("INSERT INTO fleet_keys (kid, node_id, jwk) VALUES ($1, $2, $3)", [key.kid, node, JSON.stringify(key.jwk)]);
    const db = openPool(cluster.url);
    try {
      const cp = await writeFleetCheckpoint(db, node, key);
      expect(cp).toMatchObject({ node, seq: 4500, hash: head.hash, kid: key.kid });
      expect(await writeFleetCheckpoint(db, node, key)).toBeNull(); // the head did not move: nothing new to sign
      const r = verify();
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(lineOf(r.lines, node)).toMatch(/: ok, 4500 rows, .*1 checkpoints, latest at row 4500/);
      const file = join(dir, "all.jsonl");
      expect(runCli(["audit", "export", "--store", url, "-o", file]).status).toBe(0);
      const rows = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { node_id: string; seq: number; ts: string });
      const mine = rows.filter((x) => x.node_id === node);
      expect(mine.map((x) => x.seq)).toEqual(events.map((_, i) => i + 1));
      for (let i = 1; i < rows.length; i++) expect(rows[i - 1]!.ts <= rows[i]!.ts).toBe(true);
      expect(rows.length).toBe((await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM fleet_audit")).rows[0]!.n);
      await tampered("UPDATE fleet_audit SET type = 'decision.edited' WHERE node_id = $1 AND seq = 4321", [node],
        "UPDATE fleet_audit SET type = 'decision' WHERE node_id = $1 AND seq = 4321", [node], () => {
          expect(lineOf(verify().lines, node)).toMatch(/BROKEN at row 4321: row 4321: contents do not match its hash \(edited\) \(4320 rows verified before it\)/);
        });
    } finally {
      await db.close();
      for (const t of ["fleet_audit", "fleet_audit_heads", "fleet_audit_checkpoints", "fleet_keys"])
        await sql.query(`DELETE FROM ${t} WHERE node_id = $1`, [node]);
    }
    expect(verify().lines).toHaveLength(2);
  }, 60_000);

  it("verify passes while both sidecars keep deciding (one snapshot), and again after they stop", async () => {
    const env = { INTENT_SIDECAR_AUDIT_CHECKPOINT_ROWS: "50" };
    const sidecars = await Promise.all([0, 1].map((i) =>
      spawnDaemon(["--config", configFile, "--data-dir", join(dir, `node${i}`)], env, { dev: false, readyTimeoutMs: 60_000 })));
    let stop = false;
    let decided = 0;
    const load = Promise.all(
      sidecars.flatMap((s) => Array.from({ length: 4 }, async () => {
        while (!stop) {
          const a = await post(`${s.url}/v1/intents`, TOKENS.bot, { agent: "bot", action: "pay", params: { usd: "1" }, context: {} });
          if (a.body.decision === "APPROVED") decided++;
        }
      })),
    );
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 2; i++) {
        const r = await promisify(execFile)(process.execPath, [BIN, "audit", "verify", "--store", url]).catch((e: { code: number; stdout: string; stderr: string }) => e);
        const lines = r.stdout.trim().split("\n");
        expect(lines, "stderr" in r ? r.stderr : "").toHaveLength(2);
        for (const n of nodes) expect(lineOf(lines, n)).toMatch(/: ok, /);
      }
    } finally {
      stop = true;
      await load;
      for (const s of sidecars) expect(await s.stop("SIGTERM")).toBe(0);
    }
    expect(decided).toBeGreaterThan(20);
    const r = verify();
    expect(r.status, r.stdout).toBe(0);
    for (const n of nodes) expect(lineOf(r.lines, n)).not.toContain("after it"); // the stop checkpoints cover all
  }, 120_000);

  it("a node does not start (and sign) over its chain rolled back while it was down; it does once the store is whole", async () => {
    const a = nodes[0]!;
    const start = () => spawnDaemon(["--config", configFile, "--data-dir", join(dir, "node0")], {}, { dev: false, readyTimeoutMs: 60_000 });
    const last = (await sql.query("SELECT * FROM fleet_audit WHERE node_id = $1 ORDER BY seq DESC LIMIT 1", [a])).rows[0]!;
    const cp = (await sql.query("SELECT * FROM fleet_audit_checkpoints WHERE node_id = $1 ORDER BY seq DESC LIMIT 1", [a])).rows[0]!;
    expect(Number(cp.seq)).toBe(Number(last.seq)); // the stop checkpoint covers the last row
    // a consistent rollback by one row: row, head and the checkpoint that covered it
    await sql.query("DELETE FROM fleet_audit WHERE node_id = $1 AND seq = $2", [a, last.seq]);
    await sql.query("DELETE FROM fleet_audit_checkpoints WHERE node_id = $1 AND seq = $2", [a, cp.seq]);
    await sql.query("UPDATE fleet_audit_heads SET seq = $2, hash = $3 WHERE node_id = $1", [a, Number(last.seq) - 1, last.prev_hash]);
    try {
      await expect(start()).rejects.toThrow(/the fleet store no longer holds the audit checkpoint this node signed last \(row \d+/);
      // the copy in the data dir, passed to verify, names the rollback too
      const r = verify(["--store", url, "--checkpoint", join(dir, "node0", "fleet-audit-checkpoint.jws")]);
      expect(r.status).toBe(1);
      expect(lineOf(r.lines, a)).toMatch(/is newer than the store's latest checkpoint .*rolled back/);
    } finally {
      await sql.query("INSERT INTO fleet_audit (node_id, seq, ts, type, data_json, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [a, last.seq, last.ts, last.type, last.data_json, last.prev_hash, last.hash]);
      await sql.query("INSERT INTO fleet_audit_checkpoints (node_id, seq, hash, jws, at) VALUES ($1, $2, $3, $4, $5)", [a, cp.seq, cp.hash, cp.jws, cp.at]);
      await sql.query("UPDATE fleet_audit_heads SET seq = $2, hash = $3 WHERE node_id = $1", [a, last.seq, last.hash]);
    }
    const s = await start();
    expect(await s.stop("SIGTERM")).toBe(0);
    expect(verify().status).toBe(0);
  }, 120_000);

  it("a fleet checkpoint is never taken for a single-host one, nor for another node's", async () => {
    const jws = (await sql.query<{ jws: string }>("SELECT jws FROM fleet_audit_checkpoints WHERE node_id = $1 LIMIT 1", [nodes[0]])).rows[0]!.jws;
    const kid = JSON.parse(Buffer.from(jws.split(".")[0]!, "base64url").toString()).kid as string;
    const jwk = JSON.parse((await sql.query<{ jwk: string }>("SELECT jwk FROM fleet_keys WHERE kid = $1", [kid])).rows[0]!.jwk);
    const key = createPublicKey({ key: jwk, format: "jwk" });
    expect(verifyCheckpointJws(jws, () => key, { node: nodes[0]! }).ok).toBe(true);
    expect(verifyCheckpointJws(jws, () => key)).toEqual({ ok: false, problem: `the checkpoint covers fleet node ${nodes[0]}'s chain, not this data dir's` });
    expect(verifyCheckpointJws(jws, () => key, { node: nodes[1]! })).toMatchObject({ ok: false, problem: expect.stringContaining(`not node ${nodes[1]}'s`) });
  });

  it("a store that is not a fleet store, or an unreachable one, exits 2 without printing the password", () => {
    const wrongDb = url.replace(/\/intent_sidecar$/, "/postgres");
    const r = verify(["--store", wrongDb]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no fleet_audit table/);
    expect(r.stderr).toContain("***");
    const down = verify(["--store", `postgres://u:${SECRET}@127.0.0.1:1/x`]);
    expect(down.status).toBe(2);
    expect(down.stderr).toMatch(/cannot read the fleet store postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/);
  });
});
