// holds.max_open_per_agent: how many pending holds one agent may have at once (default 100). Checked inside the
// decision's transaction, right before the hold would be created, so concurrent decisions (one group commit, or
// several processes: the write lock is held) cannot jointly pass the cap. Beyond it a hold-worthy intent is DENIED.
import type { Reason } from "../../protocol/index.ts";

export const DEFAULT_MAX_OPEN_PER_AGENT = 100;

/** Thrown by the hold hook when the agent is at its cap; the pipeline turns it into a DENIED decision. */
export class HoldCapReached extends Error {
  readonly reason: Reason;
  constructor(
    readonly agent: string,
    readonly max: number,
  ) {
    const message = `agent ${agent} already has ${max} pending holds (holds.max_open_per_agent)`;
    super(message);
    this.name = "HoldCapReached";
    this.reason = { block: "holds", rule: "max_open_per_agent", message };
  }
}
