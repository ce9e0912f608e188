// Typed errors of the agent-side client. Every error has a stable `code` (the sidecar's `error` field, or a
// client-side code) and the HTTP status when there was a response.
import type { InputIssue } from "@intent-sidecar/protocol/errors";

export class SidecarError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "SidecarError";
  }
}

/** 400: the intent is malformed; `issues` names every problem by path (e.g. `params.value`). */
export class InvalidIntentError extends SidecarError {
  constructor(
    message: string,
    readonly issues: InputIssue[],
    code = "invalid_intent",
  ) {
    super(code, message, 400);
    this.name = "InvalidIntentError";
  }
}

/** 401/403: missing or wrong agent token, or an intent naming another agent than the token's. */
export class AuthError extends SidecarError {
  constructor(code: string, message: string, status: number) {
    super(code, message, status);
    this.name = "AuthError";
  }
}

/** 409: the idempotency key was already used for a different intent. */
export class IdempotencyConflictError extends SidecarError {
  constructor(message: string) {
    super("idempotency_conflict", message, 409);
    this.name = "IdempotencyConflictError";
  }
}

/** 503: the sidecar has no valid policy loaded (every intent is refused until it does). */
export class PolicyUnavailableError extends SidecarError {
  constructor(message: string) {
    super("policy_unavailable", message, 503);
    this.name = "PolicyUnavailableError";
  }
}

/** The sidecar could not be reached, or answered something that is not the agent API. */
export class SidecarUnavailableError extends SidecarError {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super("unavailable", message);
    this.name = "SidecarUnavailableError";
  }
}

/** waitFor gave up while the intent was still PENDING. */
export class WaitTimeoutError extends SidecarError {
  constructor(
    readonly intentId: string,
    timeoutMs: number,
  ) {
    super("wait_timeout", `intent ${intentId} is still PENDING after ${timeoutMs} ms`);
    this.name = "WaitTimeoutError";
  }
}
