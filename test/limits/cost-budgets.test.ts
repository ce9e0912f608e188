// Cost totals and budgets on a real SQLite ledger: exact sums per agent/team/tenant from the principals, calendar and
// fixed windows, hold/deny beyond the limit, alerts once per threshold/window/key, currencies.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import Database from "better-sqlite3";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import { CostLedger, formatMoney, intentCharge, parseCostAmount } from "../../sidecar/limits/cost.ts";
import { BudgetBook, type Budget, type CostPolicy } from "../../sidecar/limits/budgets.ts";
import { parseBudgetLimit, parseBudgetPer, windowOf } from "../../sidecar/limits/budget-units.ts";
import { principalLookup } from "../../sidecar/principals.ts";
import type { Intent } from "../../protocol/index.ts";

const lookup = principalLookup({
  alice: { tenant: "acme", team: "finance" },
  bob: { tenant: "acme", team: "finance" },
  carol: { tenant: "acme", team: "ops" },
});

function setup() {
  const db = new Database(":memory:");
  const ledger = new LimitLedger(db, { principals: lookup });
  const costs = new CostLedger(db, ledger);
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const book = new BudgetBook(db, costs, { enqueue: (e) => (events.push(e as never), 1) });
  return { db, costs, book, events };
}

const intent = (agent: string, amount: string, currency = "USD", context: Record<string, unknown> = {}): Intent => ({
  agent,
  action: "llm.complete",
  params: {},
  context,
  cost: { amount, currency },
});

const budget = (over: Partial<Budget> = {}): Budget => ({
  id: "b",
  scope: "team",
  per: { calendar: "day" },
  limitUnits: 10_000_000,
  currency: "USD",
  alertAt: [0.5, 0.8, 1],
  onExceed: "hold",
  ...over,
});

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);

describe("amounts", () => {
  it("parses and formats exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 999_999 }), (i, f) => {
        const s = `${i}.${String(f).padStart(6, "0")}`;
        expect(parseCostAmount(s)).toBe(i * 1e6 + f);
        expect(parseCostAmount(formatMoney(i * 1e6 + f))).toBe(i * 1e6 + f);
      }),
    );
    expect(formatMoney(420_000)).toBe("0.42");
    expect(formatMoney(500_000_000)).toBe("500");
  });

  it("budget limits need a currency and at most 6 decimals", () => {
    expect(parseBudgetLimit("500 USD")).toEqual({ ok: true, value: { units: 500_000_000, currency: "USD" } });
    expect(parseBudgetLimit("12.5 EUR")).toEqual({ ok: true, value: { units: 12_500_000, currency: "EUR" } });
    for (const bad of ["500", 500, "0 USD", "1.1234567 USD", "5 usd", "-1 USD"]) expect(parseBudgetLimit(bad).ok).toBe(false);
  });

  it("windows: calendar day/week/month in UTC, fixed durations from the epoch", () => {
    const t = Date.UTC(2026, 11, 9, 15, 30); // a Wednesday
    expect(windowOf({ calendar: "day" }, t)).toEqual({ start: Date.UTC(2026, 11, 9), end: Date.UTC(2026, 11, 10) });
    expect(windowOf({ calendar: "week" }, t)).toEqual({ start: Date.UTC(2026, 11, 7), end: Date.UTC(2026, 11, 14) });
    expect(windowOf({ calendar: "month" }, t)).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
    expect(windowOf({ everyMs: 3_600_000 }, t)).toEqual({ start: Date.UTC(2026, 11, 9, 15), end: Date.UTC(2026, 11, 9, 16) });
    expect(parseBudgetPer("30d")).toEqual({ ok: true, value: { everyMs: 30 * 86_400_000 } });
    expect(parseBudgetPer("fortnight").ok).toBe(false);
    expect(parseBudgetPer("10s").ok).toBe(false);
  });

  it("a policy measure wins over the declared cost", () => {
    const measures = [{ id: "m", measure: () => 0.25, currency: "USD", actions: { test: (a: string) => a === "llm.complete" } }];
    expect(intentCharge(intent("alice", "9"), measures, T0)).toEqual({ units: 250_000, currency: "USD", source: "costs.m" });
    expect(intentCharge({ ...intent("alice", "9"), action: "other" }, measures, T0)?.source).toBe("declared");
    expect(() => intentCharge(intent("alice", "1"), [{ id: "m", measure: () => -1, currency: "USD" }], T0)).toThrow(/costs m/);
  });
});

describe("cost totals", () => {
  it("sum per agent, team and tenant from the principals, never the context", () => {
    const { costs, book } = setup();
    const policy: CostPolicy = { measures: [], budgets: [] };
    const spend: [string, string][] = [["alice", "1.10"], ["bob", "2.25"], ["carol", "0.000001"], ["mallory", "3"], ["alice", "0.9"]];
    spend.forEach(([a, amt], i) => book.record(`i${i}`, intent(a, amt, "USD", a === "mallory" ? { tenant: "acme" } : {}), policy, T0 + i));
    const since = T0 - 1000;
    const now = T0 + 100;
    expect(formatMoney(costs.total("agent", "USD", "agent:alice", since, now))).toBe("2");
    expect(formatMoney(costs.total("team", "USD", "team:acme/finance", since, now))).toBe("4.25");
    expect(formatMoney(costs.total("team", "USD", "team:acme/ops", since, now))).toBe("0.000001");
    expect(formatMoney(costs.total("tenant", "USD", "tenant:acme", since, now))).toBe("4.250001");
    // no principal: counted alone, never in acme's stream
    expect(costs.streams("tenant", "USD").sort()).toEqual(["agent:mallory", "tenant:acme"]);
    // a later window does not see earlier spend
    expect(costs.total("agent", "USD", "agent:alice", T0 + 50, now)).toBe(0);
  });

  it("an intent is counted once however often it is recorded", () => {
    const { costs, book } = setup();
    const i = intent("alice", "1");
    book.record("same", i, { measures: [], budgets: [] }, T0);
    book.record("same", i, { measures: [], budgets: [] }, T0 + 1);
    expect(costs.total("agent", "USD", "agent:alice", T0, T0 + 2)).toBe(1_000_000);
  });
});

