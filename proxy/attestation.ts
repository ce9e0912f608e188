// Attestations at the proxy: the executor gate's token check (signature by kid, typ, iss, aud `intent-proxy`, time
// window) plus the proxy's own binding. The proxy cannot recompute the intent digest (it never sees the agent or the
// context), so it checks the `http` binding instead: method, URL and body digest must equal what was attested.
// Single use: the jti is recorded in the gate's replay store when the request is forwarded.
import { isUtf8 } from "node:buffer";
import {
  AUDIENCE_PROXY,
  DEFAULT_ISSUER,
  httpBodyDigest,
  sha256Digest,
  type AttestationClaims,
} from "../protocol/index.ts";
import { GateError } from "../executor-gate/errors.ts";
import { pinnedKeys, type Jwk, type KeySource } from "../executor-gate/jwks.ts";
import { memoryReplayStore } from "../executor-gate/replay/memory.ts";
import type { ReplayStore } from "../executor-gate/replay/store.ts";
import { MAX_CLOCK_TOLERANCE_SECONDS, verifyToken } from "../executor-gate/token.ts";
import { isJsonContentType } from "./input.ts";
import { duplicateJsonKey } from "./json-keys.ts";
import { inexactJsonNumbers } from "./json-numbers.ts";
import { normalizeTarget } from "./path.ts";

export interface ProxyVerifierOptions {
  /** The sidecar's verification keys (its own key set; no HTTP round trip). */
  keys: KeySource;
  issuer?: string;
  audience?: string;
  replay?: ReplayStore;
  clockTolerance?: number;
  now?: () => number;
}

/** The request as the proxy is about to forward it. */
export interface AttestedRequest {
  method: string;
  url: string;
  body: Buffer | null;
  contentType: string | undefined;
}

export interface ProxyVerifier {
  /** Token check + http binding + not yet used. Throws GateError. Records nothing. */
  verify(token: string, req: AttestedRequest): Promise<AttestationClaims>;
  /** Records the use; false when another request used it first. */
  consume(claims: AttestationClaims, token: string): Promise<boolean>;
}

/** Canonical form of a URL for comparison: scheme/host case and default port as WHATWG URL gives, the path normalized
 * as the proxy forwards it (path.ts: dot segments, empty segments, unreserved escapes), no fragment. Null when the
 * URL does not parse or its path would be refused. */
export function canonicalUrl(u: string): string | null {
  try {
    const url = new URL(u);
    if (url.username || url.password) return null; // the proxy never forwards credentials in a URL
    const { target } = normalizeTarget(url.pathname + url.search);
    return `${url.protocol}//${url.host}${target}`;
  } catch {
    return null;
  }
}

/** Digests the proxy accepts for a body: the raw bytes, and for JSON bodies also the JCS form of the parsed value
 * (an intent that declared its body as a JSON object was digested that way). The JCS digest is offered only when the
 * parsed value stands for exactly one body meaning, so that two bodies an upstream reads differently never share it:
 * UTF-8 bytes (a lossy decode would map different bytes to U+FFFD), no repeated key (also not with another case),
 * and every number held exactly by a double (12345678901234567891 and ...890 are the same double; see
 * json-numbers.ts). Otherwise only the raw-bytes digest can match. */
export function bodyDigests(body: Buffer | null, contentType: string | undefined): string[] {
  const raw = sha256Digest(body ?? Buffer.alloc(0));
  if (!body || body.length === 0 || !isJsonContentType(contentType) || !isUtf8(body)) return [raw];
  const text = body.toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [raw];
  }
  if (duplicateJsonKey(text, { foldCase: true }) !== null || inexactJsonNumbers(text).length > 0) return [raw];
  try {
    return [raw, httpBodyDigest(value)];
  } catch {
    return [raw];
  }
}

function mismatch(jti: string, what: string): GateError {
  return new GateError("digest_mismatch", `the request differs from the attested one: ${what}`, { jti });
}

export function createProxyVerifier(opts: ProxyVerifierOptions): ProxyVerifier {
  const now = opts.now ?? Date.now;
  const tolerance = Math.min(opts.clockTolerance ?? MAX_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS);
  const replay = opts.replay ?? memoryReplayStore({ now });
  const check = {
    issuer: opts.issuer ?? DEFAULT_ISSUER,
    audience: opts.audience ?? AUDIENCE_PROXY,
    clockToleranceSeconds: tolerance,
    now,
  };

  return {
    async verify(token, req) {
      const claims = await verifyToken(token, opts.keys, check);
      const jti = claims.jti;
      const http = claims.intent.http;
      if (claims.intent.action !== "http.request" || !http) {
        throw mismatch(jti, `attested action is "${claims.intent.action}", not an http.request`);
      }
      if (String(http.method).toUpperCase() !== req.method.toUpperCase()) {
        throw mismatch(jti, `method is ${req.method}, attested ${http.method}`);
      }
      const want = canonicalUrl(String(http.url));
      const got = canonicalUrl(req.url);
      if (want === null || got === null || want !== got) throw mismatch(jti, `url is ${got}, attested ${want}`);
      if (!bodyDigests(req.body, req.contentType).includes(String(http.body_digest))) {
        throw mismatch(jti, "request body differs from the attested body");
      }
      const used = replay.has(jti);
      if (used instanceof Promise ? await used : used) {
        throw new GateError("replayed", `attestation ${jti} was already used`, { jti });
      }
      return claims;
    },
    async consume(claims, token) {
      return replay.consume(claims.jti, claims.exp + tolerance, token);
    },
  };
}

/** A key source over a JWKS the caller already holds (the sidecar's own key ring): re-imported only when the set of
 * kids changes, so key rotation is picked up without any HTTP round trip. */
export function keySourceFromJwks(getJwks: () => { keys: readonly object[] }): KeySource {
  let cachedIds = "";
  let cached: KeySource = pinnedKeys([]);
  const current = (): KeySource => {
    const list = getJwks().keys as Jwk[];
    const ids = list.map((k) => `${k.kid}:${k.x}`).join(",");
    if (ids !== cachedIds) {
      cached = pinnedKeys([...list]);
      cachedIds = ids;
    }
    return cached;
  };
  return { keyFor: (kid) => current().keyFor(kid), kids: () => current().kids() };
}
