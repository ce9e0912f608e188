// Budgets on the decision path and the usage report, on a real SQLite file (WAL, synchronous=NORMAL as the daemon).
// Run: npx tsx bench/budgets.ts   (env ROWS: cost ledger rows seeded first, default 900,000; ITER: decisions timed)
// Measures, per costed intent with three budgets (agent/day, team/month, tenant/week): the budget check, the count
// (three ledger rows) and the alert bookkeeping, inside the caller's transaction as the daemon runs it (CPU time),
// and in a transaction of its own (wall time); a cost-free intent; and GET /v1/usage's report over all the rows.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LimitLedger } from "../sidecar/limits/ledger.ts";
import { CostLedger } from "../sidecar/limits/cost.ts";
import { BudgetBook, type CostPolicy } from "../sidecar/limits/budgets.ts";
import { costUsage, parseUsageQuery } from "../sidecar/operator/usage.ts";
import { principalLookup } from "../sidecar/principals.ts";
import type { Intent } from "../protocol/index.ts";

const ROWS = Number(process.env.ROWS ?? 900_000);
const ITER = Number(process.env.ITER ?? 20_000);
const AGENTS = 1000;

const dir = mkdtempSync(join(tmpdir(), "bench-budgets-"));
const db = new Database(join(dir, "state.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
const principals: Record<string, { tenant: string; team: string }> = {};
for (let i = 0; i < AGENTS; i++) principals[`a${i}`] = { tenant: `t${i % 10}`, team: `team${i % 50}` };
const ledger = new LimitLedger(db, { principals: principalLookup(principals) });
const costs = new CostLedger(db, ledger);
const book = new BudgetBook(db, costs, { enqueue: () => 1 });
const big = 1e15; // never reached: every intent is checked and counted
const policy: CostPolicy = {
  measures: [],
  budgets: [
    { id: "agent-day", scope: "agent", per: { calendar: "day" }, limitUnits: big, currency: "USD", alertAt: [0.5, 0.8, 1], onExceed: "deny" },
    { id: "team-month", scope: "team", per: { calendar: "month" }, limitUnits: big, currency: "USD", alertAt: [0.5, 0.8, 1], onExceed: "hold" },
    { id: "tenant-week", scope: "tenant", per: { calendar: "week" }, limitUnits: big, currency: "USD", alertAt: [1], onExceed: "hold" },
  ],
};
const intent = (i: number, cost = true): Intent => ({
  agent: `a${i % AGENTS}`,
  action: "llm.run",
  params: {},
  context: {},
  ...(cost ? { cost: { amount: "0.42", currency: "USD" } } : {}),
});
const decide = (id: string, i: Intent, t: number) => {
  const c = book.evaluate(id, i, policy, t);
  if (!c.refused) c.commit();
};

// seed: ROWS / 3 costed decisions (three ledger rows each) over the last hour
const t0 = Date.now() - 3_600_000;
let seq = 0;
const batch = db.transaction((n: number) => {
  for (let k = 0; k < n; k++, seq++) decide(`seed-${seq}`, intent(seq), t0 + Math.floor(seq / 100));
});
while (seq < ROWS / 3) batch(Math.min(10_000, ROWS / 3 - seq));
const rows = (db.prepare("SELECT COUNT(*) AS n FROM soft_limit_ledger").get() as { n: number }).n;

// inside the caller's transaction, 100 decisions per transaction (CPU time per decision)
const inTx = db.transaction((from: number, cost: boolean) => {
  for (let k = from; k < from + 100; k++) decide(`in-${cost}-${k}`, intent(k, cost), Date.now());
});
const cpu = (fn: () => void) => {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / ITER;
};
const costed = cpu(() => {
  for (let k = 0; k < ITER; k += 100) inTx(k, true);
});
const free = cpu(() => {
  for (let k = 0; k < ITER; k += 100) inTx(k, false);
});

// own transaction per decision (wall time)
const own = db.transaction((k: number) => decide(`own-${k}`, intent(k), Date.now()));
const wall: number[] = [];
for (let k = 0; k < ITER; k++) {
  const s = performance.now();
  own(k);
  wall.push((performance.now() - s) * 1000);
}
wall.sort((a, b) => a - b);

// the usage report (all scopes, this month) over every row
const now = Date.now();
const reports: number[] = [];
let totals = 0;
for (let k = 0; k < 5; k++) {
  const s = performance.now();
  totals = costUsage({ costs, budgets: book, policy: () => policy }, parseUsageQuery({}, now), now).costs.totals.length;
  reports.push(performance.now() - s);
}
reports.sort((a, b) => a - b);

const f = (n: number) => n.toFixed(1);
console.log(`cost ledger rows: ${rows} (${AGENTS} agents, 50 teams, 10 tenants; 3 budgets)`);
console.log(`costed decision, inside the caller's transaction: CPU ${f(costed)} µs`);
console.log(`cost-free decision, inside the caller's transaction: CPU ${f(free)} µs`);
console.log(`costed decision, own transaction: median ${f(wall[ITER >> 1]!)} µs, p99 ${f(wall[Math.floor(ITER * 0.99)]!)} µs`);
console.log(`GET /v1/usage report (${totals} totals + budget streams): median ${f(reports[2]!)} ms`);
db.close();
rmSync(dir, { recursive: true, force: true });
