// The seam between policy blocks and the decision pipeline. Each block returns verdicts; the pipeline combines
// them with precedence deny > hold > allow, and anything that matched nothing is denied (default deny).
import type { Intent, Reason } from "../../protocol/index.ts";
import type { Principal } from "../principals.ts";

export type Effect = "deny" | "hold" | "allow";

/** One block's word on one intent. `abstain`: the block does not govern this action. A `hold` names the rule
 * that raised it in its reasons (`reason.rule`), so holds.overrides can pick the quorum. */
export interface BlockVerdict {
  block: string;
  effect: Effect | "abstain";
  reasons: Reason[];
  /** The pii block's rewrite (sidecar/policy/pii/bind.ts applies it): `params` with the `redact` findings replaced
   * (what an APPROVED or PENDING decision binds and returns as `redacted.params`), `stored` with every finding the
   * policy did not allow replaced (what may be stored), `fields` the paths replaced. */
  rewrite?: { params: Record<string, unknown>; stored: Record<string, unknown>; fields: string[] };
}

/** What evaluation needs besides the intent. `now` is injected so tests and simulation are deterministic. */
export interface EvalEnv {
  now: Date;
  /** The agent's principal (sidecar config `principals`): tenant and team of scoped rules. Never the intent's
   * context. Absent: the scope's org and team are missing (`-`). */
  principal?: Principal;
}

/** A policy block's evaluator. Throwing is allowed: the pipeline turns any throw into a DENIED reason. */
export type BlockEvaluator = (intent: Intent, env: EvalEnv) => BlockVerdict | Promise<BlockVerdict>;
