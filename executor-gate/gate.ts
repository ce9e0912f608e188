// createGate: the function API executors embed (SPEC section 7). verify = token + binding + "not used yet";
// run = verify, then record the use atomically, then run the action. Nothing runs unless every check passed.
import { AUDIENCE_EXECUTOR, DEFAULT_ISSUER, type AttestationClaims } from "@intent-sidecar/protocol/attestation";
import { checkBinding, type IntentInput } from "./binding.ts";
import { GateConfigError, GateError } from "./errors.ts";
import { keySourceFrom, type Jwk, type JwksDocument, type KeySource, type RemoteJwksOptions } from "./jwks.ts";
import { sqliteReplayStore } from "./replay/sqlite.ts";
import { VOLATILE_UNACKNOWLEDGED, type ReplayStore } from "./replay/store.ts";
import { MAX_CLOCK_TOLERANCE_SECONDS, verifyToken, type TokenCheck } from "./token.ts";

export interface GateOptions {
  /** The sidecar's JWKS URL (`http://127.0.0.1:7400/.well-known/jwks.json`), or a pinned JWKS / list of JWKs. A URL
   * must be `https:` or plain `http:` to a loopback address (127.0.0.0/8, ::1, localhost). */
  jwks: string | URL | JwksDocument | Jwk[] | KeySource;
  /** Expected `iss`. Default `intent-sidecar`. */
  issuer?: string;
  /** This gate's audience. Default `intent-executor`. */
  audience?: string;
  /** A SQLite file where used `jti`s are recorded (created with mode 0600; survives restarts; may be shared by the
   * executors of one host). Needs the optional dependency better-sqlite3. Closed by `gate.close()`. */
  replayFile?: string;
  /** Or a replay store: `remoteRedemption({url, token})` (several hosts), `sqliteReplayStore(file, opts)`, your own,
   * or `memoryReplayStore({ unsafeAllowReplayAfterRestart: true })` (tests). One of `replayFile` / `replay` is
   * required: there is no default, because an in-memory default lets an attestation be used again after a restart. */
  replay?: ReplayStore;
  /** Allowed clock skew in seconds, 0..30. Default 30. */
  clockTolerance?: number;
  /** Options for a remote JWKS (cache age, unknown-kid refresh cooldown, fetch). */
  jwksOptions?: RemoteJwksOptions;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
}

export interface Gate {
  /** Verifies `token` for `intent` and that it is unused. Does not record a use. Returns the claims. */
  verify(token: unknown, intent: IntentInput): Promise<AttestationClaims>;
  /** Verifies, then records the use (exactly one caller wins). Returns the claims; the action may now run. */
  consume(token: unknown, intent: IntentInput): Promise<AttestationClaims>;
  /** Runs `fn` only after `consume` succeeded. */
  run<T>(token: unknown, intent: IntentInput, fn: (claims: AttestationClaims) => T | Promise<T>): Promise<T>;
  readonly keys: KeySource;
  readonly replay: ReplayStore;
  close(): Promise<void>;
}

export function createGate(opts: GateOptions): Gate {
  if (!opts || opts.jwks === undefined || opts.jwks === null) throw new TypeError("createGate: `jwks` is required");
  const tolerance = opts.clockTolerance ?? MAX_CLOCK_TOLERANCE_SECONDS;
  if (!(tolerance >= 0 && tolerance <= MAX_CLOCK_TOLERANCE_SECONDS)) {
    throw new RangeError(`createGate: clockTolerance must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS} seconds`);
  }
  const now = opts.now ?? Date.now;
  const keys = keySourceFrom(opts.jwks, { now, ...opts.jwksOptions });
  const replay = replayStoreFrom(opts, now);
  const check: TokenCheck = {
    issuer: opts.issuer ?? DEFAULT_ISSUER,
    audience: opts.audience ?? AUDIENCE_EXECUTOR,
    clockToleranceSeconds: tolerance,
    now,
  };

  async function verify(token: unknown, intent: IntentInput): Promise<AttestationClaims> {
    const claims = await verifyToken(token, keys, check);
    checkBinding(claims, intent);
    const used = replay.has(claims.jti);
    if (used instanceof Promise ? await used : used) {
      throw new GateError("replayed", `attestation ${claims.jti} was already used`, { jti: claims.jti });
    }
    return claims;
  }

  async function consume(token: unknown, intent: IntentInput): Promise<AttestationClaims> {
    const claims = await verify(token, intent);
    // Keep the record as long as the token could still pass the time check anywhere.
    const first = await replay.consume(claims.jti, claims.exp + tolerance, token as string);
    if (!first) throw new GateError("replayed", `attestation ${claims.jti} was already used`, { jti: claims.jti });
    return claims;
  }

  return {
    verify,
    consume,
    async run(token, intent, fn) {
      const claims = await consume(token, intent);
      return fn(claims);
    },
    keys,
    replay,
    async close() {
      await replay.close?.();
    },
  };
}

function replayStoreFrom(opts: GateOptions, now: () => number): ReplayStore {
  if (opts.replay !== undefined && opts.replayFile !== undefined) {
    throw new GateConfigError(
      "replay_store_required",
      "createGate: pass either `replayFile` or `replay`, not both (they would record uses in two places)",
    );
  }
  if (opts.replayFile !== undefined) return sqliteReplayStore(opts.replayFile, { now });
  const replay = opts.replay;
  if (replay === undefined || replay === null) {
    throw new GateConfigError(
      "replay_store_required",
      "createGate: say where used attestations are recorded, so that none can be used twice. Pass " +
        '`replayFile: "/var/lib/my-executor/replay.db"` (SQLite, survives restarts, one host), ' +
        "`replay: remoteRedemption({ url, token })` (the sidecar records uses; several hosts), or, for tests only, " +
        "`replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true })` (a restart forgets every use, so an " +
        "unexpired attestation can be used again).",
    );
  }
  if (typeof replay.consume !== "function" || typeof replay.has !== "function") {
    throw new TypeError("createGate: `replay` must be a replay store (has, consume)");
  }
  if ((replay as { [VOLATILE_UNACKNOWLEDGED]?: boolean })[VOLATILE_UNACKNOWLEDGED] === true) {
    throw new GateConfigError(
      "unsafe_replay_store",
      "createGate: memoryReplayStore() forgets every recorded use when the process restarts, after which an " +
        'unexpired attestation can be used again. Use `replayFile: "…/replay.db"` or `replay: remoteRedemption(…)`; ' +
        "if that is really acceptable (tests), say so: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }).",
    );
  }
  return replay;
}
