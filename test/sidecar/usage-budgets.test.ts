// Cost attribution and budgets through the real daemon: intents with a declared cost over the agent API, principals
// from the sidecar config, budget alerts to a webhook receiver on loopback (exactly once per threshold, across a
// daemon restart while deliveries were failing), hold and deny beyond the limit, an approved hold counted, and
// GET /v1/usage on the operator API only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { startTestDaemon, http, removeDir, tempDir } from "./helpers.ts";
import { createGate, GateError } from "../../executor-gate/index.ts";
import { testReplay } from "../executor-gate/test-replay.ts";

const TOKENS = {
  alice: "alice-cost-token-0123456789",
  bob: "bob-cost-token-0123456789",
  carol: "carol-cost-token-0123456789",
  dave: "dave-cost-token-0123456789",
};
const OP = "operator-cost-token-0123456789";
// a fixed clock in the middle of a UTC day, so the day window cannot roll over while the test runs
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const started = Date.now();
const now = () => new Date(T0 + (Date.now() - started));

let dir: string;
let receiver: Server;
let hook: string;
let accepting = false;
const alerts: Record<string, any>[] = [];
let d: Awaited<ReturnType<typeof startTestDaemon>>;

async function start() {
  d = await startTestDaemon({
    dataDir: join(dir, "data"),
    now,
    config: {
      policyFile: join(dir, "policy.yaml"),
      agentTokens: TOKENS,
      operatorTokens: { op: OP },
      principals: { alice: { tenant: "acme", team: "finance" }, bob: { tenant: "acme", team: "finance" }, carol: { tenant: "acme", team: "ops" } },
    },
  });
}

beforeAll(async () => {
  dir = tempDir("isc-cost-");
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (!accepting) return void res.writeHead(503).end();
      const e = JSON.parse(body);
      if (e.type === "budget.threshold") alerts.push(e.data);
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  writeFileSync(
    join(dir, "policy.yaml"),
    `actions:
  allow: ["llm.*"]
costs:
  - id: tokens
    actions: ["llm.tokens"]
    measure: double(intent.params.tokens) * 0.001
    currency: USD
budgets:
  - id: team-daily
    scope: team
    per: day
    limit: "10 USD"
    alert_at: [0.5, 0.8, 1.0]
  - id: agent-cap
    scope: agent
    per: day
    limit: "100 USD"
    alert_at: [0.9]
    on_exceed: deny
notify:
  webhooks:
    - url: "${hook}"
      events: [budget]
`,
  );
  await start();
});

afterAll(async () => {
  await d?.close();
  receiver?.closeAllConnections();
  receiver?.close();
  removeDir(dir);
});

const spend = (agent: keyof typeof TOKENS, amount: string) =>
  http(`${d.url}/v1/intents`, {
    token: TOKENS[agent],
    body: { action: "llm.complete", params: { model: "m" }, cost: { amount, currency: "USD" } },
  });
const usage = (query = "", token = OP) => http(`http://${d.operatorAddr}/v1/usage${query}`, { token });

