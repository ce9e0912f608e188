// Binding an attestation to the action about to run: the intent digest is recomputed from the intent the executor
// is about to execute, and the action-specific bindings (evm, http) are compared field by field so a mismatch
// message names what changed (one wei more, another recipient, another tool argument...).
import type { Hex } from "viem";
import { intentClaim, evmTransactionFields, type AttestationClaims } from "../protocol/attestation.ts";
import type { Intent } from "../protocol/intent.ts";
import { GateError } from "./errors.ts";

/** The part of an intent the digest covers. `context` defaults to `{}` as in the sidecar. */
export type IntentInput = Pick<Intent, "agent" | "action" | "params"> & { context?: Record<string, unknown> };

function mismatch(jti: string, what: string): GateError {
  return new GateError("digest_mismatch", `the action differs from the attested intent: ${what}`, { jti });
}

/** Throws `digest_mismatch` unless `intent` is exactly what `claims` attest. The bindings are compared first only
 * to name what changed; the decision rests on the recomputed digest. */
export function checkBinding(claims: AttestationClaims, intent: IntentInput): void {
  const jti = claims.jti;
  if (!intent || typeof intent !== "object" || typeof intent.action !== "string") {
    throw new GateError("digest_mismatch", "no intent was given to bind the attestation to", { jti });
  }
  let expected;
  try {
    expected = intentClaim({ ...intent, context: intent.context ?? {} } as Intent);
  } catch (e) {
    throw new GateError(
      "digest_mismatch",
      `the intent cannot be digested: ${e instanceof Error ? e.message : String(e)}`,
      { jti },
    );
  }
  const attested = claims.intent;
  if (attested.action !== expected.action)
    throw mismatch(jti, `action is "${expected.action}", attested "${attested.action}"`);
  if (attested.evm || expected.evm) {
    const a = attested.evm;
    const e = expected.evm;
    if (!a || !e) throw mismatch(jti, "evm binding missing");
    if (a.chain_id !== e.chain_id) throw mismatch(jti, `chain id is ${e.chain_id}, attested ${a.chain_id}`);
    if (a.to !== e.to) throw mismatch(jti, `recipient is ${e.to}, attested ${a.to}`);
    if (a.value !== e.value) throw mismatch(jti, `value is ${e.value} wei, attested ${a.value} wei`);
    if (a.selector !== e.selector) throw mismatch(jti, `calldata selector is ${e.selector}, attested ${a.selector}`);
  }
  if (attested.http || expected.http) {
    const a = attested.http;
    const e = expected.http;
    if (!a || !e) throw mismatch(jti, "http binding missing");
    if (a.method !== e.method) throw mismatch(jti, `method is ${e.method}, attested ${a.method}`);
    if (a.url !== e.url) throw mismatch(jti, `url is ${e.url}, attested ${a.url}`);
    if (a.body_digest !== e.body_digest) throw mismatch(jti, "request body differs from the attested body");
  }
  if (intent.agent !== claims.sub) throw mismatch(jti, `agent is "${intent.agent}", attested "${claims.sub}"`);
  if (attested.digest !== expected.digest) {
    throw mismatch(jti, `intent digest ${expected.digest} differs from the attested ${attested.digest}`);
  }
}

/** A transaction as an executor is about to sign it (viem's shape, loosely). */
export interface TxLike {
  chainId?: number;
  to?: string | null;
  value?: bigint;
  data?: Hex;
}

const normData = (d: string | undefined | null): string => (d ?? "0x").toLowerCase();

/** Throws `digest_mismatch` unless the transaction is the one the (already digest-checked) intent declares: chain id,
 * recipient, value and the whole calldata. */
export function checkTransactionMatchesIntent(jti: string, tx: TxLike, intent: IntentInput): void {
  if (intent.action !== "evm.transaction")
    throw mismatch(jti, `a transaction needs an evm.transaction intent, got "${intent.action}"`);
  const want = evmTransactionFields(intent.params);
  if (tx.chainId !== want.chain_id) throw mismatch(jti, `chain id is ${tx.chainId}, attested ${want.chain_id}`);
  if ((tx.to ?? "").toLowerCase() !== (want.to ?? "").toLowerCase())
    throw mismatch(jti, `recipient is ${tx.to}, attested ${want.to}`);
  if ((tx.value ?? 0n) !== want.value)
    throw mismatch(jti, `value is ${tx.value ?? 0n} wei, attested ${want.value} wei`);
  if (normData(tx.data) !== normData(want.data)) throw mismatch(jti, "calldata differs from the attested calldata");
}
