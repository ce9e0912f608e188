// A hold's quorum and expiry from the `holds` policy block: among the rules that raised it, the largest override
// quorum and the longest override TTL win (an override exists to give reviewers what its rule needs).
import type { Reason } from "../../protocol/index.ts";
import type { HoldsPolicy } from "./types.ts";

export function holdTerms(reasons: readonly Reason[], policy: HoldsPolicy): { approvalsRequired: number; ttlMs: number } {
  let approvalsRequired = policy.approvalsRequired;
  let ttlMs: number | undefined;
  for (const rule of holdRules(reasons)) {
    const o = policy.overrides.get(rule);
    if (!o) continue;
    approvalsRequired = Math.max(approvalsRequired, o.approvalsRequired);
    if (o.ttlMs !== undefined) ttlMs = Math.max(ttlMs ?? 0, o.ttlMs);
  }
  return { approvalsRequired: Math.max(1, approvalsRequired), ttlMs: ttlMs ?? policy.ttlMs };
}

/** Rule ids that raised the hold, in reason order without duplicates. */
export function holdRules(reasons: readonly Reason[]): string[] {
  return [...new Set(reasons.map((r) => r.rule))];
}
