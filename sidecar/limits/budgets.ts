// Budgets over intent costs. Inside the decision's SQLite transaction (synchronous, never awaiting) an intent with a
// cost is checked against every budget of its currency: beyond the limit it is PENDING or DENIED (`on_exceed`),
// naming the budget, the scope and the window total; otherwise its cost is counted (sidecar/limits/cost.ts) and each
// `alert_at` threshold the window total reaches queues one `budget.threshold` webhook through the durable outbox.
// A row in `budget_alerts` (primary key budget, scope key, window start, threshold) is written in the same
// transaction, so a crash neither loses nor repeats an alert. Which intents count: APPROVED ones, and held ones when
// an operator approves them (counted then, without a check: the operator decided).
import type { Intent, Reason } from "../../protocol/index.ts";
import type { Statement } from "better-sqlite3";
import type { Db } from "../store/index.ts";
import type { LimitVerdict } from "../pipeline-hooks.ts";
import { formatPer, windowOf, type BudgetPer } from "./budget-units.ts";
import { formatMoney, intentCharge, type CostLedger, type CostMeasure, type CostScope, type IntentCharge } from "./cost.ts";

export interface Budget {
  id: string;
  scope: CostScope;
  per: BudgetPer;
  limitUnits: number;
  currency: string;
  /** Fractions of the limit, ascending. */
  alertAt: number[];
  onExceed: "hold" | "deny";
}

/** The compiled `costs` and `budgets` blocks (PolicyConfig.costs). */
export interface CostPolicy {
  measures: CostMeasure[];
  budgets: Budget[];
}

export const BUDGET_ALERTS_SQL = `
CREATE TABLE IF NOT EXISTS budget_alerts (
  budget_id    TEXT    NOT NULL,
  scope_key    TEXT    NOT NULL,
  window_start INTEGER NOT NULL,
  threshold    TEXT    NOT NULL, -- the alert_at fraction as written, e.g. "0.8"
  total        INTEGER NOT NULL, -- window total (millionths) that reached it
  intent_id    TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (budget_id, scope_key, window_start, threshold)
);
`;

/** Where alerts go: the webhook outbox (joins the caller's transaction). */
export interface AlertSink {
  enqueue(event: { type: string; data: unknown }): number;
}

/** One budget's view of one scope key in its current window. */
export interface BudgetStream {
  budget: Budget;
  scopeKey: string;
  window: { start: number; end: number };
  total: number;
}

export interface BudgetCheck {
  /** Set when a budget refuses the intent (nothing was counted; alerts of thresholds it would reach were queued). */
  refused?: LimitVerdict;
  /** Counts the cost and queues the alerts of the thresholds reached. Call only when the intent is APPROVED. */
  commit(): void;
}

const NOTHING: BudgetCheck = { commit() {} };

/** `team:acme/finance` → {key: "acme/finance"}; an agent counted alone in a team/tenant budget → {key, alone}. */
export function displayKey(scope: CostScope, scopeKey: string): { key: string; alone?: true } {
  const colon = scopeKey.indexOf(":");
  const kind = scopeKey.slice(0, colon);
  const key = scopeKey.slice(colon + 1);
  return kind === scope ? { key } : { key, alone: true };
}

function describe(b: Budget, scopeKey: string): string {
  const d = displayKey(b.scope, scopeKey);
  return d.alone ? `agent ${d.key} (no ${b.scope} principal, counted alone)` : `${b.scope} ${d.key}`;
}

export class BudgetBook {
  private readonly insertAlert: Statement<[string, string, number, string, number, string, number]>;
  private readonly alertsOf: Statement<[string, string, number], { threshold: string }>;
  private readonly purgeAlerts: Statement<[number]>;

  constructor(
    db: Db,
    private readonly costs: CostLedger,
    private readonly alerts: AlertSink,
  ) {
    db.exec(BUDGET_ALERTS_SQL);
    this.insertAlert = db.prepare(
      "INSERT OR IGNORE INTO budget_alerts (budget_id, scope_key, window_start, threshold, total, intent_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.alertsOf = db.prepare(
      "SELECT threshold FROM budget_alerts WHERE budget_id = ? AND scope_key = ? AND window_start = ? ORDER BY CAST(threshold AS REAL)",
    );
    this.purgeAlerts = db.prepare("DELETE FROM budget_alerts WHERE window_start < ?");
  }

