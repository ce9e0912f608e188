// The reference policy's hold rules and soft limits, as its comments state, through real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalJWKSet, jwtVerify } from "jose";
import { startTestDaemon, http, removeDir } from "../sidecar/helpers.ts";
import { ATTESTATION_TYP } from "../../protocol/index.ts";

const AGENT = "agent-token-ref";
const OPS = { alice: "alice-token-ref", bob: "bob-token-ref" };
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let op: string;

beforeAll(async () => {
  d = await startTestDaemon({ config: { agentTokens: { "treasury-bot": AGENT, "ops-bot": "ops-bot-token" }, operatorTokens: OPS } });
  op = `http://${d.operatorAddr}`;
});
afterAll(async () => {
  await d?.close();
  if (d) removeDir(d.dataDir);
});

const disburse = (amount: number, n: string) => ({
  agent: "treasury-bot",
  action: "treasury.disburse",
  params: { amount_usd: amount, ticket: `T-${n}` },
  context: {},
});
const intent = (body: unknown, token = AGENT) => http(`${d.url}/v1/intents`, { body, token });
const approve = (id: string, token: string, comment?: string) =>
  http(`${op}/v1/holds/${id}/approve`, { body: comment ? { comment } : {}, token });

describe("reference policy: holds and soft limits", () => {
  it("big-disbursement-review: above $50k is PENDING and needs two distinct operators", async () => {
    const r = await intent(disburse(60000, "big"));
    expect(r.status).toBe(202);
    expect(r.body.decision).toBe("PENDING");
    expect(r.body.reasons.map((x: { rule: string }) => x.rule)).toContain("big-disbursement-review");
    expect(r.body.hold.approvals_required).toBe(2);
    const poll = http(`${d.url}/v1/intents/${r.body.intent_id}?wait=30`, { token: AGENT });

    expect((await approve(r.body.hold.id, OPS.alice, "invoice checked")).body).toMatchObject({ state: "pending", approvals: 1 });
    const twice = await approve(r.body.hold.id, OPS.alice);
    expect(twice.status).toBe(409);
    expect((await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: AGENT })).body.decision).toBe("PENDING");
    expect((await approve(r.body.hold.id, OPS.bob)).body).toMatchObject({ state: "approved", approvals: 2 });

    const out = await poll;
    expect(out.body.decision).toBe("APPROVED");
    const jwks = createLocalJWKSet((await http(`${d.url}/.well-known/jwks.json`)).body);
    const { payload } = await jwtVerify(out.body.attestation, jwks, { typ: ATTESTATION_TYP });
    expect(payload.approval).toMatchObject({ hold_id: r.body.hold.id, approvers: ["alice", "bob"] });
    expect(payload.sub).toBe("treasury-bot");
  });

  it("daily-disbursed-usd: crossing 100k USD in the rolling 24 h makes the intent PENDING, naming total and cap", async () => {
    // 60k above was approved by operators and counts; 30k more is fine, the next 20k crosses 100k
    const a = await intent(disburse(30000, "a"));
    expect(a.body.decision).toBe("APPROVED");
    const b = await intent(disburse(20000, "b"));
    expect(b.body.decision).toBe("PENDING");
    const reason = b.body.reasons.find((x: { block: string }) => x.block === "soft_limits");
    expect(reason.rule).toBe("daily-disbursed-usd");
    expect(reason.message).toContain("window total 90000 + 20000 would exceed the cap of 100000");
    expect(b.body.hold.approvals_required).toBe(1);
    // a single approval suffices for a soft-limit hold, and then it counts
    expect((await approve(b.body.hold.id, OPS.bob)).body.state).toBe("approved");
    expect(d.holdsSystem.ledger.windowTotal("daily-disbursed-usd", "agent:treasury-bot", 86_400_000, Date.now())).toBe(110000);
    // a disbursement without a ticket is still DENIED, not held
    const noTicket = await intent({ agent: "treasury-bot", action: "treasury.disburse", params: { amount_usd: 5 }, context: {} });
    expect(noTicket.body.decision).toBe("DENIED");
  });

  it("tool_calls.hold payments.*: allowed only after human review", async () => {
    const r = await intent({ agent: "treasury-bot", action: "tool.call", params: { tool: "payments.refund", args: { id: "r1" } }, context: {} });
    expect(r.status).toBe(202);
    expect(r.body.decision).toBe("PENDING");
    const holds = await http(`${op}/v1/holds?state=pending&agent=treasury-bot`, { token: OPS.alice });
    expect(holds.body.holds.some((h: { intent_id: string }) => h.intent_id === r.body.intent_id)).toBe(true);
    expect((await http(`${op}/v1/holds/${r.body.hold.id}/deny`, { body: { reason: "no" }, token: OPS.alice })).body.state).toBe("denied");
    expect((await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: AGENT })).body.decision).toBe("DENIED");
  });

  it("hourly-tool-calls: more than 200 tool calls per agent in an hour is PENDING", async () => {
    const call = (i: number) =>
      intent({ agent: "ops-bot", action: "tool.call", params: { tool: "slack.post_message", args: { text: `n${i}` } }, context: {} }, "ops-bot-token");
    const first = await Promise.all(Array.from({ length: 200 }, (_, i) => call(i)));
    expect(first.filter((r) => r.body.decision === "APPROVED")).toHaveLength(200);
    const over = await call(200);
    expect(over.body.decision).toBe("PENDING");
    const reason = over.body.reasons.find((x: { block: string }) => x.block === "soft_limits");
    expect(reason.rule).toBe("hourly-tool-calls");
    expect(reason.message).toContain("window total 200 + 1 would exceed the cap of 200");
  });

  it("operators reload the policy and read recent decisions; agents cannot", async () => {
    const reload = await http(`${op}/v1/policy/reload`, { method: "POST", token: OPS.alice });
    expect(reload.status).toBe(200);
    expect(reload.body).toMatchObject({ ok: true });
    expect(reload.body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await http(`${op}/v1/policy/reload`, { method: "POST", token: AGENT })).status).toBe(401);
    const decisions = await http(`${op}/v1/decisions?limit=3`, { token: OPS.bob });
    expect(decisions.body.decisions).toHaveLength(3);
    expect(decisions.body.decisions[0]).toMatchObject({ agent: "ops-bot", action: "tool.call", decision: "PENDING" });
  });
});
