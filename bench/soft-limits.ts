// Soft-limit check + reservation per intent with one million ledger rows inside the window (target < 100 µs).
// Run: npx tsx bench/soft-limits.ts   Baseline in the same run: a naive SUM() over the window for one check.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LimitLedger } from "../sidecar/limits/ledger.ts";
import type { SoftLimit } from "../sidecar/limits/types.ts";
import type { Intent } from "../protocol/index.ts";

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const ITER = Number(process.env.ITER ?? 20_000);
const DAY = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), "bench-limits-"));
const db = new Database(join(dir, "state.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
const ledger = new LimitLedger(db);
const limit: SoftLimit = {
  id: "daily-disbursed-usd",
  actions: ["treasury.disburse"],
  measure: (i) => Number(i.params.amount_usd),
  scope: "agent",
  windowMs: DAY,
  max: 1e12,
};

// Seed ROWS reservations for the benchmarked agent spread over the last 23 h, plus noise for 100 other agents.
const now = Date.now();
const start = now - 23 * 3_600_000;
const ins = db.prepare("INSERT INTO soft_limit_ledger (limit_id, scope_key, ts, amount, cum, intent_id) VALUES (?, ?, ?, ?, ?, ?)");
db.transaction(() => {
  let cum = 0;
  for (let i = 0; i < ROWS; i++) {
    cum += 1_000_000;
    ins.run(limit.id, "agent:bench-bot", start + Math.floor((i * 23 * 3_600_000) / ROWS), 1_000_000, cum, `seed-${i}`);
  }
  for (let a = 0; a < 100; a++) {
    for (let i = 0; i < 1000; i++) ins.run(limit.id, `agent:other-${a}`, start + i * 1000, 1_000_000, (i + 1) * 1_000_000, `o-${a}-${i}`);
  }
})();
db.exec("ANALYZE");

const intent: Intent = { agent: "bench-bot", action: "treasury.disburse", params: { amount_usd: 1 }, context: {} };
const total0 = ledger.windowTotal(limit.id, "agent:bench-bot", DAY, Date.now());

// warm-up
for (let i = 0; i < 1000; i++) ledger.checkAndReserve(`warm-${i}`, intent, [limit], Date.now());

// Measured: each call is its own IMMEDIATE transaction (check + insert + commit), as in the daemon.
const samples: number[] = [];
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < ITER; i++) {
  const s = process.hrtime.bigint();
  const r = ledger.checkAndReserve(`bench-${i}`, intent, [limit], Date.now());
  samples.push(Number(process.hrtime.bigint() - s) / 1000);
  if (!r.ok) throw new Error("unexpected cap");
}
const elapsedUs = Number(process.hrtime.bigint() - t0) / 1000;
const cpu1 = process.cpuUsage(cpu0);
const cpuUs = (cpu1.user + cpu1.system) / ITER; // CPU time per op: insensitive to other processes on a busy machine
samples.sort((a, b) => a - b);
const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!.toFixed(1);

// In the daemon the reservation joins the decision's own transaction; measure the statements without the commit.
const INNER = 100;
const icpu0 = process.cpuUsage();
const ib = process.hrtime.bigint();
for (let b = 0; b < ITER / INNER; b++) {
  db.transaction(() => {
    for (let i = 0; i < INNER; i++) ledger.checkAndReserve(`inner-${b}-${i}`, intent, [limit], Date.now());
  }).immediate();
}
const innerUs = Number(process.hrtime.bigint() - ib) / 1000 / ITER;
const icpu = process.cpuUsage(icpu0);
const innerCpuUs = (icpu.user + icpu.system) / ITER;

// Baseline: one naive window SUM over the same rows.
const naive = db.prepare("SELECT SUM(amount) AS s FROM soft_limit_ledger WHERE limit_id = ? AND scope_key = ? AND ts > ?");
const nb = process.hrtime.bigint();
const NAIVE_ITER = 5;
for (let i = 0; i < NAIVE_ITER; i++) naive.get(limit.id, "agent:bench-bot", Date.now() - DAY);
const naiveUs = Number(process.hrtime.bigint() - nb) / 1000 / NAIVE_ITER;

const total1 = ledger.windowTotal(limit.id, "agent:bench-bot", DAY, Date.now());
console.log(
  JSON.stringify(
    {
      rows_in_window: ROWS,
      iterations: ITER,
      mean_us: +(elapsedUs / ITER).toFixed(1),
      p50_us: +pct(50),
      p99_us: +pct(99),
      cpu_us_per_op: +cpuUs.toFixed(1),
      in_caller_tx_mean_us: +innerUs.toFixed(1),
      in_caller_tx_cpu_us_per_op: +innerCpuUs.toFixed(1),
      load_average_1m: +(await import("node:os")).loadavg()[0]!.toFixed(1),
      naive_sum_us: +naiveUs.toFixed(0),
      speedup_vs_naive: +(naiveUs / (elapsedUs / ITER)).toFixed(0),
      window_total_before: total0,
      window_total_after: total1,
    },
    null,
    2,
  ),
);
db.close();
rmSync(dir, { recursive: true, force: true });
