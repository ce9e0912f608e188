// Typed failures of the executor gate (SPEC section 7). Every code is stable; messages say what was wrong.

export const GATE_ERROR_CODES = [
  "missing",
  "malformed",
  "bad_signature",
  "unknown_key",
  "expired",
  "not_yet_valid",
  "wrong_issuer",
  "wrong_audience",
  "digest_mismatch",
  "replayed",
] as const;

export type GateErrorCode = (typeof GATE_ERROR_CODES)[number];

/** Why the gate refused to run an action. `code` is machine-readable and stable; `message` is for humans. */
export class GateError extends Error {
  readonly code: GateErrorCode;
  /** The attestation id, when the token got far enough to name one. */
  readonly jti: string | undefined;

  constructor(code: GateErrorCode, message: string, opts: { jti?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "GateError";
    this.code = code;
    this.jti = opts.jti;
  }

  toJSON(): { error: GateErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function isGateError(e: unknown): e is GateError {
  return e instanceof GateError;
}

/** Codes of GateConfigError: a gate (or one of its parts) was configured in a way that would be unsafe or cannot work. */
export type GateConfigErrorCode =
  "insecure_url" | "invalid_url" | "replay_store_required" | "unsafe_replay_store" | "sqlite_unavailable";

/** Thrown when a gate is constructed, never when a token is checked: the configuration is refused, with a message
 * that says what to do instead. Not a verdict on a token, so not a GateError. */
export class GateConfigError extends TypeError {
  readonly code: GateConfigErrorCode;

  constructor(code: GateConfigErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "GateConfigError";
    this.code = code;
  }
}
