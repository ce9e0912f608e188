// The fleet ledger's rolling windows on database time: a reservation leaves the window when its time is up, and the
// clean-up keeps exactly what later window totals need (PostgreSQL, through the decision batch and lockStreams).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgSkipReason, startPostgres, type PgCluster } from "./postgres.ts";
import { openPool, type FleetPool } from "../../sidecar/store/pg/pool.ts";
import { migrate } from "../../sidecar/store/pg/migrations.ts";
import { initChain, NodeChain } from "../../sidecar/store/pg/audit-chain.ts";
import { PgDecisions, lockStreams } from "../../sidecar/store/pg/decisions.ts";
import { pruneLedger } from "../../sidecar/store/pg/ledger-prune.ts";
import { DEFAULT_HOLDS_POLICY } from "../../sidecar/holds/types.ts";
import type { SoftLimit } from "../../sidecar/limits/types.ts";
import type { MakeRecord, SharedJob } from "../../sidecar/pipeline-hooks.ts";

const skip = pgSkipReason();
if (skip) console.warn(`[fleet] skipped: ${skip}`);

const LIMIT: SoftLimit = { id: "per-agent", scope: "agent", measure: "count", windowMs: 1500, max: 3 };
const make: MakeRecord = (job, decision, reasons, hold) => ({
  id: job.id,
  agent: job.intent.agent,
  action: job.intent.action,
  digest: job.digest,
  intent: { agent: job.intent.agent, action: job.intent.action, params: {}, context: {} },
  decision,
  reasons,
  ...(hold ? { hold } : {}),
  created_at: job.now.toISOString(),
  updated_at: job.now.toISOString(),
});

describe.skipIf(skip !== undefined)("fleet ledger windows (PostgreSQL)", () => {
  let cluster: PgCluster;
  let db: FleetPool;
  let decisions: PgDecisions;
  let n = 0;
  const job = (): SharedJob => ({
    id: `intent-${++n}`,
    intent: { agent: "a1", action: "report.send", params: {}, context: {} },
    digest: `sha256:${n}`,
    policy: { digest: "sha256:p" },
    effect: "allow",
    reasons: [],
    now: new Date(),
  });
  const decide = async (count: number) =>
    (await decisions.record(Array.from({ length: count }, job), make)).map((r) => r.out?.rec?.decision ?? String(r.error));

  beforeAll(async () => {
    cluster = await startPostgres();
    db = openPool(cluster.url);
    await migrate(db);
    await initChain(db.pool, "n1");
    decisions = new PgDecisions({
      db,
      node: "n1",
      chain: new NodeChain("n1"),
      limits: () => [LIMIT],
      holdsPolicy: () => ({ ...DEFAULT_HOLDS_POLICY, maxOpenPerAgent: 1000 }),
    });
  }, 120_000);
  afterAll(async () => {
    await db?.close();
    cluster?.destroy();
  });

  it("a window total drops when reservations leave the window, and pruning keeps the totals exact", async () => {
    expect(await decide(5)).toEqual(["APPROVED", "APPROVED", "APPROVED", "PENDING", "PENDING"]);
    await new Promise((r) => setTimeout(r, 1700)); // the three approvals leave the 1.5 s window
    expect(await decide(2)).toEqual(["APPROVED", "APPROVED"]);
    // prune: what left the window goes, except the newest entry before the cut-off (the base of the window total)
    const before = Number((await db.query("SELECT count(*) AS n FROM fleet_ledger")).rows[0].n);
    const deleted = await pruneLedger(db, [{ limitId: LIMIT.id, windowMs: LIMIT.windowMs }]);
    expect(deleted).toBe(2);
    expect(Number((await db.query("SELECT count(*) AS n FROM fleet_ledger")).rows[0].n)).toBe(before - 2);
    // the total seen under the lock is unchanged by the prune: 2 in the window, one more fits
    const c = await db.pool.connect();
    try {
      await c.query("BEGIN");
      const cums = await lockStreams(c, [LIMIT.id], ["agent:a1"], [LIMIT.windowMs]);
      const s = [...cums.values()][0]!;
      expect((s.cum - s.base) / 1_000_000).toBe(2);
      await c.query("ROLLBACK");
    } finally {
      c.release();
    }
    expect(await decide(2)).toEqual(["APPROVED", "PENDING"]);
  }, 60_000);
});
