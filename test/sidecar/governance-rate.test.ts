// Rate limits through the real daemon over loopback HTTP: a limit trips with the retry time in the reason and resets
// when the window slides (the daemon's injectable clock, no sleeping), on_exceed: hold makes PENDING, tenant and
// team streams key on the principal, an operator-approved hold counts, and many parallel requests never get more than
// `max` approvals (the check and the count are in the decision's transaction).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { auditRows } from "../../sidecar/store/index.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const POLICY = `
tool_calls:
  allow: ["slack.*", "jira.*"]
actions:
  allow: ["report.*"]
rate_limits:
  - {id: slack-burst, tools: ["slack.*"], scope: agent, max: 3, per: 1m}
  - {id: reports-team, actions: ["report.*"], scope: team, max: 2, per: 10m, on_exceed: hold}
  - {id: jira-global, tools: ["jira.*"], scope: global, max: 5, per: 1h}
`;
const TOKENS = { a1: "tok-a1", a2: "tok-a2", b1: "tok-b1", solo: "tok-solo" };
const PRINCIPALS = {
  a1: { tenant: "acme", team: "payments" },
  a2: { tenant: "acme", team: "payments" },
  b1: { tenant: "acme", team: "ops" },
};
const OPS = { olga: "op-olga-token" };
type Agent = keyof typeof TOKENS;
const rateReason = (body: { reasons: { block: string; message: string }[] }) =>
  body.reasons.find((r) => r.block === "rate_limits")!;

const dir = tempDir();
let clock = Date.parse("2026-12-07T10:00:00.000Z");
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({
    config: { policyFile, agentTokens: TOKENS, principals: PRINCIPALS, operatorTokens: OPS },
    now: () => new Date(clock),
  });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
  removeDir(dir);
});

const call = (agent: Agent, tool: string) =>
  http(`${d.url}/v1/intents`, {
    token: TOKENS[agent],
    body: { agent, action: "tool.call", params: { tool, args: { text: "hi" } } },
  });
const report = (agent: Agent) =>
  http(`${d.url}/v1/intents`, { token: TOKENS[agent], body: { agent, action: "report.daily", params: {} } });

describe("rate limits through the agent API", () => {
  it("trips at max with the retry time in the reason, and resets as the window slides", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call("a1", "slack.post_message")).body.decision).toBe("APPROVED");
      clock += 10_000; // approvals at :00, :10, :20
    }
    const over = await call("a1", "slack.post_message"); // at :30
    expect(over.status).toBe(200);
    expect(over.body.decision).toBe("DENIED");
    expect(over.body.attestation).toBeUndefined();
    expect(over.body.reasons).toContainEqual({
      block: "rate_limits",
      rule: "slack-burst",
      message: "rate limit slack-burst: 3 per 1m for agent a1; retry after 2026-12-07T10:01:00.000Z (in 30 s)",
    });
    // another agent has its own stream; other tools are not counted
    expect((await call("a2", "slack.post_message")).body.decision).toBe("APPROVED");
    expect((await call("a1", "jira.create_issue")).body.decision).toBe("APPROVED");
    // a denied call does not count: at :59.999 still denied, at 10:01:00 the first approval has left the window
    clock = Date.parse("2026-12-07T10:00:59.999Z");
    expect((await call("a1", "slack.post_message")).body.decision).toBe("DENIED");
    clock = Date.parse("2026-12-07T10:01:00.000Z");
    expect((await call("a1", "slack.post_message")).body.decision).toBe("APPROVED");
    const again = await call("a1", "slack.post_message");
    expect(again.body.decision).toBe("DENIED");
    expect(rateReason(again.body).message).toContain("retry after 2026-12-07T10:01:10.000Z (in 10 s)");
    // the audit row names the rate limit
    const row = [...auditRows(d.db)].find(
      (r) => r.type === "decision" && (r.data as { intent_id?: string }).intent_id === again.body.intent_id,
    );
    expect((row!.data as { reasons: unknown[] }).reasons).toContainEqual(
      expect.objectContaining({ block: "rate_limits", rule: "slack-burst" }),
    );
  });

  it("on_exceed: hold makes PENDING (team stream from the principal); an approved hold counts", async () => {
    expect((await report("a1")).body.decision).toBe("APPROVED");
    expect((await report("a2")).body.decision).toBe("APPROVED"); // same team payments
    const held = await report("a1");
    expect(held.status).toBe(202);
    expect(held.body.decision).toBe("PENDING");
    expect(held.body.reasons).toContainEqual(
      expect.objectContaining({
        block: "rate_limits",
        rule: "reports-team",
        message: expect.stringMatching(/for team acme\/payments; retry after/),
      }),
    );
    // team ops is another stream; an agent without a principal counts alone
    expect((await report("b1")).body.decision).toBe("APPROVED");
    expect((await report("solo")).body.decision).toBe("APPROVED");
    expect((await report("solo")).body.decision).toBe("APPROVED");
    const soloHeld = await report("solo");
    expect(rateReason(soloHeld.body).message).toContain("agent solo (no team principal, counted alone)");

    // an operator approves the held payments report: it then counts in the window
    const approve = await http(`http://${d.operatorAddr}/v1/holds/${held.body.hold.id}/approve`, {
      token: OPS.olga,
      body: { comment: "ok" },
    });
    expect(approve.body.state).toBe("approved");
    const n = d.db
      .prepare(
        "SELECT count(*) AS n FROM rate_limit_ledger WHERE limit_id = 'reports-team' AND scope_key = 'team:acme/payments'",
      )
      .get() as { n: number };
    expect(n.n).toBe(3);
  });

  it("parallel requests never get more than max approvals (global stream)", async () => {
    const agents: Agent[] = ["a1", "a2", "b1", "solo"];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => call(agents[i % 4]!, `jira.task_${i}`)));
    const decisions = results.map((r) => r.body.decision);
    // one jira call was approved in the first test; the global stream allows 5 per hour
    expect(decisions.filter((x) => x === "APPROVED")).toHaveLength(4);
    expect(decisions.filter((x) => x === "DENIED")).toHaveLength(36);
    expect(results.every((r) => r.status === 200)).toBe(true);
  });
});