async function until(cond: () => boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("cost attribution and budgets through the daemon", () => {
  it("sums costs, alerts once per threshold across a restart, holds and denies beyond the limits", async () => {
    expect((await spend("alice", "4")).body.decision).toBe("APPROVED");
    expect((await spend("bob", "1")).body.decision).toBe("APPROVED"); // finance 5/10: 0.5
    expect((await spend("alice", "3.25")).body.decision).toBe("APPROVED"); // 8.25: 0.8
    expect((await spend("alice", "0.25")).body.decision).toBe("APPROVED"); // 8.5: nothing new
    // the receiver has refused every delivery so far: the alerts wait in the outbox; restart the daemon
    expect(alerts).toHaveLength(0);
    expect(d.holdsSystem.outbox.stats().pending).toBe(2); // 0.5 and 0.8, committed with their decisions
    await d.close();
    await start();
    accepting = true;
    expect((await spend("bob", "1.5")).body.decision).toBe("APPROVED"); // 10/10: 1.0
    const held = await spend("alice", "0.01");
    expect(held.status).toBe(202);
    expect(held.body.decision).toBe("PENDING");
    // the allow that matched comes first (as for any non-approved decision), then the budget
    expect(held.body.reasons.filter((r: { block: string }) => r.block === "budgets")).toEqual([
      {
        block: "budgets",
        rule: "team-daily",
        message: expect.stringMatching(/^team acme\/finance has spent 10 USD of its 10 USD budget team-daily this window \(day from 2026-12-07T00:00:00\.000Z\); this intent's 0\.01 USD would exceed it$/),
      },
    ]);
    expect((await spend("carol", "6")).body.decision).toBe("APPROVED"); // ops 6/10: 0.5 for acme/ops
    const denied = await spend("carol", "95"); // agent-cap: 101/100 → deny (wins over the team budget's hold)
    expect(denied.body.decision).toBe("DENIED");
    const budgetReasons = denied.body.reasons.filter((r: { block: string }) => r.block === "budgets");
    expect(budgetReasons.map((r: { rule: string }) => r.rule)).toEqual(["agent-cap"]);
    expect(budgetReasons[0].message).toContain("agent carol has spent 6 USD of its 100 USD budget agent-cap");

    // an operator approves the held intent: its cost counts from then on (beyond the limit: the operator decided)
    const ok = await http(`http://${d.operatorAddr}/v1/holds/${held.body.hold.id}/approve`, { token: OP, body: {} });
    expect(ok.body.state).toBe("approved");
    // more spend after every threshold fired: no new alert
    expect((await spend("bob", "0")).body.decision).toBe("APPROVED");

    await until(() => d.holdsSystem.outbox.stats().pending === 0);
    const seen = alerts.map((a) => `${a.budget} ${a.key} ${a.threshold}${a.refused ? ` ${a.refused}` : ""}`).sort();
    expect(seen).toEqual([
      "agent-cap carol 0.9 deny", // carol's refused 95 would have reached 101 of 100
      "team-daily acme/finance 0.5",
      "team-daily acme/finance 0.8",
      "team-daily acme/finance 1",
      "team-daily acme/ops 0.5",
      "team-daily acme/ops 0.8 deny", // the refused intent would have taken ops to 101
      "team-daily acme/ops 1 deny",
    ]);
    const fin08 = alerts.find((a) => a.key === "acme/finance" && a.threshold === 0.8)!;
    expect(fin08).toMatchObject({ scope: "team", per: "day", limit: "10", currency: "USD", total: "8.25", exceeded: false });
    expect(fin08.window).toEqual({ start: "2026-12-07T00:00:00.000Z", end: "2026-12-08T00:00:00.000Z" });

    const u = await usage("?window=day");
    expect(u.status).toBe(200);
    expect(u.body.limits).toEqual([]); // the soft-limit part of the report is still there
    expect(u.body.costs.totals).toEqual([
      { scope: "agent", key: "alice", currency: "USD", total: "7.51" },
      { scope: "agent", key: "bob", currency: "USD", total: "2.5" },
      { scope: "agent", key: "carol", currency: "USD", total: "6" },
      { scope: "team", key: "acme/finance", currency: "USD", total: "10.01" },
      { scope: "team", key: "acme/ops", currency: "USD", total: "6" },
      { scope: "tenant", key: "acme", currency: "USD", total: "16.01" },
    ]);
    const team = u.body.budgets.find((b: { id: string }) => b.id === "team-daily");
    expect(team).toMatchObject({ scope: "team", per: "day", limit: "10", currency: "USD", on_exceed: "hold", alert_at: [0.5, 0.8, 1] });
    expect(team.streams[0]).toEqual({
      key: "acme/finance",
      total: "10.01",
      remaining: "0",
      used: 1.001,
      exceeded: true,
      alerted: [0.5, 0.8, 1],
    });
  }, 60_000);

  it("filters usage by scope, key and window, and says what to fix in a bad query", async () => {
    const team = await usage("?scope=team&key=acme/fin*");
    expect(team.body.costs.totals).toEqual([{ scope: "team", key: "acme/finance", currency: "USD", total: "10.01" }]);
    expect(team.body.budgets.map((b: { id: string }) => b.id)).toEqual(["team-daily"]);
    expect(team.body.costs.since).toBe("2026-12-01T00:00:00.000Z"); // default window: this month
    const since = await usage(`?since=${encodeURIComponent(new Date(now().getTime() + 60_000).toISOString())}`);
    expect(since.body.costs.totals).toEqual([]);
    for (const [q, code] of [
      ["?scope=org", "invalid_scope"],
      ["?window=fortnight", "invalid_window"],
      ["?since=yesterday", "invalid_since"],
      ["?since=2020-01-01T00:00:00Z", "invalid_since"],
      ["?window=day&since=2026-12-07T00:00:00Z", "invalid_window"],
    ] as const) {
      const r = await usage(q);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe(code);
    }
  });

  it("is for operators only: the agent token is refused and the agent listener has no such route", async () => {
    expect((await usage("", TOKENS.alice)).status).toBe(401);
    expect((await http(`http://${d.operatorAddr}/v1/usage`)).status).toBe(401);
    const onAgent = await http(`${d.url}/v1/usage`, { token: TOKENS.alice });
    expect(onAgent.status).toBe(404);
  });

  it("a policy measure prices intents itself (over the declared cost); a failing measure denies", async () => {
    const priced = await http(`${d.url}/v1/intents`, {
      token: TOKENS.dave,
      body: { action: "llm.tokens", params: { tokens: 2500 }, cost: { amount: "0", currency: "USD" } },
    });
    expect(priced.body.decision).toBe("APPROVED");
    const broken = await http(`${d.url}/v1/intents`, { token: TOKENS.dave, body: { action: "llm.tokens", params: { tokens: "many" } } });
    expect(broken.body.decision).toBe("DENIED");
    expect(broken.body.reasons.at(-1)).toMatchObject({ block: "sidecar", rule: "internal_error" });
    const u = await usage("?scope=agent&key=dave&window=day");
    expect(u.body.costs.totals).toEqual([{ scope: "agent", key: "dave", currency: "USD", total: "2.5" }]);
    // dave has no principal: under the team budget he is counted alone
    const team = u.body.budgets.find((b: { id: string }) => b.id === "team-daily");
    expect(team).toBeUndefined(); // scope=agent shows agent budgets only
    const all = await usage("?key=dave");
    expect(all.body.budgets.find((b: { id: string }) => b.id === "team-daily").streams).toEqual([
      { key: "dave", counted_alone: true, total: "2.5", remaining: "7.5", used: 0.25, exceeded: false, alerted: [] },
    ]);
  });

  it("the attestation binds the declared cost: an executor given another cost (or none) refuses", async () => {
    const intent = { agent: "dave", action: "llm.complete", params: { model: "m" }, context: {}, cost: { amount: "0.000001", currency: "USD" } };
    const r = await http(`${d.url}/v1/intents`, { token: TOKENS.dave, body: intent });
    expect(r.body.decision).toBe("APPROVED");
    const jwks = (await http(`${d.url}/.well-known/jwks.json`)).body.keys;
    const gate = () => createGate({ replay: testReplay(), jwks, now: () => now().getTime() }); // the daemon's clock
    await expect(gate().verify(r.body.attestation, intent)).resolves.toBeTruthy();
    for (const other of [{ ...intent, cost: { amount: "0.000002", currency: "USD" } }, { ...intent, cost: undefined }]) {
      const e = await gate().verify(r.body.attestation, other).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(GateError);
      expect((e as GateError).code).toBe("digest_mismatch");
    }
  });

  it("a cost in a currency no budget counts is denied; a malformed cost is a 400 naming the field", async () => {
    const eur = await http(`${d.url}/v1/intents`, {
      token: TOKENS.bob,
      body: { action: "llm.complete", params: {}, cost: { amount: "1", currency: "EUR" } },
    });
    expect(eur.body.decision).toBe("DENIED");
    expect(eur.body.reasons.at(-1)).toMatchObject({ block: "budgets", rule: "currency" });
    const bad = await http(`${d.url}/v1/intents`, { token: TOKENS.bob, body: { action: "llm.complete", params: {}, cost: { amount: 1.5, currency: "USD" } } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]).toMatchObject({ path: "cost.amount" });
  });
});
