// The executor role, through the real agent listener: executor tokens redeem attestations and post receipts, bound
// to the attestation they present; agent tokens cannot post receipts (nor redeem once executor tokens exist), an
// agent reads only its own intents, and an executor token neither declares nor reads intents.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, removeDir, startTestDaemon } from "./helpers.ts";
import { stubPolicy } from "../holds/policy-stub.ts";
import { ConfigError, loadConfig } from "../../sidecar/config.ts";
import { auditRows } from "../../sidecar/store/index.ts";

const AGENTS = { "alice-bot": "tok-alice", "mallory-bot": "tok-mallory" };
const EXECUTORS = { "payments-executor": "tok-exec" };

type D = Awaited<ReturnType<typeof startTestDaemon>>;

const disburse = (agent: string, n: number) => ({
  agent,
  action: "treasury.disburse",
  params: { ticket: `T-${n}` },
  context: {},
});

async function approved(d: D, agent: keyof typeof AGENTS, n: number) {
  const res = await http(`${d.url}/v1/intents`, { body: disburse(agent, n), token: AGENTS[agent] });
  expect(res.body.decision).toBe("APPROVED");
  return { id: res.body.intent_id as string, attestation: res.body.attestation as string };
}

function receipt(
  d: D,
  id: string,
  token: string | undefined,
  attestation?: string,
  body: unknown = { outcome: "succeeded" },
) {
  return http(`${d.url}/v1/intents/${id}/receipt`, {
    body,
    ...(token ? { token } : {}),
    ...(attestation ? { headers: { "x-intent-attestation": attestation } } : {}),
  });
}

function redeem(d: D, id: string, token: string, attestation: string) {
  return http(`${d.url}/v1/attestations/${id}/redeem`, { body: { attestation }, token });
}

describe("with executor tokens configured", () => {
  let d: D;
  beforeAll(async () => {
    d = await startTestDaemon({
      policy: stubPolicy({ allow: ["treasury.disburse"] }),
      config: { agentTokens: AGENTS, executorTokens: EXECUTORS },
    });
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("another agent cannot post a receipt for an intent, nor learn its decision that way; the genuine receipt is recorded", async () => {
    const { id, attestation } = await approved(d, "alice-bot", 1);
    // mallory, an agent, without and even with the attestation: refused, and the answer says nothing of the intent
    for (const att of [undefined, attestation]) {
      const r = await receipt(d, id, AGENTS["mallory-bot"], att);
      expect(r.status).toBe(403);
      expect(JSON.stringify(r.body)).not.toMatch(/APPROVED|DENIED|not_approved|receipt_exists/);
    }
    // the owner agent cannot write its own receipt either: receipts are the executor's word
    expect((await receipt(d, id, AGENTS["alice-bot"], attestation)).status).toBe(403);
    // an executor without the attestation, or with another intent's: refused before anything about the intent
    const missing = await receipt(d, id, EXECUTORS["payments-executor"]);
    expect(missing.status).toBe(403);
    expect(missing.body.error).toBe("missing");
    const other = await approved(d, "mallory-bot", 2);
    const wrong = await receipt(d, id, EXECUTORS["payments-executor"], other.attestation);
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toBe("malformed");
    expect((await receipt(d, "no-such-intent", EXECUTORS["payments-executor"])).status).toBe(403);

    const ok = await receipt(d, id, EXECUTORS["payments-executor"], attestation);
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ intent_id: id, recorded: true, outcome: "succeeded" });
    const rows = [...auditRows(d.db)].filter((r) => r.type === "execution.receipt" && r.data.intent_id === id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data.by).toBe("payments-executor");
  });

  it("redemption takes executor tokens only", async () => {
    const { id, attestation } = await approved(d, "alice-bot", 3);
    const byAgent = await redeem(d, id, AGENTS["mallory-bot"], attestation);
    expect(byAgent.status).toBe(403);
    expect(byAgent.body.error).toBe("forbidden");
    const first = await redeem(d, id, EXECUTORS["payments-executor"], attestation);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ jti: id, first: true });
  });

  it("agents read only their own intents; executor tokens neither declare nor read intents", async () => {
    const { id } = await approved(d, "alice-bot", 4);
    expect((await http(`${d.url}/v1/intents/${id}`, { token: AGENTS["alice-bot"] })).status).toBe(200);
    const theirs = await http(`${d.url}/v1/intents/${id}`, { token: AGENTS["mallory-bot"] });
    expect(theirs.status).toBe(404);
    expect(JSON.stringify(theirs.body)).not.toContain("APPROVED");
    const readByExecutor = await http(`${d.url}/v1/intents/${id}`, { token: EXECUTORS["payments-executor"] });
    expect(readByExecutor.status).toBe(403);
    const declaredByExecutor = await http(`${d.url}/v1/intents`, {
      body: disburse("payments-executor", 5),
      token: EXECUTORS["payments-executor"],
    });
    expect(declaredByExecutor.status).toBe(403);
    expect(declaredByExecutor.body.error).toBe("forbidden");
  });
});

describe("without executor tokens (before the executor role)", () => {
  let d: D;
  beforeAll(async () => {
    d = await startTestDaemon({
      policy: stubPolicy({ allow: ["treasury.disburse"] }),
      config: { agentTokens: AGENTS },
    });
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("redemption still takes agent tokens (bound to the attestation); receipts do not", async () => {
    const { id, attestation } = await approved(d, "alice-bot", 6);
    expect((await receipt(d, id, AGENTS["mallory-bot"])).status).toBe(403);
    expect((await receipt(d, id, AGENTS["alice-bot"], attestation)).status).toBe(403);
    const r = await redeem(d, id, AGENTS["mallory-bot"], attestation);
    expect(r.status).toBe(200);
    expect(r.body.first).toBe(true);
  });
});

describe("executor token configuration", () => {
  it("reads INTENT_SIDECAR_EXECUTOR_TOKENS and executor_tokens; a token shared with an agent or operator is refused", () => {
    const cfg = loadConfig({}, { INTENT_SIDECAR_EXECUTOR_TOKENS: "gate-a=tok-a,gate-b=tok-b" });
    expect(cfg.executorTokens).toEqual({ "gate-a": "tok-a", "gate-b": "tok-b" });
    expect(() =>
      loadConfig({}, { INTENT_SIDECAR_EXECUTOR_TOKENS: "gate=same", INTENT_SIDECAR_AGENT_TOKENS: "bot=same" }),
    ).toThrow(ConfigError);
  });
});
