// `custom`: CEL rules. `when` gates a rule; a true `deny` denies and a true `hold` holds, with the rule's reason.
// An evaluation error (missing field, wrong type) DENIES, naming the rule: fail closed.
import type { BlockEvaluator } from "../verdict.ts";
import type { CustomRule } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { celBindings, evalBool } from "../cel.ts";
import { abstain, deny, hold, reason } from "./verdicts.ts";

export function customEvaluator(rules: CustomRule[]): BlockEvaluator {
  return (intent, env) => {
    if (rules.length === 0) return abstain("custom");
    let b: ReturnType<typeof celBindings> | undefined;
    const denies: Reason[] = [];
    const holds: Reason[] = [];
    for (const r of rules) {
      if (r.whenActions) {
        if (!r.whenActions.has(intent.action)) continue;
      } else if (r.when) {
        b ??= celBindings(intent, env.now);
        const w = evalBool(r.when, b);
        if (typeof w !== "boolean") {
          denies.push(
            reason("custom", r.id, `rule ${r.id}: when failed to evaluate (${w.error}), so the intent is denied`),
          );
          continue;
        }
        if (!w) continue;
      }
      b ??= celBindings(intent, env.now);
      const v = evalBool(r.expr, b);
      if (typeof v !== "boolean")
        denies.push(
          reason("custom", r.id, `rule ${r.id}: ${r.effect} failed to evaluate (${v.error}), so the intent is denied`),
        );
      else if (v) (r.effect === "deny" ? denies : holds).push(reason("custom", r.id, r.reason));
    }
    if (denies.length) return deny("custom", denies);
    if (holds.length) return hold("custom", holds);
    return abstain("custom");
  };
}
