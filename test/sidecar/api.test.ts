// The agent API's contract around the decision: input validation, auth, idempotency, fail-closed paths, holds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakePolicy } from "./fake-policy.ts";
import { http, removeDir, startTestDaemon } from "./helpers.ts";
import { VENDOR_A, usdcTransfer, usdc } from "./intents.ts";

type D = Awaited<ReturnType<typeof startTestDaemon>>;

function counts(d: D) {
  return {
    intents: (d.db.prepare("SELECT count(*) n FROM intents").get() as { n: number }).n,
    audit: (d.db.prepare("SELECT count(*) n FROM audit").get() as { n: number }).n,
  };
}

describe("malformed intents (reference policy)", () => {
  let d: D;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  const good = usdcTransfer(VENDOR_A, usdc(5n));
  const cases: [string, unknown, string[]][] = [
    ["wrong types", { ...good, params: { ...good.params, chain_id: "8453" } }, ["params.chain_id"]],
    ["an amount as a JSON number", { ...good, params: { ...good.params, value: 1000 } }, ["params.value"]],
    ["an unknown top-level field", { ...good, priority: "high" }, ["(body)"]],
    ["an unknown params field", { ...good, params: { ...good.params, gasPrice: "1" } }, ["params"]],
    ["a bad address", { ...good, params: { ...good.params, to: "0x1234" } }, ["params.to"]],
    [
      "a mis-checksummed address",
      { ...good, params: { ...good.params, to: "0x833589fcD6eDb6E08f4c7C32D4f71b54bdA02913" } },
      ["params.to"],
    ],
    [
      "several problems at once",
      { agent: "", action: "Evm Tx", params: { chain_id: -1, to: "nope", value: "1.5" }, context: [] },
      ["agent", "action", "context"],
    ],
    [
      "a tool name without a server",
      { agent: "a", action: "tool.call", params: { tool: "post", args: {} } },
      ["params.tool"],
    ],
    ["a non-object body", [1, 2, 3], ["(body)"]],
  ];
  for (const [name, body, paths] of cases) {
    it(`${name} → 400 naming ${paths.join(", ")}, nothing recorded`, async () => {
      const before = counts(d);
      const r = await http(`${d.url}/v1/intents`, { body });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe("invalid_intent");
      const got = (r.body.issues as { path: string; message: string }[]).map((i) => i.path);
      for (const p of paths) expect(got).toContain(p);
      for (const i of r.body.issues) expect(i.message.length).toBeGreaterThan(3);
      expect(counts(d)).toEqual(before);
    });
  }

  it("reports every params problem of a typed action", async () => {
    const r = await http(`${d.url}/v1/intents`, {
      body: { agent: "a", action: "evm.transaction", params: { chain_id: "x", to: "0x12", value: 5 } },
    });
    expect(r.status).toBe(400);
    expect(r.body.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "params.chain_id",
      "params.to",
      "params.value",
    ]);
  });

  it("invalid JSON → 400 invalid_json, nothing recorded", async () => {
    const before = counts(d);
    const r = await http(`${d.url}/v1/intents`, { raw: '{"agent": "a", "action": ' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("invalid_json");
    expect(counts(d)).toEqual(before);
  });

  it("a body over 256 KiB → 413 with a JSON body, nothing recorded", async () => {
    const before = counts(d);
    const big = JSON.stringify({ agent: "a", action: "report.x", params: { blob: "x".repeat(300 * 1024) } });
    const r = await http(`${d.url}/v1/intents`, { raw: big });
    expect(r.status).toBe(413);
    expect(r.body.error).toBe("body_too_large");
    expect(counts(d)).toEqual(before);
  });

  it("unknown routes and unknown intents → 404 JSON", async () => {
    const r = await http(`${d.url}/v1/nothing`);
    expect(r.status).toBe(404);
    expect(r.body.error).toBe("not_found");
    const g = await http(`${d.url}/v1/intents/00000000-0000-0000-0000-000000000000`);
    expect(g.status).toBe(404);
    expect(g.body.error).toBe("not_found");
  });

  it("health names the active policy digest; metrics count decisions", async () => {
    await http(`${d.url}/v1/intents`, { body: good });
    const h = await http(`${d.url}/healthz`);
    expect(h.status).toBe(200);
    expect(h.body.policy.digest).toBe(d.policy.provider.current()!.digest);
    expect(h.body.last_reload_error).toBeNull();
    const m = await http(`${d.url}/metrics`);
    expect(m.body).toMatch(/intent_sidecar_decisions_total\{decision="APPROVED",replay="false"\} [1-9]/);
    expect(m.body).toMatch(/intent_sidecar_decision_duration_seconds_bucket/);
  });
});

describe("agent tokens", () => {
  let d: D;
  beforeAll(async () => {
    d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      config: { agentTokens: { bot: "tok-bot", other: "tok-other" } },
    });
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("no or unknown token → 401 JSON", async () => {
    const r1 = await http(`${d.url}/v1/intents`, { body: { action: "report.send", params: {} } });
    expect(r1.status).toBe(401);
    expect(r1.body.error).toBe("unauthorized");
    const r2 = await http(`${d.url}/v1/intents`, { body: { action: "report.send", params: {} }, token: "tok-bo" });
    expect(r2.status).toBe(401);
  });

  it("the token names the agent; a body naming another agent → 403; others' intents are invisible", async () => {
    const r = await http(`${d.url}/v1/intents`, { body: { action: "report.send", params: {} }, token: "tok-bot" });
    expect(r.body.decision).toBe("APPROVED");
    const row = d.store.get(r.body.intent_id)!;
    expect(row.agent).toBe("bot");
    const mismatch = await http(`${d.url}/v1/intents`, {
      body: { agent: "other", action: "report.send", params: {} },
      token: "tok-bot",
    });
    expect(mismatch.status).toBe(403);
    expect((await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: "tok-bot" })).status).toBe(200);
    const peek = await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: "tok-other" });
    expect(peek.status).toBe(404);
  });

  it("JWKS, health and metrics need no token", async () => {
    expect((await http(`${d.url}/.well-known/jwks.json`)).status).toBe(200);
    expect((await http(`${d.url}/healthz`)).status).toBe(200);
  });
});

