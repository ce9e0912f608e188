// Start-up and footprint of the `intent-sidecar` command (issue "Real packages and a lean runtime"), measured against
// bare `node -e ""` on the same machine, interleaved run by run so a busy moment hits both alike:
//   - `intent-sidecar --help` and `--version`: wall time, target within 0.3 s of bare node
//   - `intent-sidecar start --dev` with the reference policy on port 0: spawn to the ready line, target under 1 s
//   - idle resident memory of that daemon (VmRSS, a few seconds after ready): target under 100 MB
// `npm run bench -- startup`, or `node --import tsx bench/startup.ts [runs]`. INTENT_SIDECAR_BENCH_CLI=<file> times
// another entry point (e.g. a checkout from before a change); INTENT_SIDECAR_TEST_NODE=<node> another node binary.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = process.env.INTENT_SIDECAR_BENCH_CLI || join(root, "bin", "intent-sidecar.mjs");
const node = process.env.INTENT_SIDECAR_TEST_NODE || process.execPath;
const runs = Number(process.argv[2] ?? 7);

function timeCommand(args: string[], mayFail = false): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(node, args, { stdio: ["ignore", "ignore", "pipe"], cwd: root });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 && !mayFail) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

async function startToReady(idleMs: number): Promise<{ readyMs: number; rssMb: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "intent-sidecar-bench-"));
  const t0 = process.hrtime.bigint();
  const child = spawn(
    node,
    [
      cli,
      "start",
      "--dev",
      "--data-dir",
      dataDir,
      "--agent-addr",
      "127.0.0.1:0",
      "--proxy-addr",
      "127.0.0.1:0",
      "--operator-addr",
      "127.0.0.1:0",
    ],
    { stdio: ["ignore", "pipe", "pipe"], cwd: root },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes('"event":"ready"')) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
      child.on("exit", (code) => reject(new Error(`start exited ${code} before ready: ${stderr}`)));
    });
    await new Promise((r) => setTimeout(r, idleMs));
    return { readyMs, rssMb: rssKb(child.pid!) / 1024 };
  } finally {
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGTERM");
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const samples: Record<string, number[]> = { bare: [], help: [], version: [], ready: [], rss: [] };
for (let i = 0; i < runs; i++) {
  samples.bare!.push(timeCommand(["-e", ""]));
  samples.help!.push(timeCommand([cli, "--help"]));
  samples.bare!.push(timeCommand(["-e", ""]));
  samples.version!.push(timeCommand([cli, "--version"], true));
  const s = await startToReady(3000);
  samples.ready!.push(s.readyMs);
  samples.rss!.push(s.rssMb);
}

const bare = median(samples.bare!);
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
console.log(`node ${spawnSync(node, ["--version"]).stdout.toString().trim()}, ${runs} runs each, medians (min-max)`);
const range = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
console.log(`  node -e ""                   ${fmt(bare)} (${range(samples.bare!)})`);
for (const k of ["help", "version"] as const) {
  const m = median(samples[k]!);
  const ok = m - bare <= 300 ? "met" : "MISSED";
  console.log(
    `  intent-sidecar --${k.padEnd(9)} ${fmt(m)} (${range(samples[k]!)}), +${fmt(m - bare)} over bare node, ${(m / bare).toFixed(1)}x [target +0.3 s: ${ok}]`,
  );
}
const ready = median(samples.ready!);
console.log(
  `  start --dev to ready          ${fmt(ready)} (${range(samples.ready!)}), ${(ready / bare).toFixed(1)}x bare node [target < 1 s: ${ready < 1000 ? "met" : "MISSED"}]`,
);
const rss = median(samples.rss!);
console.log(
  `  idle RSS after 3 s            ${rss.toFixed(1)} MB (${Math.min(...samples.rss!).toFixed(1)}-${Math.max(...samples.rss!).toFixed(1)}) [target < 100 MB: ${rss < 100 ? "met" : "MISSED"}]`,
);
