// The agent SDK against a real in-process sidecar over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteJWKSet, jwtVerify } from "jose";
import {
  AuthError,
  IdempotencyConflictError,
  InvalidIntentError,
  SidecarUnavailableError,
  WaitTimeoutError,
  createClient,
} from "../../sdk/index.ts";
import { removeDir, startTestDaemon } from "../sidecar/helpers.ts";
import { fakePolicy } from "../sidecar/fake-policy.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  d = await startTestDaemon({
    policy: fakePolicy({ allow: ["report.send"], hold: ["payout.big"] }),
    config: { agentTokens: { "treasury-bot": "tok-1" } },
  });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

describe("sdk createClient", () => {
  it("declare returns an APPROVED decision whose attestation verifies", async () => {
    const c = createClient({ baseUrl: d.url, token: "tok-1" });
    const r = await c.declare({ action: "report.send", params: { to: "board" } });
    expect(r.decision).toBe("APPROVED");
    if (r.decision !== "APPROVED") return;
    const { payload } = await jwtVerify(r.attestation, createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`)));
    expect(payload.sub).toBe("treasury-bot");
    expect((await c.jwks()).keys.length).toBe(1);
  });

  it("declare returns DENIED with reasons (not an exception)", async () => {
    const c = createClient({ baseUrl: d.url, token: "tok-1" });
    const r = await c.declare({ action: "shell.rm", params: {} });
    expect(r.decision).toBe("DENIED");
    expect(r.reasons.length).toBeGreaterThan(0);
  });

  it("typed errors: invalid intent with issues, bad token, idempotency conflict, unreachable sidecar", async () => {
    const c = createClient({ baseUrl: d.url, token: "tok-1" });
    const bad = await c
      .declare({ action: "evm.transaction", params: { chain_id: 1, to: "0x12", value: 5 } })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(InvalidIntentError);
    expect((bad as InvalidIntentError).issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(["params.to", "params.value"]),
    );
    const unauth = await createClient({ baseUrl: d.url, token: "nope" })
      .declare({ action: "report.send", params: {} })
      .catch((e) => e);
    expect(unauth).toBeInstanceOf(AuthError);
    expect(unauth.status).toBe(401);
    await c.declare({ action: "report.send", params: { n: 1 }, idempotency_key: "sdk-1" });
    await expect(
      c.declare({ action: "report.send", params: { n: 2 }, idempotency_key: "sdk-1" }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(
      createClient({ baseUrl: "http://127.0.0.1:1" }).declare({ action: "x", params: {} }),
    ).rejects.toBeInstanceOf(SidecarUnavailableError);
  });

  it("waitFor long-polls a PENDING intent until it is approved; times out with WaitTimeoutError", async () => {
    const c = createClient({ baseUrl: d.url, token: "tok-1" });
    const p = await c.declare({ action: "payout.big", params: { amount: "1" } });
    expect(p.decision).toBe("PENDING");
    await expect(c.waitFor(p.intent_id, { timeoutMs: 300 })).rejects.toBeInstanceOf(WaitTimeoutError);
    const waiting = c.waitFor(p.intent_id, { timeoutMs: 20_000 });
    setTimeout(() => {
      d.pipeline.approveHeld(p.intent_id, {
        hold_id: p.hold!.id,
        approvers: ["op"],
        approved_at: new Date().toISOString(),
      });
    }, 300);
    const done = await waiting;
    expect(done.decision).toBe("APPROVED");
    expect(done.attestation).toBeTruthy();
  });
});
