// Signs attestation claims as a compact JWS (SPEC section 4): header {alg:"Ed25519", typ, kid}.
// Signed with node:crypto directly (synchronous: usable inside a transaction, e.g. when a held intent is approved);
// the result is a standard JWS that `jose.jwtVerify` accepts. Ed25519 is deterministic: the same claims and key
// always give the same token, which is why the store keeps claims and never tokens.
import { sign } from "node:crypto";
import { ATTESTATION_TYP, type AttestationClaims } from "../../protocol/index.ts";
import type { SigningKey } from "./keys.ts";

const headerCache = new Map<string, string>();

function encodedHeader(kid: string): string {
  let h = headerCache.get(kid);
  if (!h) {
    h = Buffer.from(JSON.stringify({ alg: "Ed25519", typ: ATTESTATION_TYP, kid })).toString("base64url");
    headerCache.set(kid, h);
  }
  return h;
}

/** The JWS signing input: base64url(header) "." base64url(claims JSON). */
export function signingInput(key: SigningKey, claims: AttestationClaims): string {
  return encodedHeader(key.kid) + "." + Buffer.from(JSON.stringify(claims)).toString("base64url");
}

/** The compact JWS for a signing input made by signingInput(). */
export function signInput(key: SigningKey, input: string): string {
  return input + "." + sign(null, Buffer.from(input), key.privateKey).toString("base64url");
}

export function signClaims(key: SigningKey, claims: AttestationClaims): string {
  return signInput(key, signingInput(key, claims));
}
