// Scoped rules and `scopes` sections. A rule (tool_calls.rules, actions.rules, or inside a section) matches when
// every condition it gives matches: its scope pattern, its name globs, its risk classes. A section applies to the
// calls its scope pattern matches and can only narrow: it denies, holds or abstains, NEVER allows, so with the
// combination deny > hold > allow (evaluate.ts) a section cannot turn the base policy's deny or hold into an allow,
// nor allow what the base does not (test/policy/scope-narrowing.test.ts checks this on random policies).
import type { Intent, Reason } from "../../../protocol/index.ts";
import type { BlockEvaluator, BlockVerdict, EvalEnv } from "../verdict.ts";
import type { PolicyConfig, ScopedRule, ScopeSection } from "../config.ts";
import { callScope, matchScope, scopeString, type CallScope } from "../scope.ts";
import { classify, riskReason, subjectName, type RiskClass } from "../risk.ts";
import { ownBlockOf } from "./actions.ts";
import { abstain, deny, hold, reason } from "./verdicts.ts";

/** What rules match on for one intent: its scope and risk class. */
export interface CallFacts {
  scope: CallScope;
  risk: RiskClass;
}

/** The blocks of one evaluation (tool_calls, actions, scopes) ask for the same intent's facts: computed once. */
const factsCache = new WeakMap<Intent, { env: EvalEnv; risk: unknown; facts: CallFacts }>();

export function callFacts(config: Pick<PolicyConfig, "risk">, intent: Intent, env: EvalEnv): CallFacts {
  const hit = factsCache.get(intent);
  if (hit && hit.env === env && hit.risk === config.risk) return hit.facts;
  const scope = callScope(intent, env.principal);
  const facts = { scope, risk: classify(config.risk, intent, scope) };
  factsCache.set(intent, { env, risk: config.risk, facts });
  return facts;
}

/** Whether a rule matches; `name`: the tool name (tool rules) or the action name (action rules). */
export function ruleMatches(r: ScopedRule, name: string, f: CallFacts): boolean {
  if (r.names && !r.names.test(name)) return false;
  if (r.risk && !r.risk.has(f.risk.level)) return false;
  if (r.scope && !matchScope(r.scope, f.scope)) return false;
  return true;
}

/** The reason of a matched rule: its own `reason`, else what matched. */
export function ruleReason(block: string, r: ScopedRule, what: string, f: CallFacts): Reason {
  if (r.reason) return reason(block, r.id, r.reason);
  const conds = [
    ...(r.scope ? [`scope ${scopeString(f.scope)} matches ${JSON.stringify(r.scope.source)}`] : []),
    ...(r.risk ? [`risk ${f.risk.level}`] : []),
  ];
  const outcome = r.effect === "deny" ? "is denied" : r.effect === "hold" ? "needs human review" : "is allowed";
  return reason(
    block,
    r.id,
    `${what} matches ${r.where}${conds.length ? ` (${conds.join(", ")})` : ""} and ${outcome}`,
  );
}

/** The `scopes` block: every section whose scope matches, combined deny > hold; never allow. */
export function scopesEvaluator(config: PolicyConfig): BlockEvaluator {
  const sections = config.scopes ?? [];
  return (intent, env): BlockVerdict => {
    if (sections.length === 0) return abstain("scopes");
    const f = callFacts(config, intent, env);
    const denies: Reason[] = [];
    const holds: Reason[] = [];
    for (const s of sections) if (matchScope(s.scope, f.scope)) judge(s, intent, f, denies, holds);
    const named = config.risk ? [riskReason(f.risk, intent)] : [];
    if (denies.length) return deny("scopes", [...denies, ...named]);
    if (holds.length) return hold("scopes", [...holds, ...named]);
    return abstain("scopes");
  };
}

function judge(s: ScopeSection, intent: Intent, f: CallFacts, denies: Reason[], holds: Reason[]): void {
  const at = `in ${s.where}`;
  const tool = intent.action === "tool.call" ? subjectName(intent) : undefined;
  if (tool !== undefined && s.toolCalls) {
    const tc = s.toolCalls;
    const what = `tool ${tool}`;
    const d = tc.deny.match(tool);
    if (d) denies.push(reason("scopes", "deny", `${what} matches tool_calls.deny "${d}" ${at}`));
    const h = tc.hold.match(tool);
    if (h) holds.push(reason("scopes", "hold", `${what} matches tool_calls.hold "${h}" ${at} and needs human review`));
    let allowed = !!h || !!tc.allow?.test(tool);
    for (const r of tc.rules) {
      if (!ruleMatches(r, tool, f)) continue;
      if (r.effect === "allow") allowed = true;
      else {
        (r.effect === "deny" ? denies : holds).push(ruleReason("scopes", r, `${what} ${at}`, f));
        if (r.effect === "hold") allowed = true;
      }
    }
    if (tc.restricts && !allowed) denies.push(reason("scopes", "allow", `${what} is not allowed ${at}`));
  }
  if (s.actions) {
    const a = s.actions;
    const what = `action ${intent.action}`;
    const d = a.deny.match(intent.action);
    if (d) denies.push(reason("scopes", "deny", `${what} matches actions.deny "${d}" ${at}`));
    let allowed = !!a.allow?.test(intent.action);
    for (const r of a.rules) {
      if (!ruleMatches(r, intent.action, f)) continue;
      if (r.effect === "allow") allowed = true;
      else {
        (r.effect === "deny" ? denies : holds).push(ruleReason("scopes", r, `${what} ${at}`, f));
        if (r.effect === "hold") allowed = true;
      }
    }
    // like actions.allow in the base: kinds with their own block are governed there, not by an allow list
    if (a.restricts && !allowed && !ownBlockOf(intent.action))
      denies.push(reason("scopes", "allow", `${what} is not allowed ${at}`));
  }
}
