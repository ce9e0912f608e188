// A hold's quorum and expiry from the `holds` policy block: the strictest override among the rules that raised it.
import type { Reason } from "../../protocol/index.ts";
import type { HoldsPolicy } from "./types.ts";

export function holdQuorum(reasons: readonly Reason[], policy: HoldsPolicy): number {
  let n = policy.approvalsRequired;
  const rules = new Set(reasons.map((r) => r.rule));
  for (const o of policy.overrides) if (rules.has(o.rule)) n = Math.max(n, o.approvalsRequired);
  return Math.max(1, n);
}

/** Rule ids that raised the hold, in reason order without duplicates. */
export function holdRules(reasons: readonly Reason[]): string[] {
  return [...new Set(reasons.map((r) => r.rule))];
}
