// The network rules' input document (SPEC section 6), built the same way for proxied requests and for
// `http.request` intents so both are decided by identical rules.
import type { AttestationClaims } from "../protocol/index.ts";
import { normalizeTarget, PathRefused } from "./path.ts";
import { decodeUrlEncoded, UrlEncodedRefused } from "./urlencoded.ts";

export interface NetworkRequest {
  method: string;
  host: string;
  port: number;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string>;
  body: unknown;
}

export interface NetworkSource {
  binary: string | null;
  pid: number | null;
  sandbox_id: string | null;
}

export interface NetworkInput {
  request: NetworkRequest;
  source: NetworkSource;
  attestation: AttestationClaims | null;
  timestamp: string;
}

/** What the network rules decided: `allow` and, when denied, human-readable reasons (Rego deny/deny_reason). */
export interface NetworkDecision {
  allow: boolean;
  reasons: string[];
}

/** The decision function the proxy is given: the active policy's network rules. */
export type DecideFn = (input: NetworkInput) => NetworkDecision | Promise<NetworkDecision>;

/** Headers never shown to the rules: credentials for the proxy itself and the attestation token. */
export const HIDDEN_HEADERS: ReadonlySet<string> = new Set([
  "proxy-authorization",
  "proxy-connection",
  "x-intent-attestation",
]);

/** RFC 3339 in whole seconds, UTC (what `time.parse_rfc3339_ns` and humans expect). */
export function rfc3339(d: Date): string {
  const sec = Math.floor(d.getTime() / 1000);
  if (sec !== lastSecond) {
    lastText = d.toISOString().replace(/\.\d{3}Z$/, "Z");
    lastSecond = sec;
  }
  return lastText;
}
// the last second formatted: every request within one second shares it
let lastSecond = NaN;
let lastText = "";

/** `?a=1&a=2&b` → {a:["1","2"], b:[""]}, as OPA's urlquery.decode_object gives (prototype-less; see
 * urlencoded.ts). Throws PathRefused for a query the proxy refuses (invalid escapes, NUL, escapes that are not UTF-8). */
export function queryObject(search: string): Record<string, string[]> {
  try {
    return decodeUrlEncoded(search.startsWith("?") ? search.slice(1) : search);
  } catch (err) {
    if (err instanceof UrlEncodedRefused) throw new PathRefused(`the request query: ${err.message}`);
    throw err;
  }
}

/** Lower-cased header names (prototype-less: `constructor`, `__proto__` are names like any other); repeated headers
 * joined with ", ". The proxy passes the view of headers.ts, which has already refused repeated single-valued
 * headers. */
export function ruleHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const k of Object.keys(headers)) {
    const v = headers[k];
    const name = k.toLowerCase();
    if (v === undefined || HIDDEN_HEADERS.has(name)) continue;
    const value = Array.isArray(v) ? v.join(", ") : v;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** The media type of a Content-Type value, lower-case, without parameters. */
export function mediaType(ct: string | undefined): string {
  return (ct ?? "").split(";")[0]!.trim().toLowerCase();
}

/** JSON media types: application/json, text/json (ASP.NET and others parse it), application/x-json, text/x-json and
 * any structured-syntax `+json` type (application/vnd.api+json, application/merge-patch+json, …). */
export function isJsonContentType(ct: string | undefined): boolean {
  const m = mediaType(ct);
  if (m === "") return false;
  return (
    m === "application/json" ||
    m === "text/json" ||
    m === "application/x-json" ||
    m === "text/x-json" ||
    /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]*\+json$/.test(m)
  );
}

/** `application/x-www-form-urlencoded`: the rules see such bodies decoded, like the query. */
export function isFormContentType(ct: string | undefined): boolean {
  return mediaType(ct) === "application/x-www-form-urlencoded";
}

/** The `body` field: parsed JSON when the content type is JSON (and it parses), the decoded form (an object of
 * arrays, like `query`) for form bodies, else the text; null when the body was not inspected (over the limit) or
 * absent. Lenient (a JSON body that does not parse stays text): the proxy itself refuses such bodies (body.ts). */
export function ruleBody(bytes: Buffer | null, contentType: string | undefined): unknown {
  if (bytes === null || bytes.length === 0) return null;
  const text = bytes.toString("utf8");
  if (isJsonContentType(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (isFormContentType(contentType)) {
    try {
      return decodeUrlEncoded(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** The input document. `pathAndQuery` is normalized here (path.ts: dot segments, empty segments, unreserved escapes)
 * so proxied requests and http.request intents give the rules the same path; throws PathRefused for a target the
 * proxy would refuse. The proxy normalizes first and forwards the normalized target (normalizing is idempotent).
 * A form body given as text is decoded (throws UrlEncodedRefused when the proxy would refuse it: body.ts). */
export function buildInput(args: {
  method: string;
  host: string;
  port: number;
  pathAndQuery: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  source: NetworkSource;
  attestation: AttestationClaims | null;
  now: Date;
}): NetworkInput {
  const { path, query } = normalizeTarget(args.pathAndQuery);
  const headers = ruleHeaders(args.headers);
  let body = args.body;
  // a form body given as text (an http.request intent's declared body) is shown decoded, as the proxy shows it
  if (typeof body === "string" && isFormContentType(headers["content-type"])) body = decodeUrlEncoded(body);
  return {
    request: {
      method: args.method.toUpperCase(),
      host: args.host,
      port: args.port,
      path,
      query: query === null ? {} : queryObject(query),
      headers,
      body,
    },
    source: args.source,
    attestation: args.attestation,
    timestamp: rfc3339(args.now),
  };
}
