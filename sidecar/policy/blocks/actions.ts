// `actions`: allow/deny globs over action names. Kinds with their own block (tool.call, evm.*, http.request) are
// governed there; `actions.deny` still denies them. Any other action is denied unless `actions.allow` matches it.
import type { BlockEvaluator } from "../verdict.ts";
import type { PolicyConfig } from "../config.ts";
import { abstain, allow, deny, reason } from "./verdicts.ts";

/** Action kinds with a block of their own. */
export function ownBlockOf(action: string): "tool_calls" | "evm" | "network" | undefined {
  if (action === "tool.call") return "tool_calls";
  if (action === "http.request") return "network";
  if (action === "evm" || action.startsWith("evm.")) return "evm";
  return undefined;
}

export function actionsEvaluator(cfg: PolicyConfig["actions"]): BlockEvaluator {
  return (intent) => {
    const denied = cfg?.deny.match(intent.action);
    if (denied)
      return deny("actions", [reason("actions", "deny", `action ${intent.action} matches actions.deny "${denied}"`)]);
    if (ownBlockOf(intent.action)) return abstain("actions");
    const allowed = cfg?.allow.match(intent.action);
    if (allowed)
      return allow("actions", [
        reason("actions", "allow", `action ${intent.action} matches actions.allow "${allowed}"`),
      ]);
    return deny("actions", [
      reason("actions", "allow", `action ${intent.action} is not in actions.allow (default deny)`),
    ]);
  };
}
