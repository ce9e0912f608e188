// The soft-limit ledger: rolling-window totals per (limit, scope) and the atomic check + reservation that runs in
// the same SQLite transaction that issues an attestation. Everything here is synchronous on purpose: nothing may
// await between the check and the reservation.
import type Database from "better-sqlite3";
import type { Intent, Reason } from "../../protocol/index.ts";
import { wildcardMatch } from "../../protocol/glob.ts";
import { LIMITS_SCHEMA_SQL, UNITS } from "./schema.ts";
import { LimitError, type SoftLimit } from "./types.ts";
import { formatDuration } from "../policy/units.ts";
import type { PrincipalLookup } from "../principals.ts";

export interface LimitLedgerOptions {
  /** The agent → principal mapping of the sidecar config: `scope: tenant|team` key on it. Without it (or for an
   * agent without a principal) every agent is its own tenant: key `agent:<name>`, never the intent's context. */
  principals?: PrincipalLookup;
}

/** One limit an intent falls under, with what it would add. */
export interface LimitCharge {
  limit: SoftLimit;
  scopeKey: string;
  units: number;
}

export type CheckResult = { ok: true; charges: LimitCharge[] } | { ok: false; reasons: Reason[]; charges: LimitCharge[] };

interface Row {
  ts: number;
  cum: number;
}

export class LimitLedger {
  private readonly head: Database.Statement<[string, string], Row>;
  private readonly before: Database.Statement<[string, string, number], Row>;
  private readonly insert: Database.Statement<[string, string, number, number, number, string]>;
  private readonly already: Database.Statement<[string, string], { one: number }>;
  /** Runs its argument in an IMMEDIATE transaction; created once (db.transaction() is not free). */
  private readonly immediate: <T>(fn: () => T) => T;
  private principals: PrincipalLookup | undefined;

  constructor(
    private readonly db: Database.Database,
    opts: LimitLedgerOptions = {},
  ) {
    this.principals = opts.principals;
    db.exec(LIMITS_SCHEMA_SQL);
    this.head = db.prepare(
      "SELECT ts, cum FROM soft_limit_ledger WHERE limit_id = ? AND scope_key = ? ORDER BY ts DESC, cum DESC LIMIT 1",
    );
    this.before = db.prepare(
      "SELECT ts, cum FROM soft_limit_ledger WHERE limit_id = ? AND scope_key = ? AND ts <= ? ORDER BY ts DESC, cum DESC LIMIT 1",
    );
    this.insert = db.prepare(
      "INSERT OR IGNORE INTO soft_limit_ledger (limit_id, scope_key, ts, amount, cum, intent_id) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.already = db.prepare("SELECT 1 AS one FROM soft_limit_ledger WHERE intent_id = ? AND limit_id = ?");
    this.immediate = db.transaction((fn: () => unknown) => fn()).immediate as LimitLedger["immediate"];
  }

  /** Sets the principal lookup (the daemon wires the config's `principals` after the holds subsystem made us). */
  usePrincipals(lookup: PrincipalLookup | undefined): void {
    this.principals = lookup;
  }

  /** The limits this intent falls under and what it would add to each (throws LimitError on a bad measure). */
  charges(intent: Intent, limits: readonly SoftLimit[], now = Date.now()): LimitCharge[] {
    return limitCharges(intent, limits, this.principals, now);
  }

  /** Total of a window in measure units (e.g. USD), at `now`. */
  windowTotal(limitId: string, scope: string, windowMs: number, now: number): number {
    return this.totalUnits(limitId, scope, windowMs, now) / UNITS;
  }

  /**
   * Checks every applicable limit and, only if all pass, reserves the intent's amounts. Runs in one IMMEDIATE
   * transaction (or joins the caller's), so concurrent intents cannot jointly pass a cap.
   */
  checkAndReserve(intentId: string, intent: Intent, limits: readonly SoftLimit[], now: number): CheckResult {
    return this.inTx(() => {
      const charges = this.charges(intent, limits, now);
      const reasons: Reason[] = [];
      const heads: (Row | undefined)[] = [];
      for (const c of charges) {
        const head = this.head.get(c.limit.id, c.scopeKey);
        heads.push(head);
        const total = head ? head.cum - (this.before.get(c.limit.id, c.scopeKey, now - c.limit.windowMs)?.cum ?? 0) : 0;
        if (total + c.units <= Math.round(c.limit.max * UNITS)) continue;
        // over the cap, unless this intent was already counted (an idempotent retry); on the passing path the
        // unique (intent_id, limit_id) index makes a repeated reservation a no-op instead
        if (head && this.already.get(intentId, c.limit.id)) continue;
        reasons.push(exceeded(c, total));
      }
      if (reasons.length > 0) return { ok: false, reasons, charges };
      charges.forEach((c, i) => this.append(c, intentId, now, heads[i]));
      return { ok: true, charges };
    });
  }

  /** Reserves without checking: an operator approved the hold, so the intent counts from now on. */
  reserve(intentId: string, intent: Intent, limits: readonly SoftLimit[], now: number): LimitCharge[] {
    return this.inTx(() => {
      const charges = this.charges(intent, limits, now);
      for (const c of charges) this.append(c, intentId, now);
      return charges;
    });
  }

  /**
   * Deletes rows that left every window, keeping per stream the newest row at or before the cut-off: its `cum` is
   * the base the next window total subtracts. Deletes in chunks of `chunk` rows, each its own short transaction, so
   * a large clean-up never holds the write lock long enough to stall decisions. Returns the number of rows deleted.
   */
  prune(limits: readonly SoftLimit[], now: number, chunk = 5000): number {
    let deleted = 0;
    const streams = this.db.prepare<[string], { scope_key: string }>(
      "SELECT DISTINCT scope_key FROM soft_limit_ledger WHERE limit_id = ?",
    );
    const del = this.db.prepare<[string, string, number, number, number, number]>(
      `DELETE FROM soft_limit_ledger WHERE rowid IN (
         SELECT rowid FROM soft_limit_ledger WHERE limit_id = ? AND scope_key = ? AND (ts < ? OR (ts = ? AND cum < ?)) LIMIT ?)`,
    );
    for (const limit of limits) {
      for (const { scope_key } of streams.all(limit.id)) {
        for (;;) {
          const n = this.inTx(() => {
            const base = this.before.get(limit.id, scope_key, now - limit.windowMs);
            return base ? del.run(limit.id, scope_key, base.ts, base.ts, base.cum, chunk).changes : 0;
          });
          deleted += n;
          if (n < chunk) break;
        }
      }
    }
    return deleted;
  }

  private totalUnits(limitId: string, scope: string, windowMs: number, now: number): number {
    const head = this.head.get(limitId, scope);
    if (!head) return 0;
    const base = this.before.get(limitId, scope, now - windowMs);
    return head.cum - (base?.cum ?? 0);
  }

  private append(c: LimitCharge, intentId: string, now: number, known?: Row): void {
    const head = known ?? this.head.get(c.limit.id, c.scopeKey);
    // keep ts non-decreasing per stream even if the wall clock steps back, so running totals stay ordered
    const ts = head ? Math.max(head.ts, now) : now;
    this.insert.run(c.limit.id, c.scopeKey, ts, c.units, (head?.cum ?? 0) + c.units, intentId);
  }

  private inTx<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.immediate(fn);
  }
}

