// No secrets at rest (SPEC section 10): the stored copy of an intent (intents.intent_json, holds.intent_json, and
// everything read from them: the operator API, the console, webhooks) never carries secret material. For
// `http.request` intents every sensitive header value (Authorization, Cookie, Proxy-Authorization, API keys,
// `*-token`, `*-secret`, `*-key`, …, and any value that looks like a credential) is replaced by
// `{"redacted":"sha256:<hex>"}`, and the body by `{"redacted":"<httpBodyDigest>"}`. The stored copy then carries a
// `redacted` envelope: the digest of the REAL intent and the list of redacted fields, so attestations built later
// (after a hold is approved) still bind the real request: `storedIntentClaim` takes the digest and the body digest
// from the envelope, never from the redacted params.
import { httpBodyDigest, intentClaim, sha256Digest, type Intent, type IntentClaim } from "../../protocol/index.ts";

/** What a stored intent says about its redaction (absent: nothing was redacted). */
export interface Redaction {
  /** The intent digest computed over the real (unredacted) intent. */
  digest: string;
  /** Redacted fields, as paths: `params.body`, `params.headers.<name as declared>`. */
  fields: string[];
}

export interface RedactedValue {
  redacted: string;
}

/** Header names whose values are secrets (lower-case, exact). */
const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "apikey",
  "x-apikey",
  "x-auth",
  "x-csrf-token",
  "x-xsrf-token",
  "x-amz-security-token",
  "x-goog-api-key",
  "ocp-apim-subscription-key",
]);

/** Name patterns of secret headers: `*-token`, `*-secret`, `*-key`, `*-password`, `*-auth`, `*-credential(s)`,
 * `*-session`, `*-signature`, and anything mentioning an api key or access token. */
const SECRET_NAME =
  /(^|[-_.])(token|secret|key|password|passwd|pass|auth|credentials?|session|signature|sig)$|api[-_]?key|access[-_]?token|private/i;

/** Values that are credentials whatever their header's name. */
const SECRET_VALUE = /^\s*(bearer|basic|digest|token|negotiate|hoba|mutual|aws4-hmac-sha256)\s+\S/i;

export function isSecretHeader(name: string, value: unknown): boolean {
  const n = name.toLowerCase();
  return SECRET_HEADERS.has(n) || SECRET_NAME.test(n) || (typeof value === "string" && SECRET_VALUE.test(value));
}

function marker(digest: string): RedactedValue {
  return { redacted: digest };
}

/**
 * The copy of an intent that may be stored: `{agent, action, params, context}` with secrets replaced (see the top
 * of this file) and, when anything was replaced, `redacted: {digest, fields}`. `digest` is the real intent's digest
 * (the pipeline has it already). Intents other than `http.request` are stored as they are.
 */
export function redactForStorage(
  intent: Pick<Intent, "agent" | "action" | "params"> & { context?: Record<string, unknown> },
  digest: string,
): {
  agent: string;
  action: string;
  params: Record<string, unknown>;
  context: Record<string, unknown>;
  redacted?: Redaction;
} {
  const base = { agent: intent.agent, action: intent.action, params: intent.params, context: intent.context ?? {} };
  if (intent.action !== "http.request") return base;
  const fields: string[] = [];
  const params: Record<string, unknown> = { ...intent.params };
  const headers = intent.params.headers;
  if (headers && typeof headers === "object" && !Array.isArray(headers)) {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (isSecretHeader(name, value)) {
        out[name] = marker(sha256Digest(typeof value === "string" ? value : JSON.stringify(value ?? null)));
        fields.push(`params.headers.${name}`);
      } else out[name] = value;
    }
    params.headers = out;
  }
  if ("body" in intent.params && intent.params.body !== undefined) {
    params.body = marker(httpBodyDigest(intent.params.body));
    fields.push("params.body");
  }
  if (fields.length === 0) return base;
  return { ...base, params, redacted: { digest, fields } };
}

function redactionOf(stored: unknown): Redaction | undefined {
  const r = (stored as { redacted?: Redaction } | null)?.redacted;
  return r && typeof r.digest === "string" && Array.isArray(r.fields) ? r : undefined;
}

/**
 * The `intent` claim of a stored intent: what `intentClaim` gives for the real intent. For a redacted copy the
 * digest and the HTTP body digest come from the redaction envelope (`digest` overrides, e.g. the record's column).
 */
export function storedIntentClaim(stored: Intent & { redacted?: Redaction }, digest?: string): IntentClaim {
  const r = redactionOf(stored);
  if (!r) return intentClaim(stored, digest);
  const realDigest = digest ?? r.digest;
  const claim = intentClaim({ ...stored, params: { ...stored.params, body: undefined } }, realDigest);
  if (claim.http && r.fields.includes("params.body")) {
    const body = stored.params.body as RedactedValue | undefined;
    if (!body || typeof body.redacted !== "string") throw new Error("a redacted intent lost its body digest");
    claim.http.body_digest = body.redacted;
  }
  return claim;
}
