// Remote redemption: executors on several hosts share single use through the sidecar, which marks the attestation
// used atomically (`POST /v1/attestations/{jti}/redeem`) and tells whether this caller was first.
import { GATE_ERROR_CODES, GateError, type GateErrorCode } from "../errors.ts";
import { requireSecureUrl } from "../url.ts";
import type { ReplayStore } from "./store.ts";

export interface RemoteRedemptionOptions {
  /** Base URL of the sidecar's agent listener, e.g. `http://127.0.0.1:7400`. */
  url: string | URL;
  /** Bearer token for the agent listener (omit in dev mode). */
  token?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface RedeemResponse {
  jti: string;
  redeemed: boolean;
  first: boolean;
  redeemed_at?: string;
}

/** Calls the sidecar's redeem endpoint. Any failure to get a clear answer throws (the gate fails closed). */
export async function redeem(opts: RemoteRedemptionOptions, jti: string, attestation: string): Promise<RedeemResponse> {
  const doFetch = opts.fetch ?? fetch;
  const url = new URL(`/v1/attestations/${encodeURIComponent(jti)}/redeem`, opts.url);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await doFetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ attestation }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
  });
  const body = (await res.json().catch(() => ({}))) as Partial<RedeemResponse> & { error?: string; message?: string };
  if (!res.ok || typeof body.first !== "boolean") {
    if (res.status === 403 && (GATE_ERROR_CODES as readonly string[]).includes(body.error ?? "")) {
      throw Object.assign(new Error(body.message ?? body.error), { gateCode: body.error as GateErrorCode });
    }
    throw new Error(
      `sidecar redemption failed: HTTP ${res.status}${body.error ? ` ${body.error}` : ""}${body.message ? `: ${body.message}` : ""}`,
    );
  }
  return body as RedeemResponse;
}

/** A replay store backed by the sidecar. `has` only knows uses made through this process (a local cache); the
 * authoritative answer comes from `consume`, which the gate calls before the action runs. */
export function remoteRedemption(opts: RemoteRedemptionOptions): ReplayStore {
  // the attestation and the agent listener's bearer token travel to this URL
  requireSecureUrl(opts.url, "remoteRedemption: the sidecar URL", "use replayFile on each executor host");
  const local = new Map<string, number>();
  return {
    has(jti) {
      const until = local.get(jti);
      return until !== undefined && until >= Date.now() / 1000;
    },
    async consume(jti, expiresAt, token) {
      let answer: RedeemResponse;
      try {
        answer = await redeem(opts, jti, token);
      } catch (e) {
        // Fail closed: without the sidecar's word we cannot know we are first. A sidecar that refuses the token
        // itself answers with a gate code, which we pass on; anything else is an outage, not a verdict.
        const code = (e as { gateCode?: GateErrorCode }).gateCode;
        if (code)
          throw new GateError(code, `the sidecar refused to redeem attestation ${jti}: ${(e as Error).message}`, {
            jti,
          });
        throw new Error(
          `could not redeem attestation ${jti} at the sidecar, refusing to run: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      }
      if (local.size > 10_000) for (const [k, v] of local) if (v < Date.now() / 1000) local.delete(k);
      local.set(jti, expiresAt);
      return answer.first;
    },
  };
}
