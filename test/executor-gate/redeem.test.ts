// Remote redemption and execution receipts through a real sidecar: executors on several hosts share single use via
// POST /v1/attestations/{jti}/redeem, and report what ran via POST /v1/intents/{id}/receipt (audited).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGate, GateError, remoteRedemption, sendReceipt } from "../../executor-gate/index.ts";
import { evmIntent, mutate, toolIntent } from "./intents.ts";
import { SIDECAR_START_MS, startSidecar, TOKENS, type TestSidecar } from "./sidecar.ts";

let sc: TestSidecar;
let other: TestSidecar;
beforeAll(async () => {
  [sc, other] = await Promise.all([startSidecar(), startSidecar({ sidecarId: "other-sidecar" })]);
}, SIDECAR_START_MS);
afterAll(async () => {
  await Promise.all([sc?.close(), other?.close()]);
});

const evm = evmIntent();
const executor = () => ({ url: sc.url, token: TOKENS.executor });

async function post(path: string, body: unknown, token: string | null = TOKENS.executor, attestation?: string) {
  const res = await fetch(`${sc.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(attestation ? { "x-intent-attestation": attestation } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe("POST /v1/attestations/{jti}/redeem", () => {
  it("marks an attestation used once: the first caller is told it was first, later callers are not", async () => {
    const { token, intentId } = await sc.attest(evm);
    const first = await post(`/v1/attestations/${intentId}/redeem`, { attestation: token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ jti: intentId, redeemed: true, first: true });
    const again = await post(`/v1/attestations/${intentId}/redeem`, { attestation: token });
    expect(again.body).toMatchObject({
      jti: intentId,
      redeemed: true,
      first: false,
      redeemed_at: first.body.redeemed_at,
    });
    const audit = await sc.audit();
    expect(audit.filter((r) => r.data.intent_id === intentId).map((r) => r.type)).toEqual(
      expect.arrayContaining(["attestation.redeemed", "attestation.replay_refused"]),
    );
    expect(JSON.stringify(audit)).not.toContain(token); // attestations are never stored
  });

  it.each([
    {
      name: "no agent-listener token",
      status: 401,
      error: "unauthorized",
      make: async () => ({ jti: "x", body: {}, auth: null }),
    },
    { name: "no attestation in the body", status: 403, error: "missing", make: async () => ({ jti: "x", body: {} }) },
    {
      name: "a body that is not JSON",
      status: 400,
      error: "invalid_json",
      make: async () => ({ jti: "x", body: "{nope" }),
    },
    {
      name: "an oversized body",
      status: 413,
      error: "body_too_large",
      make: async () => ({ jti: "x", body: { attestation: "a".repeat(70_000) } }),
    },
    {
      name: "the attestation of another intent",
      status: 403,
      error: "malformed",
      make: async () => {
        const a = await sc.attest(evm);
        const b = await sc.attest(evm);
        return { jti: a.intentId, body: { attestation: b.token }, honest: a };
      },
    },
    {
      name: "an attestation from another sidecar",
      status: 403,
      error: "unknown_key",
      make: async () => {
        const a = await other.attest(evm);
        return { jti: a.intentId, body: { attestation: a.token } };
      },
    },
    {
      name: "a forged signature",
      status: 403,
      error: "bad_signature",
      make: async () => {
        const a = await sc.attest(evm);
        const [h, p] = a.token.split(".");
        return {
          jti: a.intentId,
          body: { attestation: `${h}.${p}.${Buffer.alloc(64).toString("base64url")}` },
          honest: a,
        };
      },
    },
  ])("refuses $name ($status $error) and marks nothing", async (row) => {
    const r = await row.make();
    const res = await post(
      `/v1/attestations/${r.jti}/redeem`,
      r.body,
      "auth" in r ? (r.auth as null) : TOKENS.executor,
    );
    expect(res.status).toBe(row.status);
    expect(res.body.error).toBe(row.error);
    // the refused attempt burned nothing: the real holder is still first
    const honest = (r as { honest?: { intentId: string; token: string } }).honest;
    if (honest) {
      const ok = await post(`/v1/attestations/${honest.intentId}/redeem`, { attestation: honest.token });
      expect(ok.body).toMatchObject({ jti: honest.intentId, first: true });
    }
  });

  it("two gates on different hosts racing to redeem the same jti: exactly one runs", async () => {
    const { token } = await sc.attest(evm);
    const gates = [0, 1, 2].map(() => createGate({ jwks: sc.jwksUrl, replay: remoteRedemption(executor()) }));
    const ran: number[] = [];
    const results = await Promise.allSettled(gates.map((g, i) => g.run(token, evm, () => ran.push(i))));
    expect(ran).toHaveLength(1);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(refused.map((r) => (r.reason as GateError).code)).toEqual(["replayed", "replayed"]);
  });

  it("a gate restarted with a fresh remote store still refuses a redeemed attestation", async () => {
    const { token } = await sc.attest(evm);
    await createGate({ jwks: sc.jwksUrl, replay: remoteRedemption(executor()) }).run(token, evm, () => undefined);
    const restarted = createGate({ jwks: sc.jwksUrl, replay: remoteRedemption(executor()) });
    await expect(restarted.run(token, evm, () => undefined)).rejects.toMatchObject({ code: "replayed" });
  });

  it("fails closed when the sidecar cannot be reached: nothing runs", async () => {
    const { token } = await sc.attest(evm);
    const gate = createGate({
      jwks: await sc.jwks(),
      replay: remoteRedemption({ url: "http://127.0.0.1:9", timeoutMs: 2000 }),
    });
    let ran = false;
    await expect(gate.run(token, evm, () => (ran = true))).rejects.toThrow(/could not redeem/);
    expect(ran).toBe(false);
  });

  it("a mutated intent is refused before anything is redeemed", async () => {
    const { token } = await sc.attest(evm);
    const gate = createGate({ jwks: sc.jwksUrl, replay: remoteRedemption(executor()) });
    await expect(gate.run(token, mutate(evm, { value: "1000000000000001" }), () => undefined)).rejects.toMatchObject({
      code: "digest_mismatch",
    });
    // the honest executor can still run it
    expect(await gate.run(token, evm, () => "ran")).toBe("ran");
  });
});

describe("POST /v1/intents/{id}/receipt", () => {
  it("records what actually ran, once, in the audit", async () => {
    const { token, intentId } = await sc.attest(evm);
    const gate = createGate({ jwks: sc.jwksUrl, replay: remoteRedemption(executor()) });
    const txHash = "0x" + "ab".repeat(32);
    await gate.run(token, evm, async () => sendReceipt(executor(), token, { outcome: "succeeded", tx_hash: txHash }));
    const again = await post(`/v1/intents/${intentId}/receipt`, { outcome: "failed", error: "nonce too low" }, TOKENS.executor, token);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("receipt_exists");
    const rows = (await sc.audit()).filter((r) => r.type === "execution.receipt" && r.data.intent_id === intentId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data).toMatchObject({ outcome: "succeeded", tx_hash: txHash, by: "executor" });
  });

  it("records a failure with its error", async () => {
    const { token, intentId } = await sc.attest(toolIntent());
    const res = await post(`/v1/intents/${intentId}/receipt`, { outcome: "failed", error: "slack answered 500" }, TOKENS.executor, token);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ intent_id: intentId, recorded: true, outcome: "failed" });
  });

  it.each([
    { name: "an unknown outcome", body: { outcome: "maybe" }, status: 400, error: "invalid_receipt", path: "outcome" },
    {
      name: "a malformed tx hash",
      body: { outcome: "succeeded", tx_hash: "0x12" },
      status: 400,
      error: "invalid_receipt",
      path: "tx_hash",
    },
    {
      name: "an unknown field",
      body: { outcome: "succeeded", attestation: "x" },
      status: 400,
      error: "invalid_receipt",
      path: "(body)",
    },
  ])("refuses $name with the path that is wrong", async (row) => {
    const { token, intentId } = await sc.attest(evm);
    const res = await post(`/v1/intents/${intentId}/receipt`, row.body, TOKENS.executor, token);
    expect(res.status).toBe(row.status);
    expect(res.body.error).toBe(row.error);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(row.path);
  });

  it("refuses receipts for unknown and for denied intents", async () => {
    // Without the intent's attestation the receipt is refused before anything about the intent is read.
    expect((await post("/v1/intents/no-such-intent/receipt", { outcome: "succeeded" })).status).toBe(403);
    const denied = await fetch(`${sc.url}/v1/intents`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKENS["treasury-bot"]}` },
      body: JSON.stringify(mutate(evm, { chain_id: 1 })),
    }).then((r) => r.json() as Promise<{ decision: string; intent_id: string }>);
    expect(denied.decision).toBe("DENIED");
    // A denied intent has no attestation, so no receipt can be bound to it; another intent's attestation is refused.
    const res = await post(`/v1/intents/${denied.intent_id}/receipt`, { outcome: "succeeded" });
    expect(res.status).not.toBe(201);
    const { token } = await sc.attest(evm);
    const wrong = await post(`/v1/intents/${denied.intent_id}/receipt`, { outcome: "succeeded" }, TOKENS.executor, token);
    expect(wrong.status).not.toBe(201);
  });
  it("refuses a receipt from an agent token, even with the attestation", async () => {
    const { token, intentId } = await sc.attest(evm);
    const res = await post(`/v1/intents/${intentId}/receipt`, { outcome: "succeeded" }, TOKENS["ops-bot"], token);
    expect([401, 403]).toContain(res.status);
    const ok = await post(`/v1/intents/${intentId}/receipt`, { outcome: "succeeded" }, TOKENS.executor, token);
    expect(ok.status).toBe(201);
  });
});
