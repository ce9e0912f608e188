// The executor gate: verify an attestation before an action runs (SPEC section 7).
export { createGate, type Gate, type GateOptions } from "./gate.ts";
export {
  GateError,
  GATE_ERROR_CODES,
  isGateError,
  GateConfigError,
  type GateErrorCode,
  type GateConfigErrorCode,
} from "./errors.ts";
export { isLoopbackHost } from "./url.ts";
export {
  pinnedKeys,
  remoteJwks,
  importJwks,
  type KeySource,
  type Jwk,
  type JwksDocument,
  type RemoteJwksOptions,
} from "./jwks.ts";
export { checkBinding, checkTransactionMatchesIntent, type IntentInput, type TxLike } from "./binding.ts";
export { verifyToken, parseCompact, MAX_CLOCK_TOLERANCE_SECONDS, type TokenCheck } from "./token.ts";
export type { ReplayStore } from "./replay/store.ts";
export { memoryReplayStore, type MemoryReplayOptions } from "./replay/memory.ts";
export { sqliteReplayStore, type SqliteReplayOptions } from "./replay/sqlite.ts";
export { remoteRedemption, redeem, type RemoteRedemptionOptions, type RedeemResponse } from "./replay/remote.ts";
export { sendReceipt, type Receipt } from "./receipt.ts";
export { gateMiddleware, type GateMiddlewareOptions, type GateVariables } from "./hono.ts";
export { gatedAccount, type GatedAccountOptions, type AttestedIntent, type SigningRequest } from "./viem.ts";
