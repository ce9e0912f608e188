// Benchmark: the decision pipeline's RECORD stage (the group commit) in-process, on a real SQLite file (WAL, the
// daemon's checkpointer running) with the reference policy and every hook the daemon wires (soft-limit ledger, holds,
// webhook outbox). Decisions are prepared first (schema, digest, policy evaluation: not timed), then written through
// the pipeline's group commit in batches of --batch (the HTTP benchmark sees ~4 decisions per commit at
// concurrency 16). Reported: CPU time of the MAIN THREAD per decision (from /proc/thread-self/schedstat, in ns, so
// the checkpointer's and signer's threads are not counted), the only thread the group commit runs on.
//   npx tsx bench/record.ts [--decisions 20000] [--batch 4] [--rounds 3] [--sync NORMAL|FULL]
// A/B: run the same script in a worktree of the baseline commit (it only uses Pipeline.commitBatch(jobs), whose
// shape is unchanged), alternating runs under `flock /tmp/bench.lock`. Results: docs/performance/sqlite.md.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFunctionData, erc20Abi, parseEther } from "viem";
import { loadConfig, type SidecarConfig } from "../sidecar/config.ts";
import { startDaemon } from "../sidecar/daemon.ts";
import { silentLogger } from "../sidecar/log.ts";
import { intentDigest, parseIntent, type Intent } from "../protocol/index.ts";
import { newIntentId, verifyAudit } from "../sidecar/store/index.ts";
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const DECISIONS = Number(arg("decisions", "20000"));
const BATCH = Number(arg("batch", "4"));
const ROUNDS = Number(arg("rounds", "3"));
const SYNC = arg("sync", "NORMAL") as "NORMAL" | "FULL";

const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";

/** The same mix as bench/decisions.ts: four APPROVED kinds (two of them under a reference soft limit), one DENIED. */
function intentFor(i: number): Record<string, unknown> {
  const agent = `agent-${i % 2000}`;
  switch (i % 5) {
    case 0:
      return {
        agent,
        action: "evm.transaction",
        params: {
          chain_id: 8453,
          to: USDC,
          value: "0",
          data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [VENDOR_A, 500_000_000n] }),
        },
        context: { tenant: "acme", invoice: `inv-${i}` },
      };
    case 1:
      return {
        agent,
        action: "tool.call",
        params: { tool: "slack.post_message", args: { channel: "#ops", text: `paid https://pay.company.com/i/${i}` } },
      };
    case 2:
      return { agent, action: "treasury.disburse", params: { ticket: `FIN-${i}`, amount_usd: "120.50" } };
    case 3:
      return { agent, action: "evm.transaction", params: { chain_id: 8453, to: VENDOR_A, value: parseEther("0.01").toString() } };
    default:
      return { agent, action: "evm.transaction", params: { chain_id: 1, to: VENDOR_A, value: "1" } };
  }
}

/** CPU time of the calling thread in ns (Linux: the first field of schedstat is time spent running). */
function threadCpuNs(): number {
  return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
}

type Job = [id: string, intent: Intent, digest: string, policy: unknown, effect: string, reasons: unknown[], now: Date];
interface Recorder {
  commitBatch(jobs: Job[]): { out?: { rec: { decision: string } }; error?: unknown }[];
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "isc-bench-record-"));
  const config: SidecarConfig = {
    ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
    synchronous: SYNC,
  };
  const d = await startDaemon({ config, log: silentLogger() });
  try {
    const provider = d.policy.provider;
    const policy = provider.current()!;
    const recorder = d.pipeline as unknown as Recorder;
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
    const run = (count: number): number => {
      const c0 = threadCpuNs(); // read once per round: reading /proc costs ~10 µs itself
      for (let done = 0; done < count; done += BATCH) {
        const now = new Date();
        const jobs: Job[] = [];
        for (let k = 0; k < BATCH; k++, n++) {
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
    run(2000); // warm-up
    const perRound: number[] = [];
    // BENCH_PROFILE=1: a CPU profile of the timed rounds in ./record.cpuprofile (node /work/tools/prof.mjs ...)
    const session = process.env.BENCH_PROFILE ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 100 });
      await session.post("Profiler.start");
    }
    for (let r = 0; r < ROUNDS; r++) {
      // let the checkpointer run between rounds, as the event loop would between commits
      await new Promise((res) => setTimeout(res, 300));
      perRound.push(run(DECISIONS) / DECISIONS / 1000);
    }
    if (session) {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync("record.cpuprofile", JSON.stringify(profile));
      session.disconnect();
    }
    const v = verifyAudit(d.db);
    if (!v.ok) throw new Error(`audit chain broken: ${v.problem}`);
    const sorted = [...perRound].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        bench: "record",
        sync: SYNC,
        batch: BATCH,
        decisions_per_round: DECISIONS,
        main_thread_cpu_us_per_decision: { rounds: perRound.map((x) => Math.round(x * 10) / 10), median: Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10, min: Math.round(sorted[0]! * 10) / 10 },
        decisions,
        audit_rows: v.rows,
      }),
    );
  } finally {
    await d.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
