// The pipeline's group commit through the daemon (real SQLite file, real holds service): decisions that reach the
// recording stage in the same turn share one transaction. A decision whose recording fails is denied alone; a held
// decision in the same transaction is created and announced exactly once; soft limits stay exact; the audit chain
// verifies with rows from another connection in between.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { appendAudit, dbPath, verifyAudit } from "../../sidecar/store/index.ts";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import type { LimitRequest } from "../../sidecar/pipeline-hooks.ts";
import type { Stages } from "../../sidecar/pipeline.ts";
import { fakePolicy } from "./fake-policy.ts";
import { removeDir, startTestDaemon } from "./helpers.ts";

type D = Awaited<ReturnType<typeof startTestDaemon>>;
let d: D | undefined;
/** Counts group commits, to check that the decisions fired together really shared one transaction. */
let stages: Stages;
const newStages = (): Stages => (stages = { schema: 0, policy: 0, record_sign: 0, count: 0, commits: 0 });
afterEach(async () => {
  if (d) {
    await d.close();
    removeDir(d.dataDir);
  }
  d = undefined;
});

/** A soft-limit hook: the real ledger with a cap of `max` intents per agent; params.poison makes it throw. */
function countingLimit(max: number) {
  let ledger: LimitLedger | undefined;
  return {
    checkAndReserve(req: LimitRequest) {
      if ((req.intent.params as { poison?: boolean }).poison) throw new Error("measure failed");
      ledger ??= new LimitLedger(req.db);
      const limit = { id: "per-agent", measure: "count" as const, scope: "agent" as const, windowMs: 3_600_000, max };
      const r = ledger.checkAndReserve(req.intentId, req.intent, [limit], req.now.getTime());
      return r.ok ? [] : r.reasons;
    },
  };
}

const decide = (action: string, params: Record<string, unknown> = {}, agent = "bot") =>
  d!.pipeline.decide({ agent, action, params });

describe("pipeline group commit", () => {
  it("one decision failing to record is denied alone; the others commit once each and the chain verifies", async () => {
    d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      limits: countingLimit(1000),
      stages: newStages(),
    });
    const rs = await Promise.all(
      Array.from({ length: 9 }, (_, i) => decide("report.send", i === 3 || i === 7 ? { poison: true } : { n: i })),
    );
    expect(stages.commits).toBe(1);
    const decisions = rs.map((r) => (r.body as { decision: string }).decision);
    expect(decisions).toEqual(rs.map((_, i) => (i === 3 || i === 7 ? "DENIED" : "APPROVED")));
    const ids = rs.map((r) => (r.body as { intent_id: string }).intent_id);
    const rows = d.db.prepare("SELECT id, decision FROM intents").all() as { id: string; decision: string }[];
    expect(rows).toHaveLength(9); // the failed two are recorded as DENIED by the fallback, nothing twice
    expect(new Map(rows.map((r) => [r.id, r.decision]))).toEqual(new Map(ids.map((id, i) => [id, decisions[i]])));
    // the ledger holds exactly the approved decisions
    expect(d.db.prepare("SELECT count(*) FROM soft_limit_ledger").pluck().get()).toBe(7);
    expect(verifyAudit(d.db)).toMatchObject({ ok: true, rows: 9 });
  });

  it("a held decision in the same commit as a failing one gets one hold, announced once", async () => {
    d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"], hold: ["wire.send"] }),
      limits: countingLimit(1000),
      stages: newStages(),
    });
    const created: string[] = [];
    d.holdsSystem.holds.on("hold", (e: { type: string; hold: { id: string } }) => {
      if (e.type === "created") created.push(e.hold.id);
    });
    // a failure before the hold (the commit is re-run without it) and one after it (rolled back alone)
    const rs = await Promise.all([
      decide("report.send", { poison: true }),
      decide("report.send", { n: 1 }),
      decide("wire.send", { amount: 5 }),
      decide("report.send", { poison: true }),
      decide("report.send", { n: 2 }),
    ]);
    expect(rs.map((r) => (r.body as { decision: string }).decision)).toEqual([
      "DENIED",
      "APPROVED",
      "PENDING",
      "DENIED",
      "APPROVED",
    ]);
    expect(stages.commits).toBe(1);
    const held = rs[2]!.body as { hold: { id: string } };
    expect(created).toEqual([held.hold.id]);
    expect(d.db.prepare("SELECT id FROM holds").pluck().all()).toEqual([held.hold.id]);
    expect(verifyAudit(d.db)).toMatchObject({ ok: true });
  });

  it("soft limits stay exact inside one commit, also when a failing decision forces a re-run", async () => {
    d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      limits: countingLimit(3),
      stages: newStages(),
    });
    const rs = await Promise.all(
      Array.from({ length: 7 }, (_, i) => decide("report.send", i === 4 ? { poison: true } : { n: i })),
    );
    const decisions = rs.map((r) => (r.body as { decision: string }).decision);
    expect(stages.commits).toBe(1);
    expect(decisions.filter((x) => x === "APPROVED")).toHaveLength(3);
    expect(decisions.filter((x) => x === "PENDING")).toHaveLength(3);
    expect(decisions[4]).toBe("DENIED");
    expect(d.db.prepare("SELECT count(*) FROM soft_limit_ledger").pluck().get()).toBe(3);
  });

  it("audit rows written by another connection between commits are chained in", async () => {
    d = await startTestDaemon({ policy: fakePolicy({ allow: ["report.send"] }) });
    const cli = new Database(dbPath(d.dataDir));
    try {
      cli.pragma("busy_timeout = 5000");
      await Promise.all([decide("report.send"), decide("report.send")]);
      appendAudit(cli, { type: "keys.rotated", kid: "k2" });
      await Promise.all([decide("report.send"), decide("report.send"), decide("nope.action")]);
      appendAudit(cli, { type: "keys.rotated", kid: "k3" });
      await decide("report.send");
      const types = d.db.prepare("SELECT type FROM audit ORDER BY seq").pluck().all();
      expect(types.filter((t) => t === "keys.rotated")).toHaveLength(2);
      expect(types).toHaveLength(8);
      expect(verifyAudit(d.db)).toMatchObject({ ok: true, rows: 8 });
    } finally {
      cli.close();
    }
  });
});
