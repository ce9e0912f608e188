// The rate counter and limiter (sidecar/limits/rate.ts) on real SQLite: the sliding window and its retry time, which
// intents a limit counts (tools vs actions), several limits with deny and hold, pruning, a real short window that
// resets without a long sleep, and two connections to one database file that never jointly pass `max`.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import fc from "fast-check";
import { RateLimiter, SqliteRateCounter, streamKeyWith, type RateLimit } from "../../sidecar/limits/rate.ts";
import { compileGlobs } from "../../protocol/glob.ts";
import type { Intent } from "../../protocol/index.ts";
import { dbPath, openDatabase } from "../../sidecar/store/index.ts";
import { principalLookup } from "../../sidecar/principals.ts";
import { removeDir, tempDir } from "../sidecar/helpers.ts";

let dir: string | undefined;
const conns: Database.Database[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.close();
  if (dir) removeDir(dir);
  dir = undefined;
});

const memory = () => {
  const db = new Database(":memory:");
  conns.push(db);
  return db;
};
const tool = (agent: string, name: string): Intent => ({
  agent,
  action: "tool.call",
  params: { tool: name, args: {} },
  context: {},
});
const limit = (over: Partial<RateLimit> = {}): RateLimit => ({
  id: "slack-burst",
  scope: "agent",
  tools: compileGlobs(["slack.*"], { caseInsensitive: true }),
  max: 3,
  perMs: 60_000,
  onExceed: "deny",
  ...over,
});
const T0 = Date.parse("2026-12-07T10:00:00.000Z");

describe("SqliteRateCounter", () => {
  it("counts the window (exclusive start) and names the event whose leaving frees a slot", () => {
    const c = new SqliteRateCounter(memory());
    for (const [i, ts] of [T0, T0 + 10, T0 + 20, T0 + 30].entries()) c.add("l", "agent:a", `i${i}`, ts);
    expect(c.window("l", "agent:a", T0 - 1, 10)).toEqual({ count: 4 });
    expect(c.window("l", "agent:a", T0, 3)).toEqual({ count: 3, pivot: T0 + 10 }); // T0 is outside (ts > since)
    expect(c.window("l", "agent:a", T0 - 1, 2)).toEqual({ count: 4, pivot: T0 + 20 });
    c.add("l", "agent:a", "i0", T0 + 40); // the same intent again: counted once
    expect(c.window("l", "agent:a", T0 - 1, 10).count).toBe(4);
    expect(c.prune("l", T0 + 10)).toBe(2);
    expect(c.forgetOthers(["other"])).toBe(2);
  });
});

