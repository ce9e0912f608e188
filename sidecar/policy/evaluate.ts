// Runs every block of a loaded policy on one intent, and combines verdicts deny > hold > allow with default deny.
// Fail closed: a block that throws (or rejects) becomes a deny verdict naming the block.
import type { Intent, Reason } from "../../protocol/index.ts";
import type { BlockVerdict, EvalEnv, Effect } from "./verdict.ts";
import type { LoadedPolicy } from "./load.ts";

function failed(block: string, e: unknown): BlockVerdict {
  const msg = e instanceof Error ? e.message : String(e);
  return {
    block,
    effect: "deny",
    reasons: [{ block, rule: "error", message: `the ${block} block failed (${msg}), so the intent is denied` }],
  };
}

/** Every applicable block's verdict, in policy order (actions, evm, tool_calls, custom, network). Never throws. */
export async function evaluateBlocks(policy: LoadedPolicy, intent: Intent, env: EvalEnv): Promise<BlockVerdict[]> {
  const out: BlockVerdict[] = [];
  for (const { block, evaluate } of policy.evaluators) {
    try {
      const v = evaluate(intent, env);
      out.push(v instanceof Promise ? await v.catch((e: unknown) => failed(block, e)) : v);
    } catch (e) {
      out.push(failed(block, e));
    }
  }
  if (intent.action === "http.request") {
    if (policy.network) {
      try {
        out.push(await policy.network.evaluator(intent, env));
      } catch (e) {
        out.push(failed("network", e));
      }
    } else {
      out.push({
        block: "network",
        effect: "deny",
        reasons: [
          { block: "network", rule: "missing", message: "the policy has no network block, so http.request is denied" },
        ],
      });
    }
  }
  return out;
}

/** deny if any block denied; else hold if any held; else allow if some block allowed; else deny (default deny).
 * Reasons are those of the winning effect (for allow: what allowed it; the API may omit them). One pass, no
 * closures: this runs for every decision (tsx wraps each named closure in a defineProperty call). */
export function combineVerdicts(verdicts: readonly BlockVerdict[]): { effect: Effect; reasons: Reason[] } {
  let effect: Effect | undefined;
  for (const v of verdicts) {
    if (v.effect === "deny") {
      effect = "deny";
      break;
    }
    if (v.effect === "hold") effect = "hold";
    else if (v.effect === "allow" && effect === undefined) effect = "allow";
  }
  if (effect === undefined) {
    return {
      effect: "deny",
      reasons: [
        { block: "policy", rule: "default_deny", message: "no policy block allows this action (default deny)" },
      ],
    };
  }
  const reasons: Reason[] = [];
  for (const v of verdicts) if (v.effect === effect) reasons.push(...v.reasons);
  if (effect === "deny" && reasons.length === 0) {
    reasons.push({ block: "policy", rule: "deny", message: "denied by policy" });
  }
  return { effect, reasons };
}
