// Attestation claims (SPEC section 4): what the sidecar signs and what executors and the proxy check.
import { parseTransaction, type Hex } from "viem";
import { intentDigest, type Intent } from "./intent.ts";
import { sha256Digest, jcsDigest } from "./jcs.ts";

export const ATTESTATION_TYP = "intent-attestation+jwt";
/** Algorithms a verifier accepts; both name Ed25519 signatures. Everything else is refused. */
export const ATTESTATION_ALGS = ["Ed25519", "EdDSA"] as const;
export const AUDIENCE_EXECUTOR = "intent-executor";
export const AUDIENCE_PROXY = "intent-proxy";
export const DEFAULT_ISSUER = "intent-sidecar";
export const DEFAULT_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 3600;
/** The header that carries an attestation on HTTP requests (proxy and executor middleware). */
export const ATTESTATION_HEADER = "x-intent-attestation";

export interface EvmBinding {
  chain_id: number;
  to: string; // lower-case address
  value: string; // wei, decimal string
  selector: string | null; // 0x + 8 hex digits, or null for a plain transfer
}

export interface HttpBinding {
  method: string;
  url: string;
  body_digest: string; // sha256:<hex> of the request body bytes (see httpBodyDigest)
}

export interface IntentClaim {
  action: string;
  digest: string;
  evm?: EvmBinding;
  http?: HttpBinding;
}

export interface ApprovalClaim {
  hold_id: string;
  approvers: string[];
  approved_at: string;
}

export interface AttestationClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  intent: IntentClaim;
  policy: { digest: string };
  approval?: ApprovalClaim;
}

/** Default audience by action kind: `http.request` attestations are redeemed at the proxy, all else at executors. */
export function defaultAudience(action: string): string {
  return action === "http.request" ? AUDIENCE_PROXY : AUDIENCE_EXECUTOR;
}

/** Normalized transaction fields of an `evm.transaction` intent (either form). */
export function evmTransactionFields(params: Record<string, unknown>): {
  chain_id: number | undefined;
  to: string | undefined;
  value: bigint;
  data: Hex | undefined;
} {
  if (typeof params.serialized === "string") {
    const tx = parseTransaction(params.serialized as Hex);
    return {
      chain_id: (params.chain_id as number | undefined) ?? tx.chainId,
      to: tx.to ?? undefined,
      value: tx.value ?? 0n,
      data: tx.data,
    };
  }
  return {
    chain_id: params.chain_id as number,
    to: params.to as string,
    value: BigInt((params.value as string) ?? "0"),
    data: params.data as Hex | undefined,
  };
}

/** The 4-byte function selector of calldata, or null when there is none. */
export function selectorOf(data: string | undefined): string | null {
  if (!data || data.length < 10) return null;
  return data.slice(0, 10).toLowerCase();
}

/** Digest of an HTTP body as the proxy sees it: raw bytes for strings and buffers, JCS for JSON values. */
export function httpBodyDigest(body: unknown): string {
  if (body === undefined || body === null) return sha256Digest("");
  if (typeof body === "string" || body instanceof Uint8Array) return sha256Digest(body);
  return jcsDigest(body);
}

/** The `intent` claim for an intent: its digest plus the action-specific binding executors and the proxy check.
 * `digest`: the intent's digest when the caller has already computed it (the pipeline has), else computed here. */
export function intentClaim(intent: Intent, digest: string = intentDigest(intent)): IntentClaim {
  const claim: IntentClaim = { action: intent.action, digest };
  if (intent.action === "evm.transaction") {
    const tx = evmTransactionFields(intent.params);
    claim.evm = {
      chain_id: tx.chain_id ?? 0,
      to: (tx.to ?? "").toLowerCase(),
      value: tx.value.toString(),
      selector: selectorOf(tx.data),
    };
  } else if (intent.action === "evm.typed_data") {
    const td = intent.params.typed_data as { domain?: { verifyingContract?: string } } | undefined;
    claim.evm = {
      chain_id: intent.params.chain_id as number,
      to: (td?.domain?.verifyingContract ?? "").toLowerCase(),
      value: "0",
      selector: null,
    };
  } else if (intent.action === "http.request") {
    claim.http = {
      method: String(intent.params.method),
      url: String(intent.params.url),
      body_digest: httpBodyDigest(intent.params.body),
    };
  }
  return claim;
}
