// Test-only attestation minting with node:crypto Ed25519 and the protocol claims, used where a case needs a token
// the real sidecar would never issue (another key, alg none, HS256, shifted clocks). Also signs "real-shaped" tokens.
import { createHash, createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import {
  ATTESTATION_TYP,
  AUDIENCE_EXECUTOR,
  DEFAULT_ISSUER,
  intentClaim,
  type AttestationClaims,
  type Intent,
} from "../../protocol/index.ts";
import type { Jwk } from "../../executor-gate/index.ts";

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Jwk;
}

/** RFC 7638 thumbprint of an OKP key: SHA-256 over {"crv","kty","x"} in that order, base64url. */
export function thumbprint(jwk: { crv: string; x: string }): string {
  return createHash("sha256")
    .update(JSON.stringify({ crv: jwk.crv, kty: "OKP", x: jwk.x }))
    .digest("base64url");
}

export function newKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" }) as { crv: string; x: string };
  const kid = thumbprint(jwk);
  return { kid, privateKey, publicJwk: { kty: "OKP", crv: "Ed25519", x: jwk.x, kid, use: "sig", alg: "Ed25519" } };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

export function claimsFor(intent: Intent, over: Partial<AttestationClaims> = {}): AttestationClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: DEFAULT_ISSUER,
    sub: intent.agent,
    aud: AUDIENCE_EXECUTOR,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: "int_" + Math.random().toString(36).slice(2),
    intent: intentClaim(intent),
    policy: { digest: "sha256:" + "0".repeat(64) },
    ...over,
  };
}

export function signJws(key: TestKey, claims: unknown, header: Record<string, unknown> = {}): string {
  const h = b64({ alg: "Ed25519", typ: ATTESTATION_TYP, kid: key.kid, ...header });
  const p = b64(claims);
  return `${h}.${p}.${sign(null, Buffer.from(`${h}.${p}`), key.privateKey).toString("base64url")}`;
}

export function unsignedJws(key: TestKey, claims: unknown): string {
  return `${b64({ alg: "none", typ: ATTESTATION_TYP, kid: key.kid })}.${b64(claims)}.`;
}

/** The classic confusion attack: HS256 with the verifier's public key bytes as the HMAC secret. */
export function hs256WithPublicKey(key: TestKey, claims: unknown): string {
  const h = b64({ alg: "HS256", typ: ATTESTATION_TYP, kid: key.kid });
  const p = b64(claims);
  const secret = Buffer.from(key.publicJwk.x as string, "base64url");
  return `${h}.${p}.${createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url")}`;
}
