// Intents the gate tests attest and then mutate.
import type { Intent } from "../../protocol/index.ts";

// Recipients the reference policy allows, so a real sidecar running it approves these intents.
export const RECIPIENT = "0x1111111111111111111111111111111111111111" as const;
export const OTHER_RECIPIENT = "0x2222222222222222222222222222222222222222" as const;

export function evmIntent(over: Partial<Record<string, unknown>> = {}): Intent {
  return {
    agent: "treasury-bot",
    action: "evm.transaction",
    params: { chain_id: 8453, to: RECIPIENT, value: "1000000000000000", ...over },
    context: { tenant: "acme", justification: "pay invoice 42" },
  };
}

export function toolIntent(args: Record<string, unknown> = { channel: "#ops", text: "deploy done" }): Intent {
  return { agent: "ops-bot", action: "tool.call", params: { tool: "slack.post_message", args }, context: {} };
}

export function mutate<T extends Intent>(intent: T, params: Record<string, unknown>): T {
  return { ...intent, params: { ...intent.params, ...params } };
}
