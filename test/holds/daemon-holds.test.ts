// Holds and soft limits through the real daemon over HTTP: agent listener, operator listener, long poll.
import { afterEach, describe, expect, it } from "vitest";
import { createLocalJWKSet, jwtVerify } from "jose";
import { startTestDaemon, http, removeDir } from "../sidecar/helpers.ts";
import { stubPolicy } from "./policy-stub.ts";
import { ATTESTATION_TYP, intentDigest } from "../../protocol/index.ts";
import { auditRows, verifyAudit } from "../../sidecar/store/index.ts";

const AGENT_TOKEN = "agent-secret-token";
const OPS = { alice: "alice-operator-token", bob: "bob-operator-token" };
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function daemon(policy: ReturnType<typeof stubPolicy>) {
  const d = await startTestDaemon({ policy, config: { agentTokens: { "treasury-bot": AGENT_TOKEN }, operatorTokens: OPS } });
  cleanup.push(() => removeDir(d.dataDir));
  cleanup.push(() => d.close());
  return { d, agent: d.url, op: `http://${d.operatorAddr}` };
}

const disburse = (amount: number) => ({
  agent: "treasury-bot",
  action: "treasury.disburse",
  params: { amount_usd: amount, ticket: "T-1" },
  context: {},
});

async function verify(d: { url: string }, jws: string) {
  const jwks = (await http(`${d.url}/.well-known/jwks.json`)).body;
  return jwtVerify(jws, createLocalJWKSet(jwks), { typ: ATTESTATION_TYP });
}

