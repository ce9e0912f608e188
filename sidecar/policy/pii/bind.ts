// What the pipeline does with the pii block's rewrite (a BlockVerdict's `rewrite`): which intent the decision binds
// and which copy may be stored. Pure.
// - bound: APPROVED or PENDING → the params with the `redact` findings replaced: the attestation's digest is that
//   intent's, and the response carries them as `redacted.params` (the agent executes that form). DENIED → the intent
//   as declared (nothing is attested).
// - stored: every finding the policy did not allow replaced by its marker (`deny`/`hold` findings too), then the
//   usual secrets-at-rest redaction (sidecar/store/redact.ts). The redaction envelope carries the BOUND digest, so an
//   attestation built later from the stored copy (hold approval: storedIntentClaim) binds the redacted form, and
//   `pii.executable` says whether the stored params are exactly the bound ones (then GET and idempotent replays can
//   return them as `redacted.params` too).
import { httpBodyDigest, intentDigest, type Intent } from "../../../protocol/index.ts";
import { redactForStorage, STORED_COPY } from "../../store/redact.ts";
import type { BlockVerdict, Effect } from "../verdict.ts";

export type StoredIntent = ReturnType<typeof redactForStorage> & { redacted?: { pii?: PiiEnvelope } };

export interface PiiEnvelope {
  /** Paths with PII replaced in the stored copy. */
  fields: string[];
  /** The stored params are the bound params (replays may hand them out as `redacted.params`). */
  executable: boolean;
}

export interface Bound {
  /** The intent to record: the bound params, carrying the stored copy and the bound digest (symbol keys). */
  intent: Intent;
  digest: string;
  /** The stored copy (for the intent row and the hold). */
  stored: StoredIntent;
  /** The params the agent must execute, when they differ from what it declared. */
  redacted?: Record<string, unknown>;
}

/** The bound intent and stored copy when a verdict carries a rewrite; undefined otherwise (nothing changes). */
export function bindRewrite(
  intent: Intent,
  digest: string,
  verdicts: readonly BlockVerdict[],
  effect: Effect,
): Bound | undefined {
  const rewrite = verdicts.find((v) => v.rewrite)?.rewrite;
  if (!rewrite) return undefined;
  const changed = effect !== "deny" && rewrite.params !== intent.params;
  const bound: Intent = { ...intent, params: changed ? rewrite.params : intent.params };
  const boundDigest = changed ? intentDigest(bound) : digest;
  const base = redactForStorage({ ...bound, params: rewrite.stored }, boundDigest);
  // an http.request body is stored as a digest: of the bound body (what a later attestation must bind)
  if (bound.action === "http.request" && bound.params.body !== undefined)
    base.params = { ...base.params, body: { redacted: httpBodyDigest(bound.params.body) } };
  const executable = JSON.stringify(base.params) === JSON.stringify(bound.params);
  const stored: StoredIntent = {
    ...base,
    redacted: {
      digest: boundDigest,
      fields: [...(base.redacted?.fields ?? []), ...rewrite.fields],
      pii: { fields: rewrite.fields, executable },
    },
  };
  // every store path (the intent row, the hold, the fleet store) stores this copy, and the record binds this digest
  Object.defineProperty(bound, STORED_COPY, { value: stored });
  Object.defineProperty(bound, BOUND_DIGEST, { value: boundDigest });
  return { intent: bound, digest: boundDigest, stored, ...(changed ? { redacted: rewrite.params } : {}) };
}

const BOUND_DIGEST = Symbol("intent-sidecar.bound-digest");

/** The digest a record of this intent binds: the bound intent's (bindRewrite), else `digest` (the declared one). */
export function boundDigestOf(intent: Intent, digest: string): string {
  return (intent as { [BOUND_DIGEST]?: string })[BOUND_DIGEST] ?? digest;
}

/** The params a stored intent lets the agent execute, when PII was redacted and they are exactly the bound ones. */
export function executableRedaction(stored: unknown): Record<string, unknown> | undefined {
  const s = stored as { params?: Record<string, unknown>; redacted?: { pii?: PiiEnvelope } } | undefined;
  return s?.redacted?.pii?.executable && s.params ? s.params : undefined;
}