/** The limits this intent falls under and what it would add to each (throws LimitError on a bad measure). Pure:
 * the SQLite ledger and the fleet store (sidecar/store/pg/) both charge through it. */
export function limitCharges(
  intent: Intent,
  limits: readonly SoftLimit[],
  principals: PrincipalLookup | undefined,
  now: number,
): LimitCharge[] {
  const out: LimitCharge[] = [];
  for (const limit of limits) {
    if (!appliesTo(limit, intent.action)) continue;
    out.push({ limit, scopeKey: scopeKey(limit, intent, principals), units: measureUnits(limit, intent, now) });
  }
  return out;
}

/**
 * The stream an intent counts in. Tenant and team come from the agent's principal (operator config), never from
 * `intent.context` (the agent writes that). An agent without a principal, or without a team for `scope: team`, gets
 * its own stream `agent:<name>`: never a shared one, never one it can pick.
 */
export function scopeKey(limit: SoftLimit, intent: Intent, principals?: PrincipalLookup): string {
  switch (limit.scope) {
    case "agent":
      return `agent:${intent.agent}`;
    case "tenant": {
      const p = principals?.(intent.agent);
      return p ? `tenant:${p.tenant}` : `agent:${intent.agent}`;
    }
    case "team": {
      // team names are per tenant: finance of acme and finance of globex are different streams
      const p = principals?.(intent.agent);
      return p?.team !== undefined ? `team:${p.tenant}/${p.team}` : `agent:${intent.agent}`;
    }
    case "global":
      return "global";
    default: {
      const never: never = limit.scope;
      throw new Error(`unknown soft-limit scope ${String(never)}`);
    }
  }
}

/** "agent treasury-bot", "tenant acme", "team acme/finance", "global", or "tenant scope: agent bob has no tenant". */
function describeScope(limit: SoftLimit, key: string): string {
  if (limit.scope === "global") return "global";
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const name = key.slice(colon + 1);
  if (kind === limit.scope) return `${kind} ${name}`;
  return `${limit.scope} scope: agent ${name} has no ${limit.scope} principal, counted alone`;
}

function appliesTo(limit: SoftLimit, action: string): boolean {
  const a = limit.actions;
  if (!a) return true;
  if ("test" in a && typeof a.test === "function") return a.test(action);
  const globs = a as readonly string[];
  return globs.length === 0 || globs.some((g) => wildcardMatch(g, action));
}

function measureUnits(limit: SoftLimit, intent: Intent, now: number): number {
  if (limit.measure === "count") return UNITS;
  let v: unknown;
  try {
    v = limit.measure(intent, { now: new Date(now) });
  } catch (err) {
    throw new LimitError("measure_failed", `soft limit ${limit.id}: measure failed: ${(err as Error).message}`);
  }
  if (typeof v === "bigint") v = Number(v);
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new LimitError("measure_invalid", `soft limit ${limit.id}: measure must give a non-negative number, got ${String(v)}`);
  }
  return Math.round(v * UNITS);
}

/** The PENDING reason of a charge that would cross its cap (window total in units before this intent). */
export function exceeded(c: LimitCharge, totalUnits: number): Reason {
  const fmt = (u: number) => String(Math.round((u / UNITS) * 1e6) / 1e6);
  const scope = describeScope(c.limit, c.scopeKey);
  return {
    block: "soft_limits",
    rule: c.limit.id,
    message:
      `window total ${fmt(totalUnits)} + ${fmt(c.units)} would exceed the cap of ${fmt(Math.round(c.limit.max * UNITS))}` +
      ` (rolling ${formatDuration(c.limit.windowMs)}, ${scope})`,
  };
}
