// Benchmark: POST /v1/intents on loopback with the reference policy at concurrency 16.
// The daemon runs in this process; the load generator (16 keep-alive HTTP/1.1 connections over raw sockets, so it
// costs as little CPU as possible) is a child process started by this script. Then a stage breakdown in-process.
//   npx tsx bench/decisions.ts [--seconds 10] [--sync NORMAL|FULL]
// Results: docs/performance/decisions.md.
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { createAgentServer } from "../sidecar/api/agent-server.ts";
import { runLoad } from "./lib/load-generator.ts";
import { intentFor } from "./lib/request-mix.ts";
import { TokenAuth } from "../sidecar/api/auth.ts";
import type { Pipeline } from "../sidecar/pipeline.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { loadConfig, type SidecarConfig } from "../sidecar/config.ts";
import { startDaemon } from "../sidecar/daemon.ts";
import { silentLogger } from "../sidecar/log.ts";
import type { Stages } from "../sidecar/pipeline.ts";
import { intentDigest, parseIntent, type Intent } from "../protocol/index.ts";
import { buildClaims, signClaims } from "../sidecar/attest/index.ts";
import { appendAudit, IntentStore, newIntentId } from "../sidecar/store/index.ts";
import type { LoadedPolicy } from "../sidecar/policy/load.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const SECONDS = Number(arg("seconds", "10"));
const WARMUP_SECONDS = 2;
const CONCURRENCY = 16;
const SYNC = arg("sync", "NORMAL") as "NORMAL" | "FULL";
const LOAD = { concurrency: CONCURRENCY, warmupSeconds: WARMUP_SECONDS };

