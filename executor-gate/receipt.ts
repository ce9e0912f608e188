// Execution receipts: after the action ran, tell the sidecar what happened so the audit shows what actually ran.
import { ATTESTATION_HEADER } from "@intent-sidecar/protocol/attestation";
import { GateError } from "./errors.ts";
import { requireSecureUrl } from "./url.ts";

export interface Receipt {
  outcome: "succeeded" | "failed";
  tx_hash?: string;
  /** A short description of the failure. Never put secrets or request bodies here: it is audited. */
  error?: string;
}

/** The intent id (`jti`) an attestation names, read without verifying it: the sidecar verifies what it is sent. */
function jtiOf(attestation: string): string {
  const payload = attestation.split(".")[1];
  try {
    const jti = (JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as { jti?: unknown }).jti;
    if (typeof jti === "string" && jti.length > 0) return jti;
  } catch {
    // falls through
  }
  throw new GateError("malformed", "sendReceipt: the attestation is not a compact JWS with a jti");
}

/** Reports what ran for an attested intent. `opts.token` is an executor token; the attestation proves the executor
 * held the intent's attestation (the sidecar refuses receipts without it, so no one else can answer for an intent). */
export async function sendReceipt(
  opts: { url: string | URL; token?: string; fetch?: typeof fetch; timeoutMs?: number },
  attestation: string,
  receipt: Receipt,
): Promise<{ intent_id: string; recorded: boolean }> {
  requireSecureUrl(opts.url, "sendReceipt: the sidecar URL", "send receipts from the sidecar's host"); // bearer token
  const intentId = jtiOf(attestation);
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    [ATTESTATION_HEADER]: attestation,
  };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await doFetch(new URL(`/v1/intents/${encodeURIComponent(intentId)}/receipt`, opts.url), {
    method: "POST",
    headers,
    body: JSON.stringify(receipt),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
  });
  const body = (await res.json().catch(() => ({}))) as {
    error?: string;
    message?: string;
    intent_id?: string;
    recorded?: boolean;
  };
  if (!res.ok)
    throw new Error(
      `receipt for ${intentId} was refused: HTTP ${res.status} ${body.error ?? ""} ${body.message ?? ""}`.trim(),
    );
  return { intent_id: body.intent_id ?? intentId, recorded: body.recorded ?? true };
}