describe("holds through the daemon", () => {
  it("a two-operator hold: the long poll wakes with a verifying attestation after two distinct approvals", async () => {
    const { d, agent, op } = await daemon(stubPolicy({ hold: ["treasury.disburse"], overrides: { review: 2 } }));
    const intent = disburse(75000);
    const res = await http(`${agent}/v1/intents`, { body: intent, token: AGENT_TOKEN });
    expect(res.status).toBe(202);
    expect(res.body.decision).toBe("PENDING");
    expect(res.body.hold).toMatchObject({ approvals_required: 2, approvals: 0 });
    const holdId = res.body.hold.id;

    const poll = http(`${agent}/v1/intents/${res.body.intent_id}?wait=30`, { token: AGENT_TOKEN });

    const listed = await http(`${op}/v1/holds?state=pending`, { token: OPS.alice });
    expect(listed.body.holds.map((h: { id: string }) => h.id)).toEqual([holdId]);

    const a1 = await http(`${op}/v1/holds/${holdId}/approve`, { body: { comment: "ok" }, token: OPS.alice });
    expect(a1.status).toBe(200);
    expect(a1.body).toMatchObject({ state: "pending", approvals: 1, approvals_required: 2 });
    const again = await http(`${op}/v1/holds/${holdId}/approve`, { body: {}, token: OPS.alice });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("already_approved");
    const mid = await http(`${agent}/v1/intents/${res.body.intent_id}`, { token: AGENT_TOKEN });
    expect(mid.body).toMatchObject({ decision: "PENDING", hold: { approvals: 1 } });

    const a2 = await http(`${op}/v1/holds/${holdId}/approve`, { body: {}, token: OPS.bob });
    expect(a2.body).toMatchObject({ state: "approved", approvals: 2 });

    const done = await poll;
    expect(done.status).toBe(200);
    expect(done.body.decision).toBe("APPROVED");
    const { payload } = await verify(d, done.body.attestation);
    expect(payload.jti).toBe(res.body.intent_id);
    expect((payload.intent as { digest: string }).digest).toBe(intentDigest({ ...intent }));
    expect(payload.approval).toMatchObject({ hold_id: holdId, approvers: ["alice", "bob"] });

    const show = await http(`${op}/v1/holds/${holdId}`, { token: OPS.bob });
    expect(show.body.approvals.map((a: { operator: string }) => a.operator)).toEqual(["alice", "bob"]);
    const decisions = await http(`${op}/v1/decisions?limit=5`, { token: OPS.bob });
    expect(decisions.body.decisions[0]).toMatchObject({ intent_id: res.body.intent_id, decision: "APPROVED" });

    const metrics = await fetch(`${agent}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/intent_sidecar_holds\{state="approved"\} 1/);
    expect(metrics).toMatch(/intent_sidecar_holds\{state="pending"\} 0/);

    // every transition is in the hash-chained audit log, which still verifies
    expect(verifyAudit(d.db).ok).toBe(true);
    const holdEvents = [...auditRows(d.db)].filter((r) => r.data.hold_id === holdId).map((r) => `${r.type}:${r.data.operator ?? ""}`);
    expect(holdEvents).toEqual(["hold.created:", "decision:", "hold.approval:alice", "hold.approval:bob", "hold.approved:bob"]);
  });

  it("one denial ends the hold and the agent reads DENIED", async () => {
    const { agent, op } = await daemon(stubPolicy({ hold: ["treasury.disburse"] }));
    const res = await http(`${agent}/v1/intents`, { body: disburse(10), token: AGENT_TOKEN });
    const poll = http(`${agent}/v1/intents/${res.body.intent_id}?wait=30`, { token: AGENT_TOKEN });
    const denied = await http(`${op}/v1/holds/${res.body.hold.id}/deny`, { body: { reason: "not this week" }, token: OPS.bob });
    expect(denied.body.state).toBe("denied");
    const out = await poll;
    expect(out.body.decision).toBe("DENIED");
    expect(JSON.stringify(out.body.reasons)).toContain("not this week");
    expect((await http(`${op}/v1/holds/${res.body.hold.id}/approve`, { body: {}, token: OPS.alice })).status).toBe(409);
  });

  it("the sweeper expires a hold: the long poll wakes with EXPIRED and the hold can no longer be approved", async () => {
    const { agent, op } = await daemon(stubPolicy({ hold: ["treasury.disburse"], ttlMs: 1500 }));
    const res = await http(`${agent}/v1/intents`, { body: disburse(10), token: AGENT_TOKEN });
    expect(res.body.decision).toBe("PENDING");
    const out = await http(`${agent}/v1/intents/${res.body.intent_id}?wait=30`, { token: AGENT_TOKEN });
    expect(out.body.decision).toBe("EXPIRED");
    expect(out.body.reasons.some((r: { block: string; rule: string }) => r.block === "holds" && r.rule === "expired")).toBe(true);
    const late = await http(`${op}/v1/holds/${res.body.hold.id}/approve`, { body: {}, token: OPS.alice });
    expect(late.status).toBe(409);
    expect(late.body.error).toBe("not_pending");
    expect((await http(`${op}/v1/holds?state=expired`, { token: OPS.alice })).body.holds.map((h: { id: string }) => h.id)).toEqual([
      res.body.hold.id,
    ]);
  });

  it("agent tokens get 401 on every operator route, and the agent listener has no hold routes", async () => {
    const { agent, op } = await daemon(stubPolicy({ hold: ["treasury.disburse"] }));
    const res = await http(`${agent}/v1/intents`, { body: disburse(10), token: AGENT_TOKEN });
    const id = res.body.hold.id;
    const routes: [string, string][] = [
      ["GET", "/v1/holds"],
      ["GET", `/v1/holds/${id}`],
      ["POST", `/v1/holds/${id}/approve`],
      ["POST", `/v1/holds/${id}/deny`],
      ["POST", "/v1/policy/reload"],
      ["GET", "/v1/decisions"],
      ["GET", "/v1/events"],
      ["GET", "/v1/whoami"],
    ];
    for (const [method, path] of routes) {
      for (const token of [AGENT_TOKEN, undefined, "nope"]) {
        const r = await http(`${op}${path}`, { method, token, ...(method === "POST" ? { body: {} } : {}) });
        expect(r.status, `${method} ${path} with ${token ?? "no token"}`).toBe(401);
      }
      const r = await http(`${agent}${path}`, { method, token: AGENT_TOKEN, ...(method === "POST" ? { body: {} } : {}) });
      expect(r.status, `agent listener ${method} ${path}`).toBe(404);
      // an operator token is not an agent token either: nothing operator-side answers there
      const o = await http(`${agent}${path}`, { method, token: OPS.alice, ...(method === "POST" ? { body: {} } : {}) });
      expect(o.status, `agent listener ${method} ${path} with an operator token`).toBe(401);
    }
    expect((await http(`${op}/v1/holds/${id}`, { token: OPS.alice })).body.state).toBe("pending");
  });

  it("200 concurrent intents at a soft limit: the approved total never exceeds the cap, the rest are PENDING", async () => {
    const cap = 37;
    const { d, agent, op } = await daemon(
      stubPolicy({
        allow: ["report.send"],
        softLimits: [{ id: "per-agent-reports", actions: ["report.*"], measure: "count", scope: "agent", windowMs: 3_600_000, max: cap }],
        maxOpenPerAgent: 1000, // 163 holds for one agent: above the default holds.max_open_per_agent
      }),
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        http(`${agent}/v1/intents`, { body: { agent: "treasury-bot", action: "report.send", params: { n: i }, context: {} }, token: AGENT_TOKEN }),
      ),
    );
    const approved = results.filter((r) => r.body.decision === "APPROVED");
    const pending = results.filter((r) => r.body.decision === "PENDING");
    expect(approved).toHaveLength(cap);
    expect(pending).toHaveLength(200 - cap);
    expect(pending[0]!.body.reasons[0]).toMatchObject({ block: "soft_limits", rule: "per-agent-reports" });
    expect(pending[0]!.body.reasons[0].message).toContain(`window total ${cap} + 1 would exceed the cap of ${cap}`);
    const total = () => d.holdsSystem.ledger.windowTotal("per-agent-reports", "agent:treasury-bot", 3_600_000, Date.now());
    expect(total()).toBe(cap);
    // an approved hold counts from its approval
    await http(`${op}/v1/holds/${pending[0]!.body.hold.id}/approve`, { body: {}, token: OPS.alice });
    expect(total()).toBe(cap + 1);
  });
});
