// Agent-side client of the sidecar's agent API (SPEC section 3):
//   const sidecar = createClient({ baseUrl: "http://127.0.0.1:7400", token: process.env.SIDECAR_TOKEN });
//   const d = await sidecar.declare({ action: "evm.transaction", params: {...} });
//   if (d.decision === "PENDING") d = await sidecar.waitFor(d.intent_id, { timeoutMs: 600_000 });
//   if (d.decision === "APPROVED") execute(withAttestation(d.attestation));
import type { DecisionResponse, HoldSummary } from "@intent-sidecar/protocol/decision";
import type { InputIssue, Reason } from "@intent-sidecar/protocol/errors";
import {
  AuthError,
  IdempotencyConflictError,
  InvalidIntentError,
  PolicyUnavailableError,
  SidecarError,
  SidecarUnavailableError,
  WaitTimeoutError,
} from "./errors.ts";

export * from "./errors.ts";
export type { DecisionResponse, HoldSummary };
export type { Reason, InputIssue };

/** What an agent declares. `agent` may be left out when the client has a default or the token names the agent. */
export interface IntentInput {
  agent?: string;
  action: string;
  params: Record<string, unknown>;
  context?: Record<string, unknown>;
  idempotency_key?: string;
  /** What the action costs: an exact decimal string and a currency or unit code, e.g. {amount: "0.42", currency:
   * "USD"}. Summed per agent, team and tenant against the operator's budgets; bound by the attestation. */
  cost?: { amount: string; currency: string };
}

export type Approved = DecisionResponse & { decision: "APPROVED"; attestation: string; expires_at: string };
export type Denied = DecisionResponse & { decision: "DENIED" };
export type Pending = DecisionResponse & { decision: "PENDING"; hold: HoldSummary };
export type Expired = DecisionResponse & { decision: "EXPIRED" };
export type Decision = Approved | Denied | Pending | Expired;

export interface ClientOptions {
  /** Agent API base URL; default http://127.0.0.1:7400. */
  baseUrl?: string;
  /** Agent bearer token (omit in dev mode). */
  token?: string;
  /** Default `agent` for declare() when the intent has none. */
  agent?: string;
  /** Custom fetch (tests, proxies). */
  fetch?: typeof fetch;
}

export interface SidecarClient {
  /** Declares an intent and returns the decision: APPROVED (with attestation), DENIED (with reasons) or PENDING. */
  declare(intent: IntentInput): Promise<Decision>;
  /** The intent's current state. */
  get(intentId: string): Promise<Decision>;
  /** Long-polls until the intent leaves PENDING; throws WaitTimeoutError after `timeoutMs` (default 5 minutes). */
  waitFor(intentId: string, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Decision>;
  /** The sidecar's public signing keys (for executors that verify attestations). */
  jwks(): Promise<{ keys: Record<string, unknown>[] }>;
}

const MAX_POLL_SECONDS = 30;

export function createClient(opts: ClientOptions = {}): SidecarClient {
  const base = (opts.baseUrl ?? "http://127.0.0.1:7400").replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;

  async function call(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; json: any }> {
    let res: Response;
    try {
      res = await doFetch(base + path, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if ((e as Error)?.name === "AbortError") throw e;
      throw new SidecarUnavailableError(`cannot reach the sidecar at ${base}: ${(e as Error).message}`, e);
    }
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SidecarUnavailableError(`the sidecar at ${base} answered ${res.status} with a non-JSON body`);
    }
    if (res.status === 200 || res.status === 202) return { status: res.status, json };
    const code = typeof json?.error === "string" ? json.error : `http_${res.status}`;
    const message = typeof json?.message === "string" ? json.message : code;
    switch (res.status) {
      case 400:
        throw new InvalidIntentError(
          json?.issues?.length
            ? `${message}: ${json.issues.map((i: { path: string; message: string }) => `${i.path} ${i.message}`).join("; ")}`
            : message,
          json?.issues ?? [],
          code,
        );
      case 401:
      case 403:
        throw new AuthError(code, message, res.status);
      case 409:
        throw new IdempotencyConflictError(message);
      case 503:
        throw new PolicyUnavailableError(message);
      default:
        throw new SidecarError(code, message, res.status);
    }
  }

  const client: SidecarClient = {
    async declare(intent) {
      const body = intent.agent === undefined && opts.agent !== undefined ? { ...intent, agent: opts.agent } : intent;
      return (await call("POST", "/v1/intents", body)).json as Decision;
    },
    async get(intentId) {
      return (await call("GET", `/v1/intents/${encodeURIComponent(intentId)}`)).json as Decision;
    },
    async waitFor(intentId, o = {}) {
      const timeoutMs = o.timeoutMs ?? 5 * 60_000;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const left = deadline - Date.now();
        const wait = Math.max(0, Math.min(MAX_POLL_SECONDS, Math.floor(left / 1000)));
        const d = (await call("GET", `/v1/intents/${encodeURIComponent(intentId)}?wait=${wait}`, undefined, o.signal))
          .json as Decision;
        if (d.decision !== "PENDING") return d;
        if (Date.now() >= deadline) throw new WaitTimeoutError(intentId, timeoutMs);
        if (wait === 0) await new Promise((r) => setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now()))));
      }
    },
    async jwks() {
      return (await call("GET", "/.well-known/jwks.json")).json;
    },
  };
  return client;
}
