// The network rules' input document (SPEC section 6), built the same way for proxied requests and for
// `http.request` intents so both are decided by identical rules.
import type { AttestationClaims } from "../protocol/index.ts";
import { normalizeTarget } from "./path.ts";

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
const HIDDEN_HEADERS = new Set(["proxy-authorization", "proxy-connection", "x-intent-attestation"]);

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

/** `?a=1&a=2&b` → {a:["1","2"], b:[""]}, as OPA's urlquery.decode_object gives. */
export function queryObject(search: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) (out[k] ??= []).push(v);
  return out;
}

/** Lower-cased header names; repeated headers joined with ", " (as node does for most headers). */
export function ruleHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined || HIDDEN_HEADERS.has(name)) continue;
    const value = Array.isArray(v) ? v.join(", ") : v;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

export function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  const mime = ct.split(";")[0]!.trim().toLowerCase();
  return mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"));
}

/** The `body` field: parsed JSON when the content type is JSON (and it parses), else the text; null when the body
 * was not inspected (over the limit) or absent. */
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
  return text;
}

/** The input document. `pathAndQuery` is normalized here (path.ts: dot segments, empty segments, unreserved escapes)
 * so proxied requests and http.request intents give the rules the same path; throws PathRefused for a target the
 * proxy would refuse. The proxy normalizes first and forwards the normalized target (normalizing is idempotent). */
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
  return {
    request: {
      method: args.method.toUpperCase(),
      host: args.host,
      port: args.port,
      path,
      query: query === null ? {} : queryObject(query),
      headers: ruleHeaders(args.headers),
      body: args.body,
    },
    source: args.source,
    attestation: args.attestation,
    timestamp: rfc3339(args.now),
  };
}
