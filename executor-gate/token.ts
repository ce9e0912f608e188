// Verifying the attestation token itself (SPEC section 4): header checks BEFORE any signature work, Ed25519
// signature by kid, claim shapes, time window, issuer and audience. Binding to an intent lives in binding.ts.
import { verify as cryptoVerify, type KeyObject } from "node:crypto";
import { ATTESTATION_ALGS, ATTESTATION_TYP, type AttestationClaims } from "@intent-sidecar/protocol/attestation";
import { GateError } from "./errors.ts";
import type { KeySource } from "./jwks.ts";

/** Largest skew the gate ever allows between its clock and the sidecar's (SPEC: at most 30 s). */
export const MAX_CLOCK_TOLERANCE_SECONDS = 30;

export interface TokenCheck {
  issuer: string;
  /** The audience this verifier is; `null` skips the check (the sidecar's own redemption endpoint). */
  audience: string | null;
  clockToleranceSeconds: number;
  /** Current time in milliseconds since the epoch. */
  now: () => number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

interface Parsed {
  header: Record<string, unknown>;
  signingInput: string;
  payloadB64: string;
  signature: Buffer;
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new GateError("malformed", `attestation ${what} is not base64url-encoded JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new GateError("malformed", `attestation ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

// Headers repeat (one per signing key), so a checked header is remembered by its encoded form. Bounded, and only
// headers that passed every check are kept.
const checkedHeaders = new Map<string, Record<string, unknown>>();

/** Splits a compact JWS and checks its header. Refuses every algorithm but Ed25519/EdDSA before touching a key,
 * so `none`, HS256-with-the-public-key and RSA tokens never reach a verifier. */
export function parseCompact(token: unknown): Parsed {
  if (token === undefined || token === null || token === "") {
    throw new GateError("missing", "no attestation was presented");
  }
  if (typeof token !== "string") throw new GateError("malformed", "attestation must be a compact JWS string");
  const parts = token.trim().split(".");
  if (parts.length !== 3) {
    throw new GateError(
      "malformed",
      `attestation must be a compact JWS with 3 dot-separated parts, got ${parts.length}`,
    );
  }
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s) || h === "" || p === "") {
    throw new GateError("malformed", "attestation parts must be non-empty base64url");
  }
  const signature = Buffer.from(s, "base64url");
  const cached = checkedHeaders.get(h);
  if (cached) {
    if (signature.length !== 64) {
      throw new GateError(
        "bad_signature",
        `attestation signature is ${signature.length} bytes; Ed25519 signatures are 64`,
      );
    }
    return { header: cached, signingInput: `${h}.${p}`, payloadB64: p, signature };
  }
  const header = decodeJson(h, "header");
  const alg = header.alg;
  if (typeof alg !== "string" || !(ATTESTATION_ALGS as readonly string[]).includes(alg)) {
    throw new GateError(
      "bad_signature",
      `attestation algorithm ${JSON.stringify(alg ?? null)} is refused; only ${ATTESTATION_ALGS.join(" or ")} is accepted`,
    );
  }
  if (header.typ !== ATTESTATION_TYP) {
    throw new GateError(
      "malformed",
      `attestation typ is ${JSON.stringify(header.typ ?? null)}, expected "${ATTESTATION_TYP}"`,
    );
  }
  if (header.crit !== undefined || header.b64 !== undefined) {
    throw new GateError("malformed", "attestation header carries crit/b64 extensions, which the gate does not support");
  }
  if (typeof header.kid !== "string" || header.kid === "") {
    throw new GateError("malformed", "attestation header has no kid");
  }
  if (signature.length !== 64) {
    throw new GateError(
      "bad_signature",
      `attestation signature is ${signature.length} bytes; Ed25519 signatures are 64`,
    );
  }
  if (checkedHeaders.size >= 64) checkedHeaders.clear();
  checkedHeaders.set(h, header);
  return { header, signingInput: `${h}.${p}`, payloadB64: p, signature };
}

function claimShapeError(what: string): GateError {
  return new GateError("malformed", `attestation claims: ${what}`);
}

function checkShape(c: Record<string, unknown>): AttestationClaims {
  for (const k of ["iss", "sub", "jti"])
    if (typeof c[k] !== "string" || c[k] === "") throw claimShapeError(`${k} must be a non-empty string`);
  for (const k of ["exp", "nbf", "iat"])
    if (typeof c[k] !== "number" || !Number.isFinite(c[k])) throw claimShapeError(`${k} must be a number`);
  const aud = c.aud;
  if (typeof aud !== "string" && !(Array.isArray(aud) && aud.every((a) => typeof a === "string"))) {
    throw claimShapeError("aud must be a string");
  }
  const intent = c.intent as Record<string, unknown> | undefined;
  if (!intent || typeof intent !== "object" || typeof intent.action !== "string" || typeof intent.digest !== "string") {
    throw claimShapeError("intent must be {action, digest, ...}");
  }
  return c as unknown as AttestationClaims;
}

/** Verifies signature, shape, time window, issuer and audience. Returns the claims; throws `GateError`. */
export async function verifyToken(token: unknown, keys: KeySource, check: TokenCheck): Promise<AttestationClaims> {
  const parsed = parseCompact(token);
  const kid = parsed.header.kid as string;
  const found = keys.keyFor(kid);
  const key: KeyObject = found instanceof Promise ? await found : found;
  let ok = false;
  try {
    ok = cryptoVerify(null, Buffer.from(parsed.signingInput), key, parsed.signature);
  } catch (e) {
    throw new GateError("bad_signature", "attestation signature could not be verified", { cause: e });
  }
  if (!ok) throw new GateError("bad_signature", `attestation signature does not verify with key "${kid}"`);
  return checkClaims(decodeJson(parsed.payloadB64, "payload"), check);
}

/** Checks the claims of a token whose signature already verified. */
export function checkClaims(payload: Record<string, unknown>, check: TokenCheck): AttestationClaims {
  const claims = checkShape(payload);
  const jti = claims.jti;
  const now = check.now() / 1000;
  const tol = check.clockToleranceSeconds;
  if (now > claims.exp + tol) {
    throw new GateError(
      "expired",
      `attestation expired ${Math.floor(now - claims.exp)} s ago (clock tolerance ${tol} s)`,
      { jti },
    );
  }
  if (now + tol < claims.nbf) {
    throw new GateError(
      "not_yet_valid",
      `attestation is not valid for another ${Math.ceil(claims.nbf - now)} s (clock tolerance ${tol} s)`,
      { jti },
    );
  }
  if (claims.iss !== check.issuer) {
    throw new GateError("wrong_issuer", `attestation was issued by "${claims.iss}", expected "${check.issuer}"`, {
      jti,
    });
  }
  if (check.audience !== null) {
    const auds = Array.isArray(claims.aud) ? (claims.aud as string[]) : [claims.aud];
    if (!auds.includes(check.audience)) {
      throw new GateError(
        "wrong_audience",
        `attestation is for audience "${auds.join(", ")}", this gate is "${check.audience}"`,
        { jti },
      );
    }
  }
  return claims;
}
