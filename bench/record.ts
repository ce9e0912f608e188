// Benchmark: the decision pipeline's RECORD stage (the group commit) in-process, on a real SQLite file (WAL, the
// daemon's checkpointer running) with the reference policy and every hook the daemon wires (soft-limit ledger, holds,
// webhook outbox). Decisions are prepared first (schema, digest, policy evaluation: not timed), then written through
// the pipeline's group commit in batches of --batch (the HTTP benchmark sees ~4 decisions per commit at
// concurrency 16). Reported: CPU time of the MAIN THREAD per decision (from /proc/thread-self/schedstat, in ns, so
// the checkpointer's and signer's threads are not counted), the only thread the group commit runs on.
//   npx tsx bench/record.ts [--decisions 20000] [--batch 4] [--rounds 3] [--sync NORMAL|FULL] [--baseline DIR]
// --baseline DIR: a checkout of another commit (`git worktree add -f DIR <rev>`, node_modules symlinked). Its daemon
// is loaded into this same process next to the current one, each on its own data dir, and the two record in
// alternating chunks of 500 decisions, so the machine's noise (a shared 2-core VM) hits both alike; the ratio
// current/baseline is reported per round. Only Pipeline.commitBatch(jobs) is called, whose shape both keep.
// Results: docs/performance/sqlite.md.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Session } from "node:inspector/promises";
import { intentFor } from "./lib/request-mix.ts";
import { intentDigest, parseIntent, type Intent } from "../protocol/index.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const DECISIONS = Number(arg("decisions", "20000"));
const BATCH = Number(arg("batch", "4"));
const ROUNDS = Number(arg("rounds", "3"));
const SYNC = arg("sync", "NORMAL") as "NORMAL" | "FULL";
const BASELINE = arg("baseline", "");
const CHUNK = 500;

/** CPU time of the calling thread in ns (Linux: the first field of schedstat is time spent running). */
function threadCpuNs(): number {
  return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
}

type Job = [id: string, intent: Intent, digest: string, policy: unknown, effect: string, reasons: unknown[], now: Date];
interface Recorder {
  commitBatch(jobs: Job[]): { out?: { rec: { decision: string } }; error?: unknown }[];
}

/** One daemon (of this checkout or the baseline's) with what the timed loop needs. */
interface Variant {
  name: string;
  record(count: number): number;
  verify(): { ok: boolean; rows: number; problem?: string };
  close(): Promise<void>;
  db: unknown;
  decisions: Record<string, number>;
}

async function startVariant(name: string, root: string): Promise<Variant> {
  const mod = (p: string) => import(pathToFileURL(join(root, p)).href);
  const { loadConfig } = await mod("sidecar/config.ts");
  const { startDaemon } = await mod("sidecar/daemon.ts");
  const { silentLogger } = await mod("sidecar/log.ts");
  const { newIntentId, verifyAudit } = await mod("sidecar/store/index.ts");
  const dataDir = mkdtempSync(join(tmpdir(), `isc-bench-record-${name}-`));
  const config = {
    ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
    synchronous: SYNC,
  };
  const d = await startDaemon({ config, log: silentLogger() });
  const provider = d.policy.provider;
  const policy = provider.current()!;
  const recorder = d.pipeline as Recorder;
  // Prepared decisions (not timed): what `decide` hands to the record stage.
  const prepared: [Intent, string, string, unknown[]][] = [];
  for (let i = 0; i < 2000; i++) {
    const parsed = parseIntent(intentFor(i));
    if (!parsed.ok) throw new Error("bad intent");
    const verdicts = await provider.evaluate(policy, parsed.intent, { now: new Date() });
    const { effect, reasons } = provider.combine(verdicts);
    prepared.push([parsed.intent, intentDigest(parsed.intent), effect, reasons]);
  }
  let n = 0;
  const decisions: Record<string, number> = {};
  /** Records `count` decisions in batches; returns main-thread CPU ns spent (id generation + group commit + the
   * bench's own loop, the same for every version). */
  const record = (count: number): number => {
    const c0 = threadCpuNs(); // read once per chunk: reading /proc costs ~10 µs itself
    for (let done = 0; done < count;) {
      const now = new Date();
      const jobs: Job[] = [];
      const size = Math.min(BATCH, count - done); // exactly `count` decisions, whatever the batch size
      done += size;
      for (let k = 0; k < size; k++, n++) {
        const [intent, digest, effect, reasons] = prepared[n % prepared.length]!;
        // a distinct agent per round of the prepared set keeps the soft limits clear, as in the HTTP benchmark
        const it = { ...intent, agent: `${intent.agent}-${Math.floor(n / prepared.length)}` };
        jobs.push([newIntentId(now.getTime()), it, digest, policy, effect, reasons, now]);
      }
      const results = recorder.commitBatch(jobs);
      for (const r of results) {
        if (r.error) throw r.error;
        const k = r.out!.rec.decision;
        decisions[k] = (decisions[k] ?? 0) + 1;
      }
    }
    return threadCpuNs() - c0;
  };
  return {
    name,
    record,
    db: d.db,
    decisions,
    verify: () => verifyAudit(d.db),
    close: async () => {
      await d.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const variants = [await startVariant("current", resolve(import.meta.dirname, ".."))];
  if (BASELINE) variants.push(await startVariant("baseline", resolve(BASELINE)));
  try {
    for (const v of variants) v.record(2000); // warm-up
    // BENCH_PROFILE=1: a CPU profile of the timed rounds in ./record.cpuprofile (node /work/tools/prof.mjs ...)
    const session = process.env.BENCH_PROFILE ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 100 });
      await session.post("Profiler.start");
    }
    const perRound: number[][] = variants.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      // let the checkpointers run between rounds, as the event loop would between commits
      await new Promise((res) => setTimeout(res, 300));
      const ns = variants.map(() => 0);
      for (let c = 0; c < DECISIONS / CHUNK; c++) {
        // alternate which goes first, so neither always follows the other's checkpoint backlog
        for (let j = 0; j < variants.length; j++) {
          const i = (c + j) % variants.length;
          ns[i]! += variants[i]!.record(CHUNK);
        }
        if (c % 8 === 7) await new Promise((res) => setImmediate(res)); // let the checkpointer's timer fire
      }
      ns.forEach((x, i) => perRound[i]!.push(x / DECISIONS / 1000));
    }
    if (session) {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync("record.cpuprofile", JSON.stringify(profile));
      session.disconnect();
    }
    const out: Record<string, unknown> = { bench: "record", sync: SYNC, batch: BATCH, decisions_per_round: DECISIONS };
    variants.forEach((v, i) => {
      const check = v.verify();
      if (!check.ok) throw new Error(`${v.name}: audit chain broken: ${check.problem}`);
      out[v.name] = {
        main_thread_cpu_us_per_decision: { rounds: perRound[i]!.map(round1), median: round1(median(perRound[i]!)) },
        decisions: v.decisions,
        audit_rows: check.rows,
      };
    });
    if (variants.length === 2) {
      const ratios = perRound[0]!.map((x, r) => x / perRound[1]![r]!);
      out.ratio_current_to_baseline = {
        rounds: ratios.map((x) => Math.round(x * 1000) / 1000),
        median: Math.round(median(ratios) * 1000) / 1000,
      };
    }
    console.log(JSON.stringify(out));
  } finally {
    for (const v of variants) await v.close();
  }
}

await main();
process.exit(0);
