// Builds the claims of an attestation for an approved intent (SPEC section 4).
import {
  DEFAULT_ISSUER,
  DEFAULT_TTL_SECONDS,
  defaultAudience,
  intentClaim,
  type ApprovalClaim,
  type AttestationClaims,
  type Intent,
} from "../../protocol/index.ts";

export interface ClaimOptions {
  issuer?: string;
  ttlSeconds?: number;
  /** Audience by action kind; falls back to defaultAudience (proxy for http.request, executor otherwise). */
  audienceFor?: (action: string) => string;
  approval?: ApprovalClaim;
  /** The intent's digest when already computed (saves a second JCS pass on the hot path). */
  digest?: string;
}

export function buildClaims(
  intentId: string,
  intent: Intent,
  policyDigest: string,
  now: Date,
  opts: ClaimOptions = {},
): AttestationClaims {
  const iat = Math.floor(now.getTime() / 1000);
  const claims: AttestationClaims = {
    iss: opts.issuer ?? DEFAULT_ISSUER,
    sub: intent.agent,
    aud: (opts.audienceFor ?? defaultAudience)(intent.action),
    iat,
    nbf: iat,
    exp: iat + (opts.ttlSeconds ?? DEFAULT_TTL_SECONDS),
    jti: intentId,
    intent: intentClaim(intent, opts.digest),
    policy: { digest: policyDigest },
  };
  if (opts.approval) claims.approval = opts.approval;
  return claims;
}
