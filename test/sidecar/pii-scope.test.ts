// pii rules by scope through the real agent API: two teams of one tenant get different PII actions for the same call
// (the principal comes from the sidecar config, never from the intent's context), and output redaction follows the
// same scope.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const TOKENS = { sales: "pii-scope-sales-0123456789", support: "pii-scope-support-0123456789", none: "pii-scope-none-0123456789" };
const POLICY = `
tool_calls:
  allow: ["crm.*"]
pii:
  detectors: {email: redact}
  rules:
    - {id: sales-crm-email, detector: email, action: allow, scope: "org:acme/team:sales/server:crm"}
    - {id: support-email, detector: email, action: hold, scope: "org:acme/team:support"}
`;

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dir: string;
beforeAll(async () => {
  dir = tempDir("isc-pii-scope-");
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({
    config: {
      policyFile,
      agentTokens: TOKENS,
      principals: { sales: { tenant: "acme", team: "sales" }, support: { tenant: "acme", team: "support" } },
    },
  });
});
afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const declare = (who: keyof typeof TOKENS, context?: Record<string, unknown>) =>
  http(`${d.url}/v1/intents`, {
    token: TOKENS[who],
    body: { action: "tool.call", params: { tool: "crm.lookup", args: { q: "alice@example.com" } }, ...(context ? { context } : {}) },
  });

describe("pii rules by scope", () => {
  it("sales may send the email, support is held, an agent without a principal gets the default (redact)", async () => {
    const sales = await declare("sales");
    expect(sales.body.decision).toBe("APPROVED");
    expect(sales.body.redacted).toBeUndefined();

    const support = await declare("support");
    expect(support.status).toBe(202);
    expect(support.body.reasons[0]).toMatchObject({ block: "pii", rule: "support-email" });
    expect(support.body.reasons[0].message).toBe("params.args.q contains an email address (email); pii.rules[1] is hold");

    const none = await declare("none");
    expect(none.body.decision).toBe("APPROVED");
    expect(none.body.redacted).toEqual({ params: { tool: "crm.lookup", args: { q: "[REDACTED:email]" } } });
  });

  it("the intent's context cannot claim another team", async () => {
    const r = await declare("support", { tenant: "acme", team: "sales" });
    expect(r.status).toBe(403);
  });

  it("output redaction follows the scope of the intent's agent", async () => {
    const result = { rows: [{ email: "bob@example.com" }] };
    const sales = (await declare("sales")).body.intent_id as string;
    const none = (await declare("none")).body.intent_id as string;
    const post = (who: keyof typeof TOKENS, id: string) =>
      http(`${d.url}/v1/intents/${id}/result`, { token: TOKENS[who], body: { result } });
    expect((await post("sales", sales)).body.result).toEqual(result);
    expect((await post("none", none)).body).toMatchObject({
      result: { rows: [{ email: "[REDACTED:email]" }] },
      redactions: { total: 1, detectors: { email: 1 } },
    });
  });
});