  /** Checks the intent's cost against the budgets. Read-only unless refused (then only alerts are written). */
  evaluate(intentId: string, intent: Intent, policy: CostPolicy | undefined, now: number): BudgetCheck {
    const charge = intentCharge(intent, policy?.measures ?? [], now);
    if (!charge || charge.units <= 0) return NOTHING;
    const budgets = policy?.budgets ?? [];
    if (budgets.length > 0 && !budgets.some((b) => b.currency === charge.currency)) {
      const known = [...new Set(budgets.map((b) => b.currency))].join(", ");
      const reason: Reason = {
        block: "budgets",
        rule: "currency",
        message: `the intent costs ${formatMoney(charge.units)} ${charge.currency}, but the budgets count ${known}; declare the cost in ${known}`,
      };
      return { refused: { hold: [], deny: [reason] }, commit() {} };
    }
    const streams = this.streams(intent, charge, budgets, now);
    const hold: Reason[] = [];
    const deny: Reason[] = [];
    for (const s of streams) {
      if (s.total + charge.units <= s.budget.limitUnits) continue;
      const b = s.budget;
      (b.onExceed === "deny" ? deny : hold).push({
        block: "budgets",
        rule: b.id,
        message:
          `${describe(b, s.scopeKey)} has spent ${formatMoney(s.total)} ${b.currency} of its ${formatMoney(b.limitUnits)} ${b.currency}` +
          ` budget ${b.id} this window (${formatPer(b.per)} from ${new Date(s.window.start).toISOString()});` +
          ` this intent's ${formatMoney(charge.units)} ${b.currency} would exceed it`,
      });
    }
    if (hold.length > 0 || deny.length > 0) {
      // a budget that stops spend: its owners hear of the thresholds the intent would have taken it to (once, as
      // ever); budgets the intent stayed within hear nothing, since nothing was counted
      for (const s of streams) {
        if (s.total + charge.units <= s.budget.limitUnits) continue;
        this.alert(s, s.total + charge.units, intentId, intent, now, deny.length > 0 ? "deny" : "hold");
      }
      return { refused: { hold, deny }, commit() {} };
    }
    return { commit: () => this.count(intentId, intent, charge, streams, now) };
  }

  /** Counts an intent an operator approved (a released hold): no check, alerts as usual. */
  record(intentId: string, intent: Intent, policy: CostPolicy | undefined, now: number): void {
    const charge = intentCharge(intent, policy?.measures ?? [], now);
    if (!charge || charge.units <= 0) return;
    this.count(intentId, intent, charge, this.streams(intent, charge, policy?.budgets ?? [], now), now);
  }

  /** Thresholds already alerted for a stream in its window (for `usage`). */
  alerted(budgetId: string, scopeKey: string, windowStart: number): number[] {
    return this.alertsOf.all(budgetId, scopeKey, windowStart).map((r) => Number(r.threshold));
  }

  /** Forgets alerts of windows that started before `before` (their windows are over; the ledger keeps no older
   * costs either). Returns the number deleted. */
  purge(before: number): number {
    return this.purgeAlerts.run(before).changes;
  }

  private streams(intent: Intent, charge: IntentCharge, budgets: readonly Budget[], now: number): BudgetStream[] {
    const mine = budgets.filter((b) => b.currency === charge.currency);
    if (mine.length === 0) return [];
    const keys = this.costs.keys(intent, charge.currency, now);
    return mine.map((budget) => {
      const window = windowOf(budget.per, now);
      const scopeKey = keys[budget.scope];
      return { budget, scopeKey, window, total: this.costs.total(budget.scope, budget.currency, scopeKey, window.start, now) };
    });
  }

  private count(intentId: string, intent: Intent, charge: IntentCharge, streams: BudgetStream[], now: number): void {
    this.costs.record(intentId, intent, charge, now);
    for (const s of streams) this.alert(s, s.total + charge.units, intentId, intent, now);
  }

  /** Queues one alert per threshold `total` reaches that this stream's window has not alerted yet. */
  private alert(s: BudgetStream, total: number, intentId: string, intent: Intent, now: number, refused?: "hold" | "deny"): void {
    const b = s.budget;
    for (const t of b.alertAt) {
      if (total < Math.round(t * b.limitUnits)) break; // ascending
      const inserted = this.insertAlert.run(b.id, s.scopeKey, s.window.start, String(t), total, intentId, now).changes === 1;
      if (!inserted) continue;
      const d = displayKey(b.scope, s.scopeKey);
      this.alerts.enqueue({
        type: "budget.threshold",
        data: {
          budget: b.id,
          scope: b.scope,
          key: d.key,
          ...(d.alone ? { counted_alone: true } : {}),
          per: formatPer(b.per),
          window: { start: new Date(s.window.start).toISOString(), end: new Date(s.window.end).toISOString() },
          threshold: t,
          limit: formatMoney(b.limitUnits),
          currency: b.currency,
          // the window's counted spend; when the intent was refused, what it would have made
          total: formatMoney(refused ? s.total : total),
          ...(refused ? { attempted: formatMoney(total), refused } : {}),
          exceeded: total > b.limitUnits,
          intent_id: intentId,
          agent: intent.agent,
          at: new Date(now).toISOString(),
        },
      });
    }
  }
}
