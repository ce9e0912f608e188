// Execution receipts: after the action ran, tell the sidecar what happened so the audit shows what actually ran.
import { requireSecureUrl } from "./url.ts";

export interface Receipt {
  outcome: "succeeded" | "failed";
  tx_hash?: string;
  /** A short description of the failure. Never put secrets or request bodies here: it is audited. */
  error?: string;
}

export async function sendReceipt(
  opts: { url: string | URL; token?: string; fetch?: typeof fetch; timeoutMs?: number },
  intentId: string,
  receipt: Receipt,
): Promise<{ intent_id: string; recorded: boolean }> {
  requireSecureUrl(opts.url, "sendReceipt: the sidecar URL", "send receipts from the sidecar's host"); // bearer token
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = { "content-type": "application/json" };
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
