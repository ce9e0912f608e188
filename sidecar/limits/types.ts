// Soft limits as the ledger consumes them: compiled from the policy's `soft_limits` block.
import type { Intent } from "../../protocol/index.ts";

/** `tenant` and `team` are those of the agent's principal (sidecar config `principals`), never the intent's context. */
export type LimitScope = "agent" | "tenant" | "team" | "global";

export interface SoftLimit {
  id: string;
  /** Action-name globs (or the policy engine's compiled GlobSet) this limit applies to; absent means every action. */
  actions?: readonly string[] | { test(name: string): boolean };
  /** What one intent adds to the window: `count` is 1; a CEL measure is compiled to a function. */
  measure: "count" | ((intent: Intent, env: { now: Date }) => number);
  scope: LimitScope;
  windowMs: number;
  max: number;
}

/** Stable error codes of the limits module. The pipeline turns any of them into a DENIED decision. */
export class LimitError extends Error {
  constructor(
    readonly code: "measure_failed" | "measure_invalid",
    message: string,
  ) {
    super(message);
    this.name = "LimitError";
  }
}
