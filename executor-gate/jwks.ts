// Key sets the gate verifies against: a pinned set (offline) or the sidecar's JWKS URL, fetched and cached,
// refreshed when a token names an unknown `kid` (rate-limited so junk tokens cannot make us hammer the sidecar).
import { createPublicKey, type KeyObject } from "node:crypto";
import { GateError } from "./errors.ts";
import { requireSecureUrl } from "./url.ts";

export interface Jwk {
  kty?: string;
  crv?: string;
  x?: string;
  kid?: string;
  alg?: string;
  use?: string;
  [k: string]: unknown;
}

export interface JwksDocument {
  keys: Jwk[];
}

/** Where a gate gets its verification keys. `keyFor` throws `GateError("unknown_key")` when it has no such key. */
export interface KeySource {
  keyFor(kid: string): KeyObject | Promise<KeyObject>;
  /** Kids currently known (for diagnostics and docs). */
  kids(): string[];
}

/** Imports the usable keys of a JWKS: Ed25519 OKP keys with a `kid`, meant for signatures. Others are ignored, so a
 * JWKS that also lists an RSA or HMAC key can never make the gate accept one. */
export function importJwks(doc: JwksDocument | Jwk[]): Map<string, KeyObject> {
  const list = Array.isArray(doc) ? doc : doc?.keys;
  if (!Array.isArray(list)) throw new TypeError("JWKS must be {keys:[...]} or an array of JWKs");
  const out = new Map<string, KeyObject>();
  for (const jwk of list) {
    if (!jwk || jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") continue;
    if (typeof jwk.kid !== "string" || jwk.kid === "") continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (jwk.alg !== undefined && jwk.alg !== "Ed25519" && jwk.alg !== "EdDSA") continue;
    if ("d" in jwk) continue; // a private key has no business in a verifier's key set
    try {
      out.set(jwk.kid, createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }));
    } catch {
      // an undecodable key is simply not usable
    }
  }
  return out;
}

/** A fixed key set: no network, usable offline. */
export function pinnedKeys(doc: JwksDocument | Jwk[]): KeySource {
  const keys = importJwks(doc);
  return {
    keyFor(kid) {
      const k = keys.get(kid);
      if (!k)
        throw new GateError(
          "unknown_key",
          `no pinned key has kid "${kid}" (pinned kids: ${[...keys.keys()].join(", ") || "none"})`,
        );
      return k;
    },
    kids: () => [...keys.keys()],
  };
}

export interface RemoteJwksOptions {
  /** Re-fetch after this many seconds even when every kid is known (rotation picks up retirements). Default 600. */
  maxAgeSeconds?: number;
  /** At most one refresh triggered by an unknown kid per this many seconds. Default 30. */
  refreshCooldownSeconds?: number;
  /** Per-fetch timeout. Default 5000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The sidecar's JWKS over HTTP. Keys stay usable when a refresh fails (the last good set is kept). Only `https:` or
 * loopback `http:` URLs are accepted (GateConfigError `insecure_url` otherwise): keys fetched in the clear from
 * another host could be replaced on the way. */
export function remoteJwks(url: string | URL, opts: RemoteJwksOptions = {}): KeySource & { refresh(): Promise<void> } {
  const href = requireSecureUrl(
    url,
    "the JWKS URL",
    "pin the keys instead (jwks: {keys:[...]} copied from the sidecar's /.well-known/jwks.json; re-pin after `keys rotate`)",
  ).href;
  const maxAgeMs = (opts.maxAgeSeconds ?? 600) * 1000;
  const cooldownMs = (opts.refreshCooldownSeconds ?? 30) * 1000;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  let lastAttempt = -Infinity;
  let lastError: string | undefined;
  let inflight: Promise<void> | undefined;

  async function load(): Promise<void> {
    lastAttempt = now();
    try {
      const res = await doFetch(href, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: "application/json" },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      keys = importJwks((await res.json()) as JwksDocument);
      fetchedAt = now();
      lastError = undefined;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
  }

  function refresh(): Promise<void> {
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  function unknown(kid: string): GateError {
    const why = lastError ? ` (last JWKS fetch from ${href} failed: ${lastError})` : ` at ${href}`;
    return new GateError("unknown_key", `no key with kid "${kid}"${why}`);
  }

  return {
    refresh,
    kids: () => [...keys.keys()],
    keyFor(kid) {
      const t = now();
      const known = keys.get(kid);
      // Fast path: a cached key that is fresh enough. Stale keys trigger a background refresh but still serve.
      if (known) {
        if (t - fetchedAt > maxAgeMs && t - lastAttempt > cooldownMs) void refresh();
        return known;
      }
      if (t - lastAttempt < cooldownMs && !inflight) throw unknown(kid);
      return refresh().then(() => {
        const k = keys.get(kid);
        if (!k) throw unknown(kid);
        return k;
      });
    },
  };
}

/** Accepts what `createGate({ jwks })` takes: a URL (string or URL), a JWKS document, an array of JWKs, or a source. */
export function keySourceFrom(
  jwks: string | URL | JwksDocument | Jwk[] | KeySource,
  opts: RemoteJwksOptions = {},
): KeySource {
  if (typeof jwks === "string" || jwks instanceof URL) return remoteJwks(jwks, opts);
  if (typeof (jwks as KeySource).keyFor === "function") return jwks as KeySource;
  return pinnedKeys(jwks as JwksDocument | Jwk[]);
}
