// No secrets at rest (SPEC section 10): the stored copy of an intent (intents.intent_json, holds.intent_json, and
// everything read from them: the operator API, the console, webhooks) never carries secret material:
// - `http.request`: every credential header value (a name carrying a credential word anywhere: auth, token, secret,
//   key, session, passw/passphrase/pwd, signature/sig, cookie, credential; or a value that looks like a credential:
//   `Bearer …`, `Basic …`) is replaced by `{"redacted":"sha256:<hex>"}`, the body by
//   `{"redacted":"<httpBodyDigest>"}`, and in the URL the userinfo password and the values of credential-named query
//   (and fragment) parameters by `sha256:<hex>` (the rest of the URL is kept byte for byte);
// - every action: in `params` (other than an http.request's method, url, headers and body) and in `context`, the
//   string or structured value of any credential-named key, at any depth, is replaced by `{"redacted":"sha256:<hex>"}`
//   (numbers, booleans and null stay readable: `max_tokens: 100` is no secret, and limits measure numbers).
// The stored copy then carries a `redacted` envelope: the digest of the REAL intent and the list of redacted fields,
// so attestations built later (after a hold is approved) still bind the real request: `storedIntentClaim` takes the
// digest and the body digest from the envelope, never from the redacted params. Limits: an attestation built from
// the stored copy (after a hold is approved) carries the stored URL, so a held http.request whose URL carried
// credentials is attested with the redacted URL (an executor gate comparing URLs refuses it: fail closed); and what
// is evaluated again at hold approval (soft-limit reservations) sees the redacted copy.
import { httpBodyDigest, intentClaim, sha256Digest, type Intent, type IntentClaim } from "../../protocol/index.ts";

/** What a stored intent says about its redaction (absent: nothing was redacted). */
export interface Redaction {
  /** The intent digest computed over the real (unredacted) intent. */
  digest: string;
  /** Redacted fields, as paths: `params.body`, `params.url`, `params.headers.<name as declared>`,
   * `params.<key>…`, `context.<key>…` (array items by index). */
  fields: string[];
}

export interface RedactedValue {
  redacted: string;
}

/** Credential words, anywhere in a (header, query parameter or JSON key) name: auth (not author), token, secret, key
 * (not keyboard, keyword), session, passw/passphrase/pwd, signature, sig (as a word), cookie, credential. */
const CREDENTIAL_NAME =
  /auth(?!or(?!i))|token|secret|key(?![a-rt-z])|session|passw|passphrase|pwd|signature|(?<![a-z])sig(?![a-z])|cookie|credential|api_?key/;

/** Header names that are never secrets, whatever the word list says. */
const SAFE_HEADERS = new Set([
  "accept",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "connection",
  "content-encoding",
  "content-language",
  "content-length",
  "content-type",
  "host",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "origin",
  "pragma",
  "referer",
  "user-agent",
  "x-request-id",
  "x-correlation-id",
]);

/** Values that are credentials whatever their header's name. */
const SECRET_VALUE = /^\s*(bearer|basic|digest|token|negotiate|hoba|mutual|aws4-hmac-sha256)\s+\S/i;

/** Whether a name (header, query parameter, JSON key) names a credential. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name.toLowerCase());
}

export function isSecretHeader(name: string, value: unknown): boolean {
  const n = name.toLowerCase();
  if (SAFE_HEADERS.has(n)) return false;
  return isCredentialName(n) || (typeof value === "string" && SECRET_VALUE.test(value));
}

const digestOf = (value: unknown): string =>
  sha256Digest(typeof value === "string" ? value : JSON.stringify(value ?? null));

/** A URL with the userinfo password and the values of credential-named query/fragment parameters replaced by
 * `sha256:<hex>` of the raw text; everything else is kept as written. Undefined when nothing was replaced. */
