// An APPROVED attestation verifies with plain jose against the JWKS endpoint, is bound to the intent's JCS digest,
// and fails verification after any one-byte change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { canonicalize } from "../../protocol/jcs.ts";
import { http, removeDir, startTestDaemon } from "./helpers.ts";
import { USDC, VENDOR_A, usdc, usdcTransfer } from "./intents.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let jwks: ReturnType<typeof createRemoteJWKSet>;
const intent = usdcTransfer(VENDOR_A, usdc(500n));
let token: string;

beforeAll(async () => {
  d = await startTestDaemon({ config: { issuer: "sidecar-test-1" } });
  jwks = createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`));
  const r = await http(`${d.url}/v1/intents`, { body: intent });
  expect(r.body.decision).toBe("APPROVED");
  token = r.body.attestation;
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

describe("attestations", () => {
  it("verify with jose.jwtVerify against /.well-known/jwks.json; header and claims per SPEC section 4", async () => {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: "sidecar-test-1",
      audience: "intent-executor",
      typ: "intent-attestation+jwt",
    });
    expect(protectedHeader.alg).toBe("Ed25519");
    const set = (await http(`${d.url}/.well-known/jwks.json`)).body;
    const jwk = set.keys.find((k: { kid: string }) => k.kid === protectedHeader.kid);
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", use: "sig", alg: "Ed25519" });
    expect(await calculateJwkThumbprint(jwk)).toBe(protectedHeader.kid);
    expect(payload.sub).toBe("treasury-bot");
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.jti).toMatch(/[0-9a-f-]{36}/);
    expect((payload.policy as { digest: string }).digest).toBe(d.policy.provider.current()!.digest);
    expect(payload.intent).toMatchObject({
      action: "evm.transaction",
      evm: { chain_id: 8453, to: USDC.toLowerCase(), value: "0", selector: "0xa9059cbb" },
    });
  });

  it("intent.digest is SHA-256 over the JCS form of {agent, action, params, context}", async () => {
    const { payload } = await jwtVerify(token, jwks);
    const jcs = canonicalize({
      agent: intent.agent,
      action: intent.action,
      params: intent.params,
      context: intent.context,
    });
    // independent check of the canonical form: sorted keys, no whitespace
    expect(
      jcs.startsWith(
        '{"action":"evm.transaction","agent":"treasury-bot","context":{"tenant":"acme"},"params":{"chain_id":8453,',
      ),
    ).toBe(true);
    expect((payload.intent as { digest: string }).digest).toBe(
      "sha256:" + createHash("sha256").update(jcs).digest("hex"),
    );
  });

  it("one changed byte in the header, payload or signature fails verification", async () => {
    const [h, p, s] = token.split(".") as [string, string, string];
    const flip = (seg: string, i: number) => {
      const b = Buffer.from(seg, "base64url");
      b[i] = b[i]! ^ 0x01;
      return b.toString("base64url");
    };
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    const edited = Buffer.from(JSON.stringify({ ...payload, sub: "treasury-bou" })).toString("base64url");
    for (const bad of [
      `${h}.${flip(p, 40)}.${s}`,
      `${h}.${p}.${flip(s, 10)}`,
      `${h}.${edited}.${s}`,
      `${flip(h, 30)}.${p}.${s}`,
    ]) {
      await expect(jwtVerify(bad, jwks)).rejects.toThrow();
    }
  });

  it("GET /v1/intents/{id} reproduces the same token (claims are stored, tokens are re-signed deterministically)", async () => {
    const { payload } = await jwtVerify(token, jwks);
    const g = await http(`${d.url}/v1/intents/${payload.jti}`);
    expect(g.body.attestation).toBe(token);
    // the database never holds the token
    const rows = d.db.prepare("SELECT * FROM intents").all();
    expect(JSON.stringify(rows)).not.toContain(token.split(".")[2]);
    expect(decodeProtectedHeader(g.body.attestation).kid).toBe(d.keys.current.kid);
  });
});
