// The OpenShell caller credential: a short-lived EdDSA JWT the gateway mints for itself and for each sandbox
// supervisor (`typ openshell-ext+jwt`, `iss openshell-gateway:<id>`, exact `aud`, `caller_kind`, `sandbox_id` on
// supervisor calls, `exp` at most one hour after `iat`). OpenShell reuses a token across calls, so a verified token
// is cached by its exact text until it expires (bounded; the cache is dropped whenever the trust anchors change).
import { createPublicKey, type KeyObject } from "node:crypto";
import { decodeProtectedHeader, jwtVerify, errors as joseErrors } from "jose";

export const CALLER_TOKEN_TYPE = "openshell-ext+jwt";
export const MAX_CALLER_TOKEN_LIFETIME_SECONDS = 3600;
const CLOCK_TOLERANCE_SECONDS = 30;
const CACHE_MAX = 4096;

/** A gateway whose tokens we accept: from NemoClaw's `/v2/prepare` or from the config file. */
export interface GatewayAnchor {
  issuer: string;
  /** When set, the token's `kid` must equal it. */
  kid?: string;
  publicKeyPem: string;
}

export type CallerKind = "gateway" | "supervisor";

export interface CallerClaims {
  iss: string;
  sub: string;
  aud: string;
  caller_kind: CallerKind;
  sandbox_id?: string;
  iat: number;
  exp: number;
  jti?: string;
}

/** Why a caller token was refused (operator-side text; the requester never sees it). */
export class CallerRejected extends Error {
  constructor(
    readonly code:
      | "missing"
      | "malformed"
      | "untrusted_issuer"
      | "bad_signature"
      | "expired"
      | "wrong_audience"
      | "wrong_type"
      | "wrong_caller_kind"
      | "lifetime"
      | "sandbox_mismatch",
    message: string,
  ) {
    super(message);
    this.name = "CallerRejected";
  }
}

export interface CallerVerifierOptions {
  /** The trust anchors in force now (read per call: a `/v2/prepare` adds one without a restart). */
  anchors: () => readonly GatewayAnchor[];
  now?: () => number;
}

interface Imported {
  anchor: GatewayAnchor;
  key: KeyObject;
}

export class CallerVerifier {
  private readonly cache = new Map<string, { claims: CallerClaims; audience: string }>();
  private anchorIds = "";
  private imported: Imported[] = [];
  private readonly now: () => number;

