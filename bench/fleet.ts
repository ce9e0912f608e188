// Benchmark (issue 17): decisions/s and p99 at concurrency 16 with the reference policy for
//   A. one sidecar on SQLite (the baseline), B. one sidecar on PostgreSQL, C. two sidecars on one PostgreSQL.
// Every sidecar is its own process (the CLI a user runs, `--dev`), PostgreSQL a throwaway cluster on loopback
// (test/fleet/postgres.ts; fsync off, so the figures are the sidecar's cost, not this disk's), the load generator
// another process (bench/lib/load-generator.ts). "Where the time goes": CPU seconds of the sidecars, of PostgreSQL's
// processes and of the load generator per decision, and decisions per PostgreSQL transaction.
//   npm run bench -- fleet [--seconds 8]
// Results: docs/performance.md ("Fleet mode").
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { runLoad, type LoadResult } from "./lib/load-generator.ts";
import { intentFor } from "./lib/request-mix.ts";
import { spawnDaemon, type RunningDaemon } from "../test/cli/daemon-process.ts";
import { pgSkipReason, startPostgres, type PgCluster } from "../test/fleet/postgres.ts";

const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf("--seconds") + 1] ?? 8) || 8;
const CONCURRENCY = 16;

/** CPU µs of processes: by pid, or every process whose command name is `postgres`. */
function cpuUs(filter: (pid: number, comm: string) => boolean): number {
  let total = 0;
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!filter(Number(p), comm)) continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
    } catch {
      /* gone */
    }
  }
  return total;
}

async function commits(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query("SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()");
  await c.end();
  return Number(r.rows[0].n);
}

interface Scenario {
  name: string;
  throughput_per_s: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
  sidecar_cpu_us_per_decision: number;
  postgres_cpu_us_per_decision?: number;
  load_generator_cpu_us_per_decision: number;
  decisions_per_pg_transaction?: number;
}

async function scenario(name: string, n: number, cluster: PgCluster | undefined, dir: string): Promise<Scenario> {
  const config = join(dir, `${name}.json`);
  writeFileSync(config, JSON.stringify(cluster ? { store: cluster.url } : {}));
  const sidecars: RunningDaemon[] = [];
  try {
    for (let i = 0; i < n; i++) {
      sidecars.push(await spawnDaemon(["--config", config, "--data-dir", join(dir, `${name}-${i}`)], { INTENT_SIDECAR_SOURCE: "1" }));
    }
    const bodies = Array.from({ length: 4000 }, (_, i) => JSON.stringify(intentFor(i)));
    const pids = new Set(sidecars.map((s) => s.child.pid!));
    const sidecar0 = cpuUs((pid) => pids.has(pid));
    const pg0 = cluster ? cpuUs((_, comm) => comm === "postgres") : 0;
    const commits0 = cluster ? await commits(cluster.url) : 0;
    // the warm-up (2 s) is inside the CPU window: CPU per decision is over warm-up + run, decisions over both too
    const results: LoadResult[] = await Promise.all(
      sidecars.map((s) =>
        runLoad(s.ready.agent_addr, "/v1/intents", bodies, SECONDS, { concurrency: CONCURRENCY / n, warmupSeconds: 2 }),
      ),
    );
    const sidecarCpu = cpuUs((pid) => pids.has(pid)) - sidecar0;
    const pgCpu = cluster ? cpuUs((_, comm) => comm === "postgres") - pg0 : 0;
    const xacts = cluster ? (await commits(cluster.url)) - commits0 : 0;
    const done = results.reduce((a, r) => a + r.done, 0);
    const elapsed = Math.max(...results.map((r) => r.elapsed));
    const statuses: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    // CPU was counted over warm-up + run: scale by the run's share of the decisions (the rate is steady)
    const total = done * ((SECONDS + 2) / SECONDS);
    return {
      name,
      throughput_per_s: Math.round((done / elapsed) * 1000),
      p50_ms: +Math.max(...results.map((r) => r.p50)).toFixed(2),
      p99_ms: +Math.max(...results.map((r) => r.p99)).toFixed(2),
      statuses,
      sidecar_cpu_us_per_decision: Math.round(sidecarCpu / total),
      ...(cluster
        ? {
            postgres_cpu_us_per_decision: Math.round(pgCpu / total),
            decisions_per_pg_transaction: +(total / Math.max(1, xacts)).toFixed(2),
          }
        : {}),
      load_generator_cpu_us_per_decision: Math.round(results.reduce((a, r) => a + r.loadCpuUs, 0) / done),
    };
  } finally {
    await Promise.all(sidecars.map((s) => s.stop()));
  }
}

async function main() {
  const skip = pgSkipReason();
  if (skip) {
    console.log(JSON.stringify({ skipped: skip }));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "isc-bench-fleet-"));
  const cluster = await startPostgres();
  try {
    const a = await scenario("1-sqlite", 1, undefined, dir);
    const b = await scenario("1-postgres", 1, cluster, dir);
    const c = await scenario("2-postgres", 2, cluster, dir);
    console.log(
      JSON.stringify(
        {
          machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
          concurrency: CONCURRENCY,
          seconds: SECONDS,
          scenarios: [a, b, c],
          ratio_2pg_to_1sqlite: +(c.throughput_per_s / a.throughput_per_s).toFixed(2),
          ratio_1pg_to_1sqlite: +(b.throughput_per_s / a.throughput_per_s).toFixed(2),
        },
        null,
        2,
      ),
    );
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
