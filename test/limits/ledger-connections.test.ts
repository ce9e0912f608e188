// The soft-limit ledger shared by several connections to one database file (the daemon and, e.g., a second daemon or
// a CLI on the same data dir): every check reads the totals inside its own write transaction, so reservations made
// through one connection are seen by the next check on any other, and no two intents jointly pass a cap.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import type { SoftLimit } from "../../sidecar/limits/types.ts";
import type { Intent } from "../../protocol/index.ts";
import { dbPath, openDatabase, type Db } from "../../sidecar/store/index.ts";
import { removeDir, tempDir } from "../sidecar/helpers.ts";

let dir: string;
const conns: Database.Database[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.close();
  removeDir(dir);
});

const cap: SoftLimit = {
  id: "daily-usd",
  actions: ["treasury.*"],
  measure: (intent) => Number((intent.params as { amount_usd: number }).amount_usd),
  scope: "agent",
  windowMs: 86_400_000,
  max: 1000,
};
const intent = (amount: number): Intent => ({
  agent: "bot",
  action: "treasury.disburse",
  params: { amount_usd: amount },
  context: {},
});

describe("soft-limit ledger across connections", () => {
  it("reservations through one connection count for checks through another; the cap holds exactly", () => {
    dir = tempDir("isc-ledger-");
    const main: Db = openDatabase(dir);
    conns.push(main);
    const other = new Database(dbPath(dir));
    other.pragma("busy_timeout = 5000");
    conns.push(other);
    const ledgers = [new LimitLedger(main), new LimitLedger(other)];
    const now = Date.parse("2026-11-22T08:00:00Z");
    const passed: number[] = [];
    // 30 intents of $70 alternating between the connections: exactly 14 fit under $1,000
    for (let i = 0; i < 30; i++) {
      const r = ledgers[i % 2]!.checkAndReserve(`int-${i}`, intent(70), [cap], now + i);
      if (r.ok) passed.push(i);
    }
    expect(passed).toEqual(Array.from({ length: 14 }, (_, i) => i));
    for (const l of ledgers) expect(l.windowTotal("daily-usd", "agent:bot", cap.windowMs, now + 30)).toBe(980);
    // an operator-approved hold reserved through the other connection counts at once for the daemon's checks
    ledgers[1]!.reserve("held-1", intent(20), [cap], now + 31);
    expect(ledgers[0]!.checkAndReserve("int-last", intent(1), [cap], now + 32).ok).toBe(false);
    expect(ledgers[0]!.windowTotal("daily-usd", "agent:bot", cap.windowMs, now + 32)).toBe(1000);
  });
});
