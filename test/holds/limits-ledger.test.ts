import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import type { SoftLimit } from "../../sidecar/limits/types.ts";
import type { Intent } from "../../protocol/index.ts";

const dirs: string[] = [];
function openDb(): { db: Database.Database; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "ledger-"));
  dirs.push(dir);
  const file = join(dir, "state.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  return { db, file };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const usd: SoftLimit = {
  id: "daily-disbursed-usd",
  actions: ["treasury.disburse"],
  measure: (i) => Number(i.params.amount_usd),
  scope: "agent",
  windowMs: 24 * HOUR,
  max: 100000,
};
const calls: SoftLimit = { id: "hourly-tool-calls", actions: ["tool.call"], measure: "count", scope: "agent", windowMs: HOUR, max: 3 };
const disburse = (amount: number, agent = "treasury-bot"): Intent => ({
  agent,
  action: "treasury.disburse",
  params: { amount_usd: amount, ticket: "T-1" },
  context: {},
});
const tool = (agent = "a"): Intent => ({ agent, action: "tool.call", params: { tool: "slack.post_message", args: {} }, context: {} });

describe("soft-limit ledger", () => {
  it("passes intents under the cap and stops the one that would cross it, naming total and cap", () => {
    const { db } = openDb();
    const ledger = new LimitLedger(db);
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    expect(ledger.checkAndReserve("i1", disburse(60000), [usd], t0).ok).toBe(true);
    expect(ledger.checkAndReserve("i2", disburse(40000), [usd], t0 + 1).ok).toBe(true); // exactly at the cap
    const r = ledger.checkAndReserve("i3", disburse(0.01), [usd], t0 + 2);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reasons[0]!.rule).toBe("daily-disbursed-usd");
      expect(r.reasons[0]!.message).toContain("window total 100000 + 0.01");
      expect(r.reasons[0]!.message).toContain("cap of 100000");
    }
    expect(ledger.windowTotal("daily-disbursed-usd", "agent:treasury-bot", 24 * HOUR, t0 + 3)).toBe(100000);
  });

  it("rolls the window: amounts older than the window stop counting", () => {
    const { db } = openDb();
    const ledger = new LimitLedger(db);
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 3; i++) expect(ledger.checkAndReserve(`c${i}`, tool(), [calls], t0 + i * 1000).ok).toBe(true);
    expect(ledger.checkAndReserve("c3", tool(), [calls], t0 + 5000).ok).toBe(false);
    // one hour after the first call, it leaves the window
    expect(ledger.checkAndReserve("c4", tool(), [calls], t0 + HOUR).ok).toBe(true);
    expect(ledger.checkAndReserve("c5", tool(), [calls], t0 + HOUR + 500).ok).toBe(false);
  });

  it("keeps scopes apart and ignores actions the limit does not cover", () => {
    const { db } = openDb();
    const ledger = new LimitLedger(db);
    const t = Date.now();
    for (let i = 0; i < 3; i++) ledger.checkAndReserve(`a${i}`, tool("a"), [calls], t);
    expect(ledger.checkAndReserve("b0", tool("b"), [calls], t).ok).toBe(true);
    expect(ledger.checkAndReserve("d0", disburse(5), [calls], t)).toEqual({ ok: true, charges: [] });
  });

  it("counts an idempotent retry once, and a forced reservation (approved hold) always counts", () => {
    const { db } = openDb();
    const ledger = new LimitLedger(db);
    const t = Date.now();
    ledger.checkAndReserve("x", disburse(90000), [usd], t);
    ledger.checkAndReserve("x", disburse(90000), [usd], t);
    expect(ledger.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, t)).toBe(90000);
    expect(ledger.checkAndReserve("y", disburse(20000), [usd], t).ok).toBe(false);
    ledger.reserve("y", disburse(20000), [usd], t);
    expect(ledger.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, t)).toBe(110000);
  });

  it("rejects a measure that is not a non-negative number (the pipeline denies)", () => {
    const { db } = openDb();
    const ledger = new LimitLedger(db);
    expect(() => ledger.checkAndReserve("n", disburse(-5), [usd], Date.now())).toThrow(/non-negative/);
    expect(() => ledger.checkAndReserve("n", disburse(Number.NaN), [usd], Date.now())).toThrow(/measure/);
  });

  it("prunes rows that left the window without changing any window total, and survives reopening", () => {
    const { db, file } = openDb();
    const ledger = new LimitLedger(db);
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 50; i++) ledger.checkAndReserve(`p${i}`, disburse(1000), [usd], t0 + i * HOUR);
    const now = t0 + 49 * HOUR;
    const before = ledger.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, now);
    expect(before).toBe(24000);
    const deleted = ledger.prune([usd], now, 7); // small chunks: several delete rounds
    expect(deleted).toBe(25); // rows at 0..25 h are out of the window; the one at 25 h stays as the base
    expect(ledger.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, now)).toBe(before);
    db.close();
    const again = new LimitLedger(new Database(file));
    expect(again.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, now)).toBe(before);
    expect(again.windowTotal(usd.id, "agent:treasury-bot", usd.windowMs, now + HOUR)).toBe(23000);
  });
});
