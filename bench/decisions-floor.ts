// The floor under bench/decisions.ts: the least work any implementation of SPEC sections 3-4 and 10 must do per
// decision, on the same machine, with the same load generator at the same concurrency. Per request: read it over
// HTTP/1.1 (the agent listener's node:http server and its direct POST /v1/intents handler), JSON.parse the body, a SHA-256 digest, one intent row and one hash-chained audit
// row in SQLite (WAL, group-committed per turn of the event loop, checkpoints on a worker thread as in the daemon), an Ed25519 JWS for the approved four in five (on
// the signer thread), and a JSON answer. No schema, no policy, no soft limits. Whatever this reaches bounds what
// the real pipeline can reach here.
//   npx tsx bench/decisions-floor.ts [--seconds 8] [--no-sign] [--no-sqlite] [--parallel] [--inline-sign] [--sync NORMAL|OFF] [--checkpoint-ms 250]
// Results: docs/performance/decisions.md.
import { createHash, generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { startSignerThread } from "../sidecar/attest/signer-thread.ts";
import { startCheckpointer } from "../sidecar/store/checkpointer.ts";
import { signClaims, signingInput } from "../sidecar/attest/sign.ts";
import type { SigningKey } from "../sidecar/attest/keys.ts";
import { Hono } from "hono";
import { createAgentServer } from "../sidecar/api/agent-server.ts";
import { TokenAuth } from "../sidecar/api/auth.ts";
import type { Pipeline } from "../sidecar/pipeline.ts";
import type { AttestationClaims } from "../protocol/index.ts";
import { runLoad } from "./lib/load-generator.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : def);
const SECONDS = Number(args[args.indexOf("--seconds") + 1] ?? 8) || 8;
const SIGN = !args.includes("--no-sign");
const SQLITE = !args.includes("--no-sqlite");
/** Sign while the record commits instead of after it. */
const PARALLEL = args.includes("--parallel");
/** Sign on the event loop instead of the signer thread. */
const INLINE = args.includes("--inline-sign");

const dir = mkdtempSync(join(tmpdir(), "isc-floor-"));
const db = new Database(join(dir, "floor.db"));
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${opt("sync", "NORMAL")}`);
// as the daemon: WAL checkpoints on a worker thread, not in a commit (--checkpoint-ms to study their effect)
const checkpointer = startCheckpointer(db, Number(opt("checkpoint-ms", "250")));
db.exec(`CREATE TABLE intents (id TEXT PRIMARY KEY, agent TEXT, action TEXT, digest TEXT, intent_json TEXT,
  decision TEXT, claims_json TEXT, created_at TEXT);
  CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts TEXT, type TEXT, data_json TEXT, prev_hash TEXT, hash TEXT);`);
const insertIntent = db.prepare("INSERT INTO intents VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
const insertAudit = db.prepare("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)");
let seq = 0;
let head = "sha256:" + "0".repeat(64);

interface Job {
  id: string;
  body: Record<string, unknown>;
  digest: string;
  approved: boolean;
  claims: string;
  done: () => void;
}
let batch: Job[] = [];
const commit = db.transaction((jobs: Job[]) => {
  for (const j of jobs) {
    const ts = new Date().toISOString();
    insertIntent.run(
      j.id,
      j.body.agent,
      j.body.action,
      j.digest,
      JSON.stringify(j.body),
      j.approved ? "APPROVED" : "DENIED",
      j.claims,
      ts,
    );
    const data = JSON.stringify({ intent_id: j.id, agent: j.body.agent, action: j.body.action, digest: j.digest });
    const hash = "sha256:" + createHash("sha256").update(head).update(data).digest("hex");
    insertAudit.run(++seq, ts, "decision", data, head, hash);
    head = hash;
  }
});
function flush() {
  const jobs = batch;
  batch = [];
  commit(jobs);
  for (const j of jobs) j.done();
}

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const key = { kid: "floor", privateKey, publicKey, jwk: {} } as unknown as SigningKey;
const signer = startSignerThread();
let n = 0;

async function decide(text: string): Promise<{ status: number; body: unknown }> {
  const body = JSON.parse(text) as Record<string, unknown>;
  const digest = "sha256:" + createHash("sha256").update(text).digest("hex");
  const id = randomUUID();
  const approved = n++ % 5 !== 4;
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: "intent-sidecar",
    sub: body.agent,
    aud: "executor",
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: id,
    intent: { id, action: body.action, digest },
    policy: { digest },
  } as unknown as AttestationClaims;
  // The signature is computed while the record commits (released only after the commit).
  const token = approved && SIGN && PARALLEL ? signer.sign(key, claims) : undefined;
  if (SQLITE) {
    await new Promise<void>((done) => {
      if (batch.length === 0) setImmediate(flush);
      batch.push({ id, body, digest, approved, claims: JSON.stringify(claims), done });
    });
  }
  const answer: Record<string, unknown> = { decision: approved ? "APPROVED" : "DENIED", intent_id: id, reasons: [] };
  if (approved && SIGN && INLINE) answer.attestation = signClaims(key, claims);
  else if (token) answer.attestation = await token;
  else if (approved && SIGN) answer.attestation = await signer.sign(key, claims);
  else if (approved) answer.attestation = signingInput(key, claims);
  return { status: 200, body: answer };
}

const server = createAgentServer(new Hono(), {
  pipeline: { decideText: (text: string) => decide(text) } as unknown as Pipeline,
  auth: new TokenAuth({}),
  bodyLimitBytes: 256 * 1024,
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
const bodies = Array.from({ length: 2000 }, (_, i) =>
  JSON.stringify({
    agent: `agent-${i}`,
    action: "evm.transaction",
    params: { chain_id: 8453, to: "0x1111111111111111111111111111111111111111", value: "10000000000000000" },
    context: { tenant: "acme", invoice: `inv-${i}` },
  }),
);
try {
  const r = await runLoad(`127.0.0.1:${(server.address() as AddressInfo).port}`, "/v1/intents", bodies, SECONDS, {
    concurrency: 16,
    warmupSeconds: 2,
  });
  console.log(
    JSON.stringify(
      {
        work: { sign: SIGN, sqlite: SQLITE, sign_during_commit: PARALLEL, sign_inline: INLINE },
        throughput_per_s: Math.round((r.done / r.elapsed) * 1000),
        p50_ms: +r.p50.toFixed(3),
        p99_ms: +r.p99.toFixed(3),
        server_cpu_us_per_decision: Math.round(r.serverCpuUs / r.done),
        main_thread_cpu_us_per_decision: Math.round(r.mainThreadCpuUs / r.done),
        load_generator_cpu_us_per_request: Math.round(r.loadCpuUs / r.done),
        machine_busy_cores: r.machine.busyCores,
        machine_steal_pct: r.machine.stealPct,
      },
      null,
      2,
    ),
  );
} finally {
  server.closeAllConnections();
  server.close();
  await signer.close();
  await checkpointer.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
