// The seam for single-use enforcement: a gate asks whether a `jti` was used and records a use atomically.

export interface ReplayStore {
  /** True when `jti` has already been used (and its record has not yet lapsed). */
  has(jti: string): boolean | Promise<boolean>;
  /** Records a use of `jti`, kept until `expiresAt` (epoch seconds). Atomic: true for exactly one caller. `token` is
   * the attestation itself, which a remote redemption store presents to the sidecar; local stores ignore it. */
  consume(jti: string, expiresAt: number, token: string): boolean | Promise<boolean>;
  close?(): void | Promise<void>;
}

/** Marks a store that forgets every use when the process exits and was not explicitly accepted as such:
 * createGate refuses it (see memoryReplayStore's `unsafeAllowReplayAfterRestart`). */
export const VOLATILE_UNACKNOWLEDGED: unique symbol = Symbol.for("intent-sidecar.executor-gate.volatile-replay-store");
