// Replays recorded intents against a candidate policy and reports which decisions would change, so an operator
// sees the effect of a policy edit on real traffic before deploying it. Only the static blocks are replayed
// (actions, evm, tool_calls, custom, scopes, network); soft limits and rate limits depend on running totals at the
// time, so an intent that only a soft limit made PENDING, or a rate limit refused, is compared as the APPROVED it
// would otherwise have been.
import type { DecisionKind, Intent, Reason } from "../../protocol/index.ts";
import type { IntentRecord } from "../store/index.ts";
import { combineVerdicts, evaluateBlocks, type EvalEnv, type LoadedPolicy } from "../policy/index.ts";
import type { Principal, PrincipalLookup } from "../principals.ts";

const withPrincipal = (now: Date, principal: Principal | undefined): EvalEnv =>
  principal ? { now, principal } : { now };

export type StaticDecision = "APPROVED" | "DENIED" | "PENDING";

export interface SimulatedChange {
  intent_id: string;
  agent: string;
  action: string;
  created_at: string;
  /** The decision the sidecar gave at the time (before any operator resolved a hold). */
  recorded: StaticDecision;
  /** Where the intent ended: e.g. a PENDING hold later APPROVED, DENIED or EXPIRED. */
  outcome: DecisionKind;
  candidate: StaticDecision;
  reasons: Reason[];
  recorded_policy_digest?: string;
}

export interface SimulationReport {
  candidate: { file: string; digest: string };
  replayed: number;
  changed: number;
  unchanged: number;
  /** e.g. {"DENIED -> APPROVED": 2} */
  transitions: Record<string, number>;
  /** Intents compared without their soft-limit hold (soft limits are not replayed). */
  soft_limit_only: number;
  changes: SimulatedChange[];
}

const EFFECT_TO_DECISION = { allow: "APPROVED", deny: "DENIED", hold: "PENDING" } as const;

/** The decision first given: a record with a hold summary started PENDING whatever happened to it later. */
/** `holdReasons`: the reasons a hold was raised with (a resolved intent's own reasons say how it ended). */
function recordedDecision(
  rec: IntentRecord,
  holdReasons?: Reason[],
): { decision: StaticDecision; softLimitOnly: boolean } {
  const reasons = holdReasons ?? rec.reasons;
  const first: StaticDecision = rec.hold
    ? "PENDING"
    : rec.decision === "EXPIRED"
      ? "PENDING"
      : (rec.decision as StaticDecision);
  const softLimitOnly = first === "PENDING" && reasons.length > 0 && reasons.every((r) => r.block === "soft_limits");
  // rate limits run only on what the blocks approved: a decision one of them refused was APPROVED by the policy
  const rateLimited = first !== "APPROVED" && reasons.some((r) => r.block === "rate_limits");
  return { decision: softLimitOnly || rateLimited ? "APPROVED" : first, softLimitOnly: softLimitOnly || rateLimited };
}

export interface SimulateOptions {
  /** The reasons a hold was raised with, by intent id (from the holds table), when known. */
  holdReasons?: (intentId: string) => Reason[] | undefined;
  /** The agents' principals (the sidecar config's `principals`): scoped rules and sections see their tenant and team.
   * Absent: every agent replays without a principal (org and team `-`). */
  principals?: PrincipalLookup;
}

export async function simulate(
  records: readonly IntentRecord[],
  policy: LoadedPolicy,
  opts: SimulateOptions = {},
): Promise<SimulationReport> {
  const report: SimulationReport = {
    candidate: { file: policy.file, digest: policy.digest },
    replayed: 0,
    changed: 0,
    unchanged: 0,
    transitions: {},
    soft_limit_only: 0,
    changes: [],
  };
  // oldest first, so the report reads like the log
  const ordered = [...records].sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const rec of ordered) {
    const intent: Intent = {
      agent: rec.intent.agent,
      action: rec.intent.action,
      params: rec.intent.params,
      context: rec.intent.context ?? {},
    };
    const { decision: recorded, softLimitOnly } = recordedDecision(
      rec,
      rec.hold ? opts.holdReasons?.(rec.id) : undefined,
    );
    if (softLimitOnly) report.soft_limit_only++;
    // evaluated at the time it was recorded: business-hours rules and CEL `now` see the original clock
    const { effect, reasons } = combineVerdicts(
      await evaluateBlocks(policy, intent, withPrincipal(new Date(rec.created_at), opts.principals?.(intent.agent))),
    );
    const candidate = EFFECT_TO_DECISION[effect];
    report.replayed++;
    if (candidate === recorded) {
      report.unchanged++;
      continue;
    }
    report.changed++;
    const key = `${recorded} -> ${candidate}`;
    report.transitions[key] = (report.transitions[key] ?? 0) + 1;
    const change: SimulatedChange = {
      intent_id: rec.id,
      agent: rec.agent,
      action: rec.action,
      created_at: rec.created_at,
      recorded,
      outcome: rec.decision,
      candidate,
      reasons,
    };
    if (rec.policy_digest) change.recorded_policy_digest = rec.policy_digest;
    report.changes.push(change);
  }
  return report;
}

/** A human-readable report: a summary line, transitions, then one line per changed intent. */
export function formatReport(r: SimulationReport): string {
  const lines = [
    `candidate ${r.candidate.file} (${r.candidate.digest})`,
    `replayed ${r.replayed} intents: ${r.changed} would change, ${r.unchanged} unchanged` +
      (r.soft_limit_only
        ? ` (${r.soft_limit_only} held only by soft limits, compared as APPROVED; soft limits are not replayed)`
        : ""),
  ];
  for (const [k, n] of Object.entries(r.transitions).sort()) lines.push(`  ${k}: ${n}`);
  if (r.changes.length) lines.push("", "changes:");
  for (const c of r.changes) {
    const why = c.reasons.map((x) => `${x.block}/${x.rule}`).join(", ");
    lines.push(
      `  ${c.created_at}  ${c.intent_id}  ${c.agent}  ${c.action}  ${c.recorded} -> ${c.candidate}` +
        (c.outcome !== c.recorded ? ` (was finally ${c.outcome})` : "") +
        (why ? `  [${why}]` : ""),
    );
  }
  return lines.join("\n") + "\n";
}
