import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { fakePolicy } from "./fake-policy.ts";
import { http, removeDir, startTestDaemon } from "./helpers.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  d = await startTestDaemon({ policy: fakePolicy({ allow: ["report.send"] }) });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

describe("smoke", () => {
  it("approves and signs", async () => {
    const r = await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "report.send", params: {} } });
    expect(r.status).toBe(200);
    expect(r.body.decision).toBe("APPROVED");
    const { payload, protectedHeader } = await jwtVerify(
      r.body.attestation,
      createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`)),
    );
    expect(payload.sub).toBe("bot");
    expect(protectedHeader.alg).toBe("Ed25519");
  });
});
