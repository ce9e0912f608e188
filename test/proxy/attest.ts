// Test signer: attestations as the sidecar issues them (SPEC section 4) for http.request intents, from a throwaway
// Ed25519 key, plus the key source the proxy verifies against.
import { generateKeyPairSync, sign, randomUUID } from "node:crypto";
import { ATTESTATION_TYP, AUDIENCE_PROXY, DEFAULT_ISSUER, intentClaim, type Intent } from "../../protocol/index.ts";
import { pinnedKeys } from "../../executor-gate/jwks.ts";
import type { KeySource } from "../../executor-gate/jwks.ts";

export interface TestSigner {
  keys: KeySource;
  /** An attestation for an http.request intent, as the sidecar would sign it. */
  attest(
    params: { method: string; url: string; body?: unknown; headers?: Record<string, string> },
    opts?: { aud?: string; ttl?: number; agent?: string },
  ): string;
}

export function testSigner(): TestSigner {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string };
  const kid = "test-" + randomUUID().slice(0, 8);
  const keys = pinnedKeys([{ ...jwk, kid, use: "sig", alg: "Ed25519" }]);
  return {
    keys,
    attest(params, opts = {}) {
      const intent: Intent = {
        agent: opts.agent ?? "agent-1",
        action: "http.request",
        params: params as never,
        context: {},
      } as Intent;
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: DEFAULT_ISSUER,
        sub: intent.agent,
        aud: opts.aud ?? AUDIENCE_PROXY,
        iat: now,
        nbf: now,
        exp: now + (opts.ttl ?? 300),
        jti: randomUUID(),
        intent: intentClaim(intent),
        policy: { digest: "sha256:" + "0".repeat(64) },
      };
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const input = `${b64({ alg: "Ed25519", typ: ATTESTATION_TYP, kid })}.${b64(claims)}`;
      return `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
    },
  };
}
