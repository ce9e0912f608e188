// `policy simulate` with scoped rules: replayed agents get their principal from the config (`--config`), so a
// candidate with per-team rules is judged as the daemon would judge it; a decision a rate limit refused is compared as
// the APPROVED the policy gave it (rate limits depend on the traffic of the time and are not replayed).
import { describe, expect, it } from "vitest";
import { intentDigest } from "../../protocol/index.ts";
import type { IntentRecord } from "../../sidecar/store/index.ts";
import { loadPolicy } from "../../sidecar/policy/index.ts";
import { principalLookup } from "../../sidecar/principals.ts";
import { simulate } from "../../sidecar/simulate/simulate.ts";
import { tempDir } from "./helpers.ts";

function rec(id: string, agent: string, tool: string, decision: IntentRecord["decision"], reasons = []): IntentRecord {
  const intent = { agent, action: "tool.call", params: { tool, args: {} }, context: {} };
  const at = "2026-12-07T10:00:00.000Z";
  return {
    id,
    agent,
    action: "tool.call",
    digest: intentDigest(intent),
    intent,
    decision,
    reasons,
    policy_digest: `sha256:${"0".repeat(64)}`,
    created_at: at,
    updated_at: at,
  };
}

describe("simulate with scoped rules", () => {
  it("uses the principals; rate-limited decisions compare as approved", async () => {
    const t = await tempDir();
    try {
      const policy = await loadPolicy(
        await t.write(
          "p.yaml",
          `
tool_calls:
  allow: ["slack.*"]
scopes:
  - scope: "org:acme/team:interns"
    tool_calls: {deny: ["slack.delete_*"]}
`,
        ),
      );
      const records = [
        rec("i1", "intern", "slack.delete_message", "APPROVED"),
        rec("i2", "ops", "slack.delete_message", "APPROVED"),
        rec("i3", "ops", "slack.post", "DENIED", [
          { block: "tool_calls", rule: "allow", message: "tool slack.post is allowed" },
          { block: "rate_limits", rule: "burst", message: "rate limit burst: …" },
        ] as never),
      ];
      const principals = principalLookup({
        intern: { tenant: "acme", team: "interns" },
        ops: { tenant: "acme", team: "ops" },
      });
      const r = await simulate(records, policy, { principals });
      expect(r.changes.map((c) => [c.intent_id, c.recorded, c.candidate])).toEqual([["i1", "APPROVED", "DENIED"]]);
      expect(r.soft_limit_only).toBe(1);
      // without principals nobody is an intern: the candidate changes nothing
      expect((await simulate(records, policy)).changed).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