export function redactUrl(url: string): string | undefined {
  let changed = false;
  let out = url;
  const ui = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(out);
  if (ui) {
    const info = ui[2]!;
    const colon = info.indexOf(":");
    if (colon >= 0 && colon < info.length - 1) {
      out = `${ui[1]}${info.slice(0, colon)}:${sha256Digest(info.slice(colon + 1))}@${out.slice(ui[0].length)}`;
      changed = true;
    }
  }
  const pairs = (part: string): string =>
    part
      .split("&")
      .map((kv) => {
        const eq = kv.indexOf("=");
        if (eq <= 0 || eq === kv.length - 1) return kv;
        let name = kv.slice(0, eq);
        try {
          name = decodeURIComponent(name.replace(/\+/g, " "));
        } catch {
          /* keep as written */
        }
        if (!isCredentialName(name)) return kv;
        changed = true;
        return `${kv.slice(0, eq)}=${sha256Digest(kv.slice(eq + 1))}`;
      })
      .join("&");
  const hashAt = out.indexOf("#");
  const beforeHash = hashAt >= 0 ? out.slice(0, hashAt) : out;
  const fragment = hashAt >= 0 ? out.slice(hashAt + 1) : undefined;
  const q = beforeHash.indexOf("?");
  const head = q >= 0 ? beforeHash.slice(0, q + 1) + pairs(beforeHash.slice(q + 1)) : beforeHash;
  out = fragment === undefined ? head : `${head}#${pairs(fragment)}`;
  return changed ? out : undefined;
}

/** A copy of a JSON value with the value of every credential-named key (at any depth) that is a string, an object
 * or an array replaced by a digest marker; the paths replaced are pushed to `fields`. */
function redactJson(value: unknown, path: string, fields: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => redactJson(v, `${path}.${i}`, fields));
  if (!value || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (isCredentialName(k) && v !== null && (typeof v === "string" || typeof v === "object")) {
      out[k] = marker(digestOf(v));
      fields.push(`${path}.${k}`);
    } else out[k] = redactJson(v, `${path}.${k}`, fields);
  }
  return out;
}

function marker(digest: string): RedactedValue {
  return { redacted: digest };
}

/** An intent object may carry the copy to store, already made (the pii block's: sidecar/policy/pii/bind.ts), under
 * this key: redactForStorage then returns it as is (every store path, holds included, stores the same copy). A
 * symbol, so it never reaches JSON, digests or the wire. */
export const STORED_COPY = Symbol("intent-sidecar.stored-copy");

/**
 * The copy of an intent that may be stored: `{agent, action, params, context}` with secrets replaced (see the top
 * of this file) and, when anything was replaced, `redacted: {digest, fields}`. `digest` is the real intent's digest
 * (the pipeline has it already).
 */
export function redactForStorage(
  intent: Pick<Intent, "agent" | "action" | "params" | "cost"> & { context?: Record<string, unknown> },
  digest: string,
): {
  agent: string;
  action: string;
  params: Record<string, unknown>;
  context: Record<string, unknown>;
  cost?: Intent["cost"];
  redacted?: Redaction;
} {
  const pre = (intent as { [STORED_COPY]?: ReturnType<typeof redactForStorage> })[STORED_COPY];
  if (pre) return pre;
  // the declared cost is kept: an approved hold counts it against the budgets (it is an amount, never a secret)
  const base = {
    agent: intent.agent,
    action: intent.action,
    params: intent.params,
    context: intent.context ?? {},
    ...(intent.cost !== undefined ? { cost: intent.cost } : {}),
  };
  const fields: string[] = [];
  const isHttp = intent.action === "http.request";
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(intent.params ?? {})) {
    if (isHttp && (k === "method" || k === "url" || k === "headers" || k === "body")) params[k] = v;
    else if (isCredentialName(k) && v !== null && (typeof v === "string" || typeof v === "object")) {
      params[k] = marker(digestOf(v));
      fields.push(`params.${k}`);
    } else params[k] = redactJson(v, `params.${k}`, fields);
  }
  if (isHttp) {
    if (typeof intent.params.url === "string") {
      const url = redactUrl(intent.params.url);
      if (url !== undefined) {
        params.url = url;
        fields.push("params.url");
      }
    }
    const headers = intent.params.headers;
    if (headers && typeof headers === "object" && !Array.isArray(headers)) {
      const out: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
        if (isSecretHeader(name, value)) {
          out[name] = marker(digestOf(value));
          fields.push(`params.headers.${name}`);
        } else out[name] = value;
      }
      params.headers = out;
    }
    if ("body" in intent.params && intent.params.body !== undefined) {
      params.body = marker(httpBodyDigest(intent.params.body));
      fields.push("params.body");
    }
  }
  const context = redactJson(base.context, "context", fields) as Record<string, unknown>;
  if (fields.length === 0) return base;
  return { ...base, params, context, redacted: { digest, fields } };
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