describe("idempotency, fail closed, holds", () => {
  let d: D;
  const policy = fakePolicy({ allow: ["report.send"], hold: ["payout.big"] });
  beforeAll(async () => {
    d = await startTestDaemon({ policy });
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("same agent + key + intent → the same decision, recorded once; a different intent → 409", async () => {
    const body = { agent: "bot", action: "report.send", params: { n: 1 }, idempotency_key: "k1" };
    const before = counts(d);
    const [a, b] = await Promise.all([http(`${d.url}/v1/intents`, { body }), http(`${d.url}/v1/intents`, { body })]);
    const c = await http(`${d.url}/v1/intents`, { body });
    expect(a.body.intent_id).toBe(b.body.intent_id);
    expect(c.body.intent_id).toBe(a.body.intent_id);
    expect(c.body.attestation).toBe(a.body.attestation);
    expect(counts(d)).toEqual({ intents: before.intents + 1, audit: before.audit + 1 });
    const conflict = await http(`${d.url}/v1/intents`, { body: { ...body, params: { n: 2 } } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toBe("idempotency_conflict");
    // the same key for another agent is another record
    const other = await http(`${d.url}/v1/intents`, { body: { ...body, agent: "bot2" } });
    expect(other.body.intent_id).not.toBe(a.body.intent_id);
  });

  it("a block that throws → DENIED naming the failure, never APPROVED", async () => {
    const r = await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "boom.now", params: {} } });
    expect(r.status).toBe(200);
    expect(r.body.decision).toBe("DENIED");
    expect(r.body.attestation).toBeUndefined();
    expect(r.body.reasons[0]).toMatchObject({ block: "sidecar", rule: "internal_error" });
  });

  it("no valid policy loaded → 503, nothing recorded", async () => {
    const before = counts(d);
    policy.set(undefined);
    try {
      const r = await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "report.send", params: {} } });
      expect(r.status).toBe(503);
      expect(r.body.error).toBe("policy_unavailable");
      expect((await http(`${d.url}/healthz`)).status).toBe(503);
    } finally {
      policy.set({ digest: "sha256:" + "cd".repeat(32), config: {} });
    }
    expect(counts(d)).toEqual(before);
  });

  it("a hold answers 202 PENDING; GET shows it; a long poll returns the attestation once it is approved", async () => {
    const r = await http(`${d.url}/v1/intents`, {
      body: { agent: "bot", action: "payout.big", params: { amount: "9" } },
    });
    expect(r.status).toBe(202);
    expect(r.body.decision).toBe("PENDING");
    expect(r.body.hold).toMatchObject({ approvals: 0 });
    const id = r.body.intent_id;
    const g = await http(`${d.url}/v1/intents/${id}`);
    expect(g.status).toBe(202);
    expect(g.body.decision).toBe("PENDING");
    const poll = http(`${d.url}/v1/intents/${id}?wait=20`);
    await new Promise((res) => setTimeout(res, 200));
    d.pipeline.approveHeld(id, {
      hold_id: r.body.hold.id,
      approvers: ["alice"],
      approved_at: new Date().toISOString(),
    });
    const done = await poll;
    expect(done.status).toBe(200);
    expect(done.body.decision).toBe("APPROVED");
    expect(done.body.attestation).toBeTruthy();
    const claims = JSON.parse(Buffer.from(done.body.attestation.split(".")[1], "base64url").toString());
    expect(claims.approval.approvers).toEqual(["alice"]);
  });
});

describe("fail closed when recording fails", () => {
  it("a soft-limit hook that throws → DENIED without an attestation", async () => {
    const d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      limits: {
        checkAndReserve() {
          throw new Error("ledger broken");
        },
      },
    });
    try {
      const r = await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "report.send", params: {} } });
      expect(r.body.decision).toBe("DENIED");
      expect(r.body.attestation).toBeUndefined();
    } finally {
      await d.close();
      removeDir(d.dataDir);
    }
  });

  it("in a group commit, the decision whose recording fails is denied alone; the others are approved and recorded", async () => {
    const d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      limits: {
        checkAndReserve(req: { intent: { params: Record<string, unknown> } }) {
          if (req.intent.params.poison) throw new Error("ledger broken");
          return [];
        },
      } as never,
    });
    try {
      // Fired together, these reach the recording stage in the same turn and share one SQLite transaction.
      const rs = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          http(`${d.url}/v1/intents`, {
            body: { agent: "bot", action: "report.send", params: i === 5 ? { poison: true } : { n: i } },
          }),
        ),
      );
      rs.forEach((r, i) => expect(r.body.decision).toBe(i === 5 ? "DENIED" : "APPROVED"));
      for (const r of rs) {
        const back = await http(`${d.url}/v1/intents/${r.body.intent_id}`);
        expect(back.status).toBe(200);
        expect(back.body.decision).toBe(r.body.decision);
      }
    } finally {
      await d.close();
      removeDir(d.dataDir);
    }
  });
});