describe("budgets", () => {
  it("alerts once per threshold, holds beyond the limit, and starts again next window", () => {
    const { book, events } = setup();
    const policy: CostPolicy = { measures: [], budgets: [budget()] };
    const step = (id: string, agent: string, amt: string, at: number) => {
      const c = book.evaluate(id, intent(agent, amt), policy, at);
      if (!c.refused) c.commit();
      return c.refused;
    };
    expect(step("a", "alice", "4", T0)).toBeUndefined();
    expect(events).toHaveLength(0);
    expect(step("b", "bob", "1", T0 + 1)).toBeUndefined(); // 5 of 10: 0.5
    expect(events.map((e) => e.data.threshold)).toEqual([0.5]);
    expect(step("c", "alice", "0.5", T0 + 2)).toBeUndefined(); // 5.5: nothing new
    expect(step("d", "alice", "4.5", T0 + 3)).toBeUndefined(); // 10: 0.8 and 1.0 at once
    expect(events.map((e) => e.data.threshold)).toEqual([0.5, 0.8, 1]);
    expect(events[2]!.data).toMatchObject({ budget: "b", scope: "team", key: "acme/finance", total: "10", limit: "10", exceeded: false });
    const r = step("e", "bob", "0.01", T0 + 4);
    expect(r?.hold[0]).toMatchObject({ block: "budgets", rule: "b" });
    expect(r?.hold[0]!.message).toContain("team acme/finance has spent 10 USD of its 10 USD budget b");
    expect(r?.hold[0]!.message).toContain("0.01 USD would exceed it");
    expect(events).toHaveLength(3); // every threshold already alerted in this window
    // another team has its own stream
    expect(step("f", "carol", "6", T0 + 5)).toBeUndefined();
    expect(events.at(-1)!.data).toMatchObject({ key: "acme/ops", threshold: 0.5 });
    // the next day starts from zero
    expect(step("g", "bob", "5", T0 + 86_400_000)).toBeUndefined();
    expect(events.at(-1)!.data).toMatchObject({ key: "acme/finance", threshold: 0.5 });
  });

  it("deny beyond the limit; a refused intent's crossing alerts once with refused set", () => {
    const { book, events } = setup();
    const policy: CostPolicy = { measures: [], budgets: [budget({ scope: "agent", onExceed: "deny", alertAt: [1] })] };
    const r = book.evaluate("x", intent("alice", "11"), policy, T0);
    expect(r.refused?.deny[0]?.message).toContain("agent alice has spent 0 USD");
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ refused: "deny", attempted: "11", total: "0", exceeded: true });
    book.evaluate("y", intent("alice", "12"), policy, T0 + 1);
    expect(events).toHaveLength(1);
  });

  it("a refusal alerts only the budgets it would have exceeded", () => {
    const { book, events } = setup();
    const policy: CostPolicy = {
      measures: [],
      budgets: [budget({ id: "wide", scope: "tenant", limitUnits: 100_000_000, alertAt: [0.05] }), budget({ id: "tight", scope: "agent", alertAt: [0.5, 1] })],
    };
    const r = book.evaluate("x", intent("alice", "11"), policy, T0);
    expect(r.refused?.hold.map((x) => x.rule)).toEqual(["tight"]);
    expect(events.map((e) => `${e.data.budget} ${e.data.threshold} ${e.data.refused}`)).toEqual(["tight 0.5 hold", "tight 1 hold"]);
  });

  it("costs in a currency no budget counts are denied; free intents pass", () => {
    const { book } = setup();
    const policy: CostPolicy = { measures: [], budgets: [budget()] };
    expect(book.evaluate("x", intent("alice", "1", "EUR"), policy, T0).refused?.deny[0]).toMatchObject({ rule: "currency" });
    expect(book.evaluate("y", intent("alice", "0"), policy, T0).refused).toBeUndefined();
    expect(book.evaluate("z", { agent: "alice", action: "a", params: {}, context: {} }, policy, T0).refused).toBeUndefined();
  });

  it("concurrent-looking spend never passes the limit (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3_000_000 }), { maxLength: 30 }), (amounts) => {
        const { book, costs } = setup();
        const policy: CostPolicy = { measures: [], budgets: [budget({ scope: "tenant" })] };
        amounts.forEach((u, i) => {
          const c = book.evaluate(`i${i}`, intent(i % 2 ? "alice" : "carol", formatMoney(u)), policy, T0 + i);
          if (!c.refused) c.commit();
        });
        expect(costs.total("tenant", "USD", "tenant:acme", T0 - 1, T0 + 100)).toBeLessThanOrEqual(10_000_000);
      }),
    );
  });
});
