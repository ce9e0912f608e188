// Error and reason shapes that cross the wire. Every denial names its block and rule; every 400 names paths.

/** Why a decision went the way it did. `block` is the policy block (actions, evm, tool_calls, custom, soft_limits,
 * network, holds, sidecar); `rule` the rule inside it; `message` reads well to a human. */
export interface Reason {
  block: string;
  rule: string;
  message: string;
}

/** One problem with a submitted intent: a dotted path into the body (e.g. `params.value`) and what is wrong. */
export interface InputIssue {
  path: string;
  message: string;
}

/** The 4xx/5xx body: a stable machine code plus details. */
export interface ErrorBody {
  error: string;
  message?: string;
  issues?: InputIssue[];
}
