// Benchmark: the cost of the OCSF JSONL export per decision. The reference policy at concurrency 16 over loopback,
// the daemon without exports and with `exports: {ocsf_jsonl}` alternated (off, on, off, on, …) so machine noise
// hits both; server CPU per decision is the figure that matters (the outbox INSERT rides the decision's group
// commit; the file is written by the outbox loop on the same thread).
//   node --conditions=intent-sidecar-source --import tsx bench/exports.ts [--seconds 8] [--rounds 2]
// Results: docs/performance.md ("Exports").
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../sidecar/config.ts";
import { startDaemon } from "../sidecar/daemon.ts";
import { parseExportsConfig } from "../sidecar/exports/config.ts";
import { silentLogger } from "../sidecar/log.ts";
import { runLoad } from "./lib/load-generator.ts";
import { intentFor } from "./lib/request-mix.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const SECONDS = Number(arg("seconds", "8"));
const ROUNDS = Number(arg("rounds", "2"));
const bodies = Array.from({ length: 5000 }, (_, i) => JSON.stringify(intentFor(i)));

async function run(withExports: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "isc-bench-exports-"));
  const file = join(dir, "ocsf.jsonl");
  const config = {
    ...loadConfig({ dataDir: join(dir, "data"), agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
    ...(withExports ? { exports: parseExportsConfig({ ocsf_jsonl: { path: file, max_bytes: "1GiB" } }, dir)! } : {}),
  };
  const d = await startDaemon({ config, log: silentLogger() });
  try {
    const r = await runLoad(d.agentAddr, "/v1/intents", bodies, SECONDS, { concurrency: 16, warmupSeconds: 2 });
    await new Promise((res) => setTimeout(res, 500)); // the file catches up
    const pending = withExports ? d.db.prepare("SELECT COUNT(*) AS n FROM export_outbox").get() : undefined;
    // in-process CPU per decision, one at a time (no HTTP, no load generator competing), the file written meanwhile
    // and drained before the clock stops: less sensitive to a busy machine than the loaded run
    const objs = bodies.map((b) => JSON.parse(b) as Record<string, unknown>);
    for (let i = 0; i < 500; i++) await d.pipeline.decide({ ...objs[i]!, agent: `warm-${i % 500}` });
    const c0 = process.cpuUsage();
    const N = 4000;
    for (let i = 0; i < N; i++) await d.pipeline.decide({ ...objs[(i * 7) % objs.length]!, agent: `inproc-${i % 2000}` });
    if (withExports) {
      while ((d.db.prepare("SELECT COUNT(*) AS n FROM export_outbox").get() as { n: number }).n > 0) await new Promise((res) => setTimeout(res, 5));
    }
    const c = process.cpuUsage(c0);
    return {
      inprocUs: (c.user + c.system) / N,
      rps: (r.done / r.elapsed) * 1000,
      p50: r.p50,
      p99: r.p99,
      cpuPerDecisionUs: r.serverCpuUs / r.done,
      fileBytes: withExports ? statSync(file).size : 0,
      pending: (pending as { n: number } | undefined)?.n ?? 0,
    };
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: { off: Awaited<ReturnType<typeof run>>[]; on: Awaited<ReturnType<typeof run>>[] } = { off: [], on: [] };
for (let i = 0; i < ROUNDS; i++) {
  results.off.push(await run(false));
  results.on.push(await run(true));
}
const fmt = (r: Awaited<ReturnType<typeof run>>) =>
  `in-process ${r.inprocUs.toFixed(0)} µs CPU/decision; loaded: ${r.rps.toFixed(0)}/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms, server CPU ${r.cpuPerDecisionUs.toFixed(0)} µs/decision${r.fileBytes ? `, file ${(r.fileBytes / 1e6).toFixed(1)} MB, ${r.pending} left in the outbox` : ""}`;
for (let i = 0; i < ROUNDS; i++) {
  console.log(`round ${i + 1} exports off: ${fmt(results.off[i]!)}`);
  console.log(`round ${i + 1} jsonl on:    ${fmt(results.on[i]!)}`);
}