  constructor(private readonly opts: CallerVerifierOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The number of cached tokens (tests, metrics). */
  get cached(): number {
    return this.cache.size;
  }

  private anchors(): Imported[] {
    const list = this.opts.anchors();
    const ids = list.map((a) => `${a.issuer}\u0000${a.kid ?? ""}\u0000${a.publicKeyPem}`).join("\u0001");
    if (ids !== this.anchorIds) {
      const imported: Imported[] = [];
      for (const anchor of list) {
        try {
          const key = createPublicKey(anchor.publicKeyPem);
          if (key.asymmetricKeyType === "ed25519") imported.push({ anchor, key });
        } catch {
          /* an unreadable key trusts nothing */
        }
      }
      this.imported = imported;
      this.anchorIds = ids;
      this.cache.clear(); // a withdrawn anchor must not keep its tokens alive
    }
    return this.imported;
  }

  /**
   * Verifies `token` for `audience` and the allowed caller kinds. Throws CallerRejected. The cached path costs one
   * map lookup and a clock read.
   */
  async verify(token: string | undefined, audience: string, kinds: readonly CallerKind[]): Promise<CallerClaims> {
    if (!token) throw new CallerRejected("missing", "no caller token (authorization: Bearer <jwt>)");
    const anchors = this.anchors();
    const nowSec = Math.floor(this.now() / 1000);
    const hit = this.cache.get(token);
    let claims: CallerClaims;
    if (hit && hit.audience === audience) {
      if (hit.claims.exp + CLOCK_TOLERANCE_SECONDS <= nowSec) {
        this.cache.delete(token);
        throw new CallerRejected("expired", "the caller token has expired");
      }
      claims = hit.claims;
    } else {
      claims = await this.verifyFresh(token, audience, anchors, nowSec);
      if (this.cache.size >= CACHE_MAX) this.sweep(nowSec);
      this.cache.set(token, { claims, audience });
    }
    if (!kinds.includes(claims.caller_kind)) {
      throw new CallerRejected(
        "wrong_caller_kind",
        `caller_kind ${claims.caller_kind} may not call this method (want ${kinds.join(" or ")})`,
      );
    }
    return claims;
  }

  private sweep(nowSec: number): void {
    for (const [t, v] of this.cache) if (v.claims.exp <= nowSec) this.cache.delete(t);
    // still full: drop the oldest half (insertion order)
    if (this.cache.size >= CACHE_MAX) {
      let n = this.cache.size / 2;
      for (const t of this.cache.keys()) {
        if (n-- <= 0) break;
        this.cache.delete(t);
      }
    }
  }

  private async verifyFresh(
    token: string,
    audience: string,
    anchors: Imported[],
    nowSec: number,
  ): Promise<CallerClaims> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new CallerRejected("malformed", "the caller token is not a JWS");
    }
    if (header.alg !== "EdDSA") throw new CallerRejected("malformed", `caller token alg ${String(header.alg)}, want EdDSA`);
    if (header.typ !== CALLER_TOKEN_TYPE) {
      throw new CallerRejected("wrong_type", `caller token typ ${String(header.typ)}, want ${CALLER_TOKEN_TYPE}`);
    }
    let payloadIss: unknown;
    try {
      payloadIss = (JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { iss?: unknown })
        .iss;
    } catch {
      throw new CallerRejected("malformed", "the caller token payload is not JSON");
    }
    const candidates = anchors.filter(
      (a) => a.anchor.issuer === payloadIss && (a.anchor.kid === undefined || a.anchor.kid === header.kid),
    );
    if (candidates.length === 0) {
      throw new CallerRejected(
        "untrusted_issuer",
        `no trusted gateway key for issuer ${JSON.stringify(payloadIss)} kid ${JSON.stringify(header.kid)}`,
      );
    }
    let last: unknown;
    for (const { anchor, key } of candidates) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["EdDSA"],
          typ: CALLER_TOKEN_TYPE,
          issuer: anchor.issuer,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowSec * 1000),
          requiredClaims: ["iss", "aud", "iat", "exp", "sub"],
        });
        // exact audience: one string (or a one-element list) equal to ours; jose would accept any list member
        const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud;
        if (aud !== audience) {
          throw new CallerRejected("wrong_audience", `caller token audience ${JSON.stringify(payload.aud)}, want ${audience}`);
        }
        const kind = payload.caller_kind;
        if (kind !== "gateway" && kind !== "supervisor") {
          throw new CallerRejected("wrong_caller_kind", `caller_kind ${JSON.stringify(kind)} is not gateway or supervisor`);
        }
        const iat = payload.iat!;
        const exp = payload.exp!;
        if (exp - iat > MAX_CALLER_TOKEN_LIFETIME_SECONDS || exp <= iat) {
          throw new CallerRejected("lifetime", `caller token lives ${exp - iat}s; at most ${MAX_CALLER_TOKEN_LIFETIME_SECONDS}s`);
        }
        if (iat > nowSec + CLOCK_TOLERANCE_SECONDS) throw new CallerRejected("lifetime", "caller token issued in the future");
        const sandbox = payload.sandbox_id;
        if (kind === "supervisor" && (typeof sandbox !== "string" || sandbox === "")) {
          throw new CallerRejected("malformed", "a supervisor token must carry sandbox_id");
        }
        return {
          iss: anchor.issuer,
          sub: String(payload.sub),
          aud: audience,
          caller_kind: kind,
          ...(typeof sandbox === "string" ? { sandbox_id: sandbox } : {}),
          iat,
          exp,
          ...(typeof payload.jti === "string" ? { jti: payload.jti } : {}),
        };
      } catch (err) {
        if (err instanceof CallerRejected) throw err;
        last = err;
      }
    }
    if (last instanceof joseErrors.JWTExpired) throw new CallerRejected("expired", "the caller token has expired");
    if (last instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new CallerRejected("bad_signature", "the caller token signature does not verify with the gateway key");
    }
    throw new CallerRejected("malformed", `caller token rejected: ${(last as Error)?.message ?? "unknown"}`);
  }
}

/** `authorization: Bearer <jwt>` from gRPC metadata values. */
export function bearer(values: readonly (string | Buffer)[]): string | undefined {
  if (values.length !== 1) return undefined;
  const v = String(values[0]);
  const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/u.exec(v);
  return m ? m[1] : undefined;
}