/** CPU µs per call of `fn` (process CPU time, so other load on the machine does not inflate it as much as wall time). */
async function micro(label: string, n: number, fn: (i: number) => unknown): Promise<[string, number]> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm up
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = fn(i);
    if (r instanceof Promise) await r;
  }
  const c = process.cpuUsage(c0);
  return [label, (c.user + c.system) / n];
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "isc-bench-"));
  const config: SidecarConfig = {
    ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
    synchronous: SYNC,
  };
  const stages: Stages = { schema: 0, policy: 0, record_sign: 0, count: 0 };
  const d = await startDaemon({ config, log: silentLogger(), stages });
  const policyDigest = d.policy.provider.current()!.digest;
  const bodies = Array.from({ length: 5000 }, (_, i) => JSON.stringify(intentFor(i)));
  try {
    // HTTP alone: the same listener code (node:http + the /v1/intents fast path) with a pipeline that answers a
    // constant APPROVED-sized body, so the difference to the real run is the decision itself.
    const canned = {
      status: 200,
      body: {
        decision: "APPROVED",
        intent_id: newIntentId(),
        reasons: [],
        attestation: "x".repeat(700),
        expires_at: new Date().toISOString(),
        policy: { digest: policyDigest },
      },
    };
    const stub = createAgentServer(new Hono(), {
      pipeline: { decideText: async () => canned } as unknown as Pipeline,
      auth: new TokenAuth({}),
      bodyLimitBytes: 256 * 1024,
    });
    await new Promise<void>((res) => stub.listen(0, "127.0.0.1", () => res()));
    const httpOnly = await runLoad(
      `127.0.0.1:${(stub.address() as AddressInfo).port}`,
      "/v1/intents",
      bodies,
      Math.max(3, Math.round(SECONDS / 3)),
      LOAD,
    );
    await new Promise<void>((res) => stub.close(() => res()));

    Object.assign(stages, { schema: 0, policy: 0, record_sign: 0, count: 0, commits: 0 });
    const r = await runLoad(d.agentAddr, "/v1/intents", bodies, SECONDS, {
      ...LOAD,
      ...(process.env.BENCH_PROFILE ? { profileFile: "decisions.cpuprofile" } : {}),
    });
    const rps = (r.done / r.elapsed) * 1000;
    const per = (x: number) => (stages.count ? (x * 1000) / stages.count : 0);

    // In-process costs, one call at a time, CPU µs per call.
    const policy = d.policy.provider.current() as LoadedPolicy;
    const intents = bodies.map((b) => (parseIntent(JSON.parse(b)) as { ok: true; intent: Intent }).intent);
    const claims = intents.slice(0, 500).map((it, i) => buildClaims(`id-${i}`, it, policy.digest, new Date()));
    const bodyObjs = bodies.map((b) => JSON.parse(b) as Record<string, unknown>);
    const rows: [string, number][] = [];
    rows.push(
      await micro("whole decision in-process (pipeline.decide, no HTTP)", 3000, (i) =>
        d.pipeline.decide({ ...bodyObjs[(i + 7) % bodyObjs.length]!, agent: `inproc-${i % 2000}` }),
      ),
    );
    rows.push(await micro("JSON.parse body", 20000, (i) => JSON.parse(bodies[i % bodies.length]!)));
    rows.push(await micro("schema (zod parseIntent)", 20000, (i) => parseIntent(bodyObjs[i % bodyObjs.length])));
    rows.push(await micro("JCS digest", 20000, (i) => intentDigest(intents[i % intents.length]!)));
    for (const { block, evaluate } of policy.evaluators) {
      const label =
        block === "evm" ? "block evm (viem decoding)" : block === "custom" ? "block custom (CEL)" : `block ${block}`;
      rows.push(await micro(label, 5000, (i) => evaluate(intents[i % intents.length]!, { now: new Date() })));
    }
    rows.push(await micro("sign (Ed25519 JWS)", 5000, (i) => signClaims(d.keys.current, claims[i % claims.length]!)));
    const store = new IntentStore(d.db);
    const record = d.db.transaction((i: number) => {
      const it = intents[i % intents.length]!;
      store.insert({
        id: newIntentId(),
        agent: it.agent,
        action: it.action,
        digest: "sha256:x",
        intent: { agent: it.agent, action: it.action, params: it.params, context: it.context },
        decision: "APPROVED",
        reasons: [],
        claims: claims[i % claims.length]!,
        kid: d.keys.current.kid,
        policy_digest: policy.digest,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      });
      appendAudit(d.db, {
        type: "decision",
        intent_id: "x",
        agent: it.agent,
        action: it.action,
        decision: "APPROVED",
        reasons: [],
      });
    });
    rows.push(await micro(`SQLite commit (intent row + audit row, synchronous=${SYNC})`, 3000, (i) => record(i)));

    const statusLine = Object.entries(r.statuses)
      .map(([s, n]) => `${s}: ${n}`)
      .join(", ");
    const out = {
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
      sqlite_synchronous: SYNC,
      concurrency: CONCURRENCY,
      seconds: SECONDS,
      decisions: r.done,
      throughput_per_s: Math.round(rps),
      p50_ms: +r.p50.toFixed(3),
      p90_ms: +r.p90.toFixed(3),
      p99_ms: +r.p99.toFixed(3),
      max_ms: +r.max.toFixed(3),
      statuses: statusLine,
      server_cpu_us_per_decision: Math.round(r.serverCpuUs / r.done),
      main_thread_cpu_us_per_decision: Math.round(r.mainThreadCpuUs / r.done),
      thread_cpu_us_per_decision: Object.fromEntries(
        Object.entries(r.threads)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, Math.round(v / r.done)]),
      ),
      load_generator_cpu_us_per_request: Math.round(r.loadCpuUs / r.done),
      machine_busy_cores: r.machine.busyCores,
      machine_steal_pct: r.machine.stealPct,
      cpu_bound_capacity_per_core: Math.round((r.done / r.serverCpuUs) * 1e6),
      http_only_per_s: Math.round((httpOnly.done / httpOnly.elapsed) * 1000),
      http_only_server_cpu_us: Math.round(httpOnly.serverCpuUs / httpOnly.done),
      decisions_per_commit: stages.commits ? +(stages.count / stages.commits).toFixed(2) : null,
      server_stage_wall_us: {
        schema_and_digest: +per(stages.schema).toFixed(1),
        policy_blocks: +per(stages.policy).toFixed(1),
        sqlite_and_sign: +per(stages.record_sign).toFixed(1),
      },
      cpu_us_per_call: Object.fromEntries(rows.map(([k, v]) => [k, +v.toFixed(1)])),
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await d.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