describe("SqliteRateCounter against a list of timestamps (property)", () => {
  it("count and pivot match a naive model through adds (clock steps back included) and prunes", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), dt: fc.integer({ min: -20, max: 50 }) }),
      fc.record({ kind: fc.constant("prune" as const), age: fc.integer({ min: 0, max: 300 }) }),
      fc.record({
        kind: fc.constant("window" as const),
        per: fc.integer({ min: 1, max: 300 }),
        max: fc.integer({ min: 1, max: 8 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const c = new SqliteRateCounter(new Database(":memory:"));
        const model: number[] = [];
        let now = T0;
        let n = 0;
        for (const o of ops) {
          if (o.kind === "add") {
            now += o.dt;
            c.add("l", "k", `i${n++}`, now);
            model.push(Math.max(now, model.at(-1) ?? now)); // ts never goes back within a stream
          } else if (o.kind === "prune") {
            const before = now - o.age;
            c.prune("l", before);
            for (let i = model.length - 1; i >= 0; i--) if (model[i]! <= before) model.splice(i, 1);
          } else {
            const since = now - o.per;
            const inWindow = model.filter((ts) => ts > since);
            const want =
              inWindow.length >= o.max
                ? { count: inWindow.length, pivot: inWindow[inWindow.length - o.max]! }
                : { count: inWindow.length };
            expect(c.window("l", "k", since, o.max)).toEqual(want);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("RateLimiter", () => {
  it("deny and hold limits, tools vs actions, streams from the principals", () => {
    const r = new RateLimiter(
      new SqliteRateCounter(memory()),
      streamKeyWith(principalLookup({ a: { tenant: "acme", team: "pay" }, b: { tenant: "acme", team: "pay" } })),
    );
    const limits = [
      limit(),
      limit({ id: "team-all", scope: "team", tools: undefined, max: 4, perMs: 3_600_000, onExceed: "hold" }),
      limit({ id: "reports", scope: "global", tools: undefined, actions: compileGlobs(["report.*"]), max: 1 }),
    ];
    const approve = (i: Intent, n: string, at: number) => {
      const v = r.check(i, limits, at);
      if (!v) r.reserve(n, i, limits, at);
      return v;
    };
    expect(approve(tool("a", "slack.post"), "1", T0)).toBeUndefined();
    expect(approve(tool("a", "SLACK.read"), "2", T0 + 1)).toBeUndefined();
    expect(approve(tool("b", "jira.x"), "3", T0 + 2)).toBeUndefined(); // not a slack tool; team counts it
    expect(approve(tool("a", "slack.x"), "4", T0 + 3)).toBeUndefined(); // 3rd slack of a, 4th of the team
    const both = approve(tool("a", "slack.y"), "5", T0 + 4)!;
    expect(both.deny.map((x) => x.rule)).toEqual(["slack-burst"]);
    expect(both.hold.map((x) => x.rule)).toEqual(["team-all"]);
    expect(both.hold[0]!.message).toBe(
      "rate limit team-all: 4 per 1h for team acme/pay; retry after 2026-12-07T11:00:00.000Z (in 3600 s)",
    );
    const report: Intent = { agent: "z", action: "report.daily", params: {}, context: {} };
    expect(approve(report, "6", T0)).toBeUndefined();
    expect(approve({ ...report, agent: "y" }, "7", T0)!.deny[0]!.message).toContain("for global;");
  });

  it("a real 300 ms window trips and resets without a long sleep", async () => {
    const r = new RateLimiter(new SqliteRateCounter(memory()));
    const limits = [limit({ max: 2, perMs: 300 })];
    const now = () => Date.now();
    for (const n of ["1", "2"]) {
      expect(r.check(tool("a", "slack.p"), limits, now())).toBeUndefined();
      r.reserve(n, tool("a", "slack.p"), limits, now());
    }
    const over = r.check(tool("a", "slack.p"), limits, now())!;
    expect(over.deny[0]!.message).toMatch(/2 per 300ms for agent a; retry after .*Z \(in 1 s\)/);
    await new Promise((res) => setTimeout(res, 350));
    expect(r.check(tool("a", "slack.p"), limits, now())).toBeUndefined();
  });

  it("two connections to one database file never jointly pass max", () => {
    dir = tempDir("isc-rate-");
    const main = openDatabase(dir);
    conns.push(main);
    const other = new Database(dbPath(dir));
    other.pragma("busy_timeout = 5000");
    conns.push(other);
    const limits = [limit({ max: 5 })];
    const sides = [main, other].map((db) => {
      const r = new RateLimiter(new SqliteRateCounter(db));
      // check and reserve in one IMMEDIATE transaction, as the decision's transaction does
      return db.transaction((id: string) => {
        if (r.check(tool("a", "slack.p"), limits, T0)) return false;
        r.reserve(id, tool("a", "slack.p"), limits, T0);
        return true;
      }).immediate;
    });
    let approved = 0;
    for (let i = 0; i < 20; i++) if (sides[i % 2]!(`i${i}`)) approved++;
    expect(approved).toBe(5);
    expect((main.prepare("SELECT count(*) AS n FROM rate_limit_ledger").get() as { n: number }).n).toBe(5);
  });
});
