// Scoped rules, scopes sections and risk classes through the real daemon over loopback HTTP: two teams of one tenant
// get different decisions for the same call (tenant and team from the config's principals, not the context); a team
// section cannot undo the tenant section's or the base's deny; high-risk calls are held and low-risk ones approved,
// and the answer and the audit row name the risk class.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { auditRows } from "../../sidecar/store/index.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const POLICY = `
tool_calls:
  allow: ["jira.*", "slack.*"]
  deny: ["github.delete_*"]
  rules:
    - id: payments-stripe
      scope: "org:acme/team:payments/server:stripe"
      effect: allow
    - id: risky-writes
      risk: [high, critical]
      effect: hold
    - id: low-reads
      risk: low
      effect: allow
risk:
  critical: ["github.delete_*"]
  high: ["stripe.refund*", "tool:*/server:prod-*"]
  low: ["*.read_*", "*.get_*"]
scopes:
  - scope: "org:acme"
    tool_calls:
      deny: ["slack.delete_*"]
  - scope: "org:acme/team:payments"
    tool_calls:
      allow: ["slack.*", "stripe.*", "jira.read_*", "github.*"]
      rules:
        - {id: payments-anything, tools: ["*"], effect: allow}
  - scope: "org:acme/team:interns"
    tool_calls:
      deny: ["jira.create_*"]
`;
const TOKENS = { pay: "tok-pay", ops: "tok-ops", intern: "tok-intern", other: "tok-other" };
const PRINCIPALS = {
  pay: { tenant: "acme", team: "payments" },
  ops: { tenant: "acme", team: "ops" },
  intern: { tenant: "acme", team: "interns" },
  other: { tenant: "globex", team: "payments" },
};
type Agent = keyof typeof TOKENS;

const dir = tempDir();
let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({ config: { policyFile, agentTokens: TOKENS, principals: PRINCIPALS } });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
  removeDir(dir);
});

const call = (agent: Agent, tool: string, context?: Record<string, unknown>) =>
  http(`${d.url}/v1/intents`, {
    token: TOKENS[agent],
    body: { agent, action: "tool.call", params: { tool, args: { id: "42" } }, ...(context ? { context } : {}) },
  });
const auditOf = (id: string) =>
  [...auditRows(d.db)].find((r) => r.type === "decision" && (r.data as { intent_id?: string }).intent_id === id)!
    .data as {
    decision: string;
    reasons: { block: string; rule: string; message: string }[];
  };

describe("scoped rules through the agent API", () => {
  it("two teams of one tenant decide differently for the same call", async () => {
    const pay = await call("pay", "stripe.charge");
    expect(pay.body.decision).toBe("APPROVED");
    expect(typeof pay.body.attestation).toBe("string");
    const ops = await call("ops", "stripe.charge");
    expect(ops.body.decision).toBe("DENIED");
    expect(ops.body.reasons).toContainEqual({
      block: "tool_calls",
      rule: "allow",
      message: "tool stripe.charge is not in tool_calls.allow and no tool_calls.rules allows it",
    });
    // another tenant's payments team is not acme's
    expect((await call("other", "stripe.charge")).body.decision).toBe("DENIED");
    // the audit row of the approval names the scoped rule that allowed it
    expect(auditOf(pay.body.intent_id).reasons).toContainEqual(
      expect.objectContaining({ block: "tool_calls", rule: "payments-stripe" }),
    );
  });

  it("a section narrows for its team only", async () => {
    const intern = await call("intern", "jira.create_issue");
    expect(intern.body.decision).toBe("DENIED");
    expect(intern.body.reasons).toContainEqual({
      block: "scopes",
      rule: "deny",
      message: 'tool jira.create_issue matches tool_calls.deny "jira.create_*" in scopes[2] (org:acme/team:interns)',
    });
    expect((await call("ops", "jira.create_issue")).body.decision).toBe("APPROVED");
  });

  it("a team section cannot widen the tenant section's or the base's deny", async () => {
    // payments' section allows "*" and lists slack.* and github.*: the tenant's slack.delete_* and the base's
    // github.delete_* deny stand
    const slack = await call("pay", "slack.delete_message");
    expect(slack.body.decision).toBe("DENIED");
    expect(slack.body.reasons).toContainEqual(expect.objectContaining({ block: "scopes", rule: "deny" }));
    const gh = await call("pay", "github.delete_repo");
    expect(gh.body.decision).toBe("DENIED");
    expect(gh.body.reasons).toContainEqual(expect.objectContaining({ block: "tool_calls", rule: "deny" }));
    // and it does not allow what the base never allowed
    expect((await call("pay", "github.create_issue")).body.decision).toBe("DENIED");
  });

  it("tools/screen does not hide a tool that only a scoped rule allows", async () => {
    const r = await http(`${d.url}/v1/tools/screen`, {
      token: TOKENS.ops,
      body: { tools: ["stripe.charge", "jira.read_issue", "github.delete_repo"] },
    });
    expect(r.body).toEqual({ denied: ["github.delete_repo"], allowed: ["stripe.charge", "jira.read_issue"] });
  });

  it("the principal decides, not the context the agent writes (a contradicting context is refused)", async () => {
    const r = await call("ops", "stripe.charge", { tenant: "acme", team: "payments" });
    expect(r.status).toBe(403);
  });
});

describe("risk classes through the agent API", () => {
  it("high risk is held, low risk is auto-approved, and both name the class (answer and audit row)", async () => {
    const refund = await call("pay", "stripe.refund_charge");
    expect(refund.status).toBe(202);
    expect(refund.body.decision).toBe("PENDING");
    expect(refund.body.reasons).toEqual([
      {
        block: "tool_calls",
        rule: "risky-writes",
        message: "tool stripe.refund_charge matches tool_calls.rules[1] (risk high) and needs human review",
      },
      {
        block: "risk",
        rule: "high",
        message: 'tool stripe.refund_charge is risk high (matches risk.high "stripe.refund*")',
      },
    ]);
    expect(auditOf(refund.body.intent_id).reasons).toContainEqual(
      expect.objectContaining({ block: "risk", rule: "high" }),
    );

    // a low-risk read is approved by the risk rule alone (not in tool_calls.allow)
    const read = await call("ops", "confluence.get_page");
    expect(read.body.decision).toBe("APPROVED");
    const row = auditOf(read.body.intent_id);
    expect(row.decision).toBe("APPROVED");
    expect(row.reasons).toEqual([
      {
        block: "tool_calls",
        rule: "low-reads",
        message: "tool confluence.get_page matches tool_calls.rules[2] (risk low) and is allowed",
      },
      { block: "risk", rule: "low", message: 'tool confluence.get_page is risk low (matches risk.low "*.get_*")' },
    ]);

    // a scope pattern gives the class: every tool of a prod-* server is high, the highest match wins over low
    const prod = await call("ops", "prod-db.read_rows");
    expect(prod.body.decision).toBe("PENDING");
    expect(prod.body.reasons).toContainEqual({
      block: "risk",
      rule: "high",
      message: 'tool prod-db.read_rows is risk high (matches risk.high "tool:*/server:prod-*")',
    });
    // medium (the default) is neither held nor approved by the risk rules: the allow list decides
    const medium = await call("ops", "jira.create_issue");
    expect(medium.body.decision).toBe("APPROVED");
    expect(auditOf(medium.body.intent_id).reasons).toContainEqual({
      block: "risk",
      rule: "medium",
      message: "tool jira.create_issue is risk medium (no risk pattern matches; the default class)",
    });
  });
});
