// `actions`: allow/deny globs over action names. Kinds with their own block (tool.call, evm.*, http.request) are
// governed there; `actions.deny` still denies them. Any other action is denied unless `actions.allow` matches it.
import type { BlockEvaluator } from "../verdict.ts";
import type { PolicyConfig } from "../config.ts";
import { abstain, allow, deny, hold, reason } from "./verdicts.ts";
import type { Reason } from "../../../protocol/index.ts";
import { riskReason, type RiskConfig } from "../risk.ts";
import { callFacts, ruleMatches, ruleReason } from "./scopes.ts";

/** Action kinds with a block of their own. */
export function ownBlockOf(action: string): "tool_calls" | "evm" | "network" | undefined {
  if (action === "tool.call") return "tool_calls";
  if (action === "http.request") return "network";
  if (action === "evm" || action.startsWith("evm.")) return "evm";
  return undefined;
}

/** `risk`: the policy's risk classes; when set, the verdicts on actions without a block of their own name the class.
 * actions.rules: deny and hold rules apply to every action, allow rules only to actions without a block of their own. */
export function actionsEvaluator(cfg: PolicyConfig["actions"], risk?: RiskConfig): BlockEvaluator {
  return (intent, env) => {
    const action = intent.action;
    const denied = cfg?.deny.match(action);
    if (denied)
      return deny("actions", [reason("actions", "deny", `action ${action} matches actions.deny "${denied}"`)]);
    const rules = cfg?.rules ?? [];
    const own = ownBlockOf(action);
    if (rules.length === 0 && !risk && own) return abstain("actions");
    const facts = callFacts({ risk }, intent, env);
    const denies: Reason[] = [];
    const holds: Reason[] = [];
    let allows: Reason | undefined;
    for (const r of rules) {
      if (!ruleMatches(r, action, facts)) continue;
      const why = ruleReason("actions", r, `action ${action}`, facts);
      if (r.effect === "deny") denies.push(why);
      else if (r.effect === "hold") holds.push(why);
      else if (!own) allows ??= why;
    }
    // the tool_calls block names a tool call's class itself (once is enough)
    const named = risk && own !== "tool_calls" ? [riskReason(facts.risk, intent)] : [];
    if (denies.length) return deny("actions", [...denies, ...named]);
    if (holds.length) return hold("actions", [...holds, ...named]);
    if (own) return abstain("actions");
    const allowed = cfg?.allow.match(action);
    if (allowed)
      return allow("actions", [
        reason("actions", "allow", `action ${action} matches actions.allow "${allowed}"`),
        ...named,
      ]);
    if (allows) return allow("actions", [allows, ...named]);
    return deny("actions", [
      reason(
        "actions",
        "allow",
        `action ${action} is not in actions.allow${rules.length ? " and no actions.rules allows it" : ""} (default deny)`,
      ),
      ...named,
    ]);
  };
}
