// Turns one MCP `tools/call` into a `tool.call` intent at the sidecar's agent API and says what the proxy does with
// it: forward (APPROVED, with the attestation) or answer the model itself (DENIED, still PENDING, expired, or the
// sidecar could not decide: fail closed).
//
// Retries of a held call must find the same hold, so every intent carries an idempotency key derived from the call:
// `mcp:<sha256 of JCS {agent, tool, args}>`, plus `:<n>` for the n-th use of the same call. An identical call is
// expected to run again once the previous one has run (fetching the same page twice), so once this proxy has
// forwarded an approval, or told the model a final DENIED or EXPIRED, that key is spent and the next identical call
// moves on to the next key and is decided afresh. An idempotent answer this process has not seen (the proxy
// restarted) is also treated as spent when it cannot be the approval of a hold someone is retrying: an approval
// without a hold (it was forwarded when it was issued) or an expired one.
import { createHash } from "node:crypto";
import { canonicalize, intentDigest } from "../../protocol/index.ts";
import { agentFetch } from "./agent-fetch.ts";
import { createClient, SidecarError, WaitTimeoutError, type Decision, type SidecarClient } from "../../sdk/index.ts";

export const ATTESTATION_META = "io.intent-sidecar/attestation";
export const INTENT_ID_META = "io.intent-sidecar/intent_id";
export const DECISION_META = "io.intent-sidecar/decision";

export interface GovernorOptions {
  /** Agent API base URL (default http://127.0.0.1:7400). */
  sidecarUrl?: string;
  /** Agent token; the sidecar takes the agent's name from it. */
  token?: string;
  /** Agent name sent in the intent (needed for a sidecar in dev mode; must match the token's name otherwise). */
  agent?: string;
  /** The server's name: tool `x` is governed as `<server>.x`. */
  server: string;
  /** How long a held call waits for an operator before the model is told to retry (ms, default 30 000). */
  holdWaitMs?: number;
  /** Length of one long-poll round, after which a progress notification is sent (ms, default 5000). */
  pollRoundMs?: number;
  /** Hide the tools the policy denies outright from tools/list (default true; `--no-hide-denied`). */
  hideDenied?: boolean;
  fetch?: typeof fetch;
}

export interface Progress {
  progress: number;
  total: number;
  message: string;
}

export type Outcome =
  | {
      kind: "forward";
      tool: string;
      intentId: string;
      attestation: string;
      /** The policy redacted PII in the arguments: forward these (the attestation binds them), not the model's. */
      args?: Record<string, unknown>;
    }
  | {
      kind: "refuse";
      tool: string;
      decision: "DENIED" | "PENDING" | "EXPIRED" | "UNAVAILABLE";
      text: string;
      intentId?: string;
      holdId?: string;
      reasons?: { block: string; rule: string; message: string }[];
    };

/** How long tools/list waits for the sidecar's screening answer (ms). */
const SCREEN_TIMEOUT_MS = 10_000;
/** Names per screening request, and the longest governed name the route takes (sidecar/api/tools-screen.ts). */
const SCREEN_BATCH = 200;
const SCREEN_MAX_NAME = 512;

/** How many spent keys of one call are skipped before giving up (each skip is one idempotent replay). */
const MAX_GENERATIONS = 1000;

export class Governor {
  readonly sidecarUrl: string;
  private readonly client: SidecarClient;
  private readonly holdWaitMs: number;
  private readonly pollRoundMs: number;
  /** base key → the first generation not known to be spent */
  private readonly generations = new Map<string, number>();
  /** intent ids whose outcome this proxy already acted on (forwarded, or reported as final) */
  private readonly spent = new Set<string>();
  readonly hideDenied: boolean;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: GovernorOptions) {
    this.sidecarUrl = (opts.sidecarUrl ?? "http://127.0.0.1:7400").replace(/\/+$/, "");
    this.client = createClient({
      baseUrl: this.sidecarUrl,
      ...(opts.token ? { token: opts.token } : {}),
      fetch: opts.fetch ?? agentFetch,
    });
    this.holdWaitMs = opts.holdWaitMs ?? 30_000;
    this.pollRoundMs = opts.pollRoundMs ?? 5_000;
    this.hideDenied = opts.hideDenied ?? true;
    this.fetchFn = opts.fetch ?? agentFetch;
  }

  /** The MCP tool names (of `tools`) the policy denies outright by name, from `POST /v1/tools/screen`. Throws when
   * the sidecar cannot answer (the relay then fails closed). */
  async deniedTools(tools: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const denied = new Set<string>();
    const governed = new Map<string, string>();
    for (const t of tools) {
      const name = this.toolName(t);
      // a name the sidecar would refuse to screen cannot be shown as allowed: hidden (its calls are decided anyway)
      if (t.length === 0 || name.length > SCREEN_MAX_NAME) denied.add(t);
      else governed.set(name, t);
    }
    const names = [...governed.keys()];
    for (let i = 0; i < names.length; i += SCREEN_BATCH) {
      const res = await this.fetchFn(`${this.sidecarUrl}/v1/tools/screen`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        body: JSON.stringify({ tools: names.slice(i, i + SCREEN_BATCH) }),
        signal: signal ?? AbortSignal.timeout(SCREEN_TIMEOUT_MS),
      });
      const body = (await res.json().catch(() => undefined)) as
        { denied?: unknown; error?: string; message?: string } | undefined;
      if (!res.ok || !Array.isArray(body?.denied))
        throw new Error(`${body?.message ?? body?.error ?? "unexpected answer"} (HTTP ${res.status})`);
      for (const name of body.denied) {
        const t = typeof name === "string" ? governed.get(name) : undefined;
        if (t !== undefined) denied.add(t);
      }
    }
    return denied;
  }

  /** A forwarded call's result with PII redacted per the policy (`POST /v1/intents/{id}/result`). Throws when the
   * sidecar cannot screen it (the relay then withholds the result: fail closed). */
  async redactResult(intentId: string, result: unknown, signal?: AbortSignal): Promise<unknown> {
    const res = await this.fetchFn(`${this.sidecarUrl}/v1/intents/${encodeURIComponent(intentId)}/result`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
      },
      body: JSON.stringify({ result }),
      signal: signal ?? AbortSignal.timeout(SCREEN_TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => undefined)) as
      { result?: unknown; error?: string; message?: string } | undefined;
    if (!res.ok || !body || !("result" in body))
      throw new Error(`${body?.message ?? body?.error ?? "unexpected answer"} (HTTP ${res.status})`);
    return body.result;
  }

  /** The governed tool name of an MCP tool. */
  toolName(tool: string): string {
    return `${this.opts.server}.${tool}`;
  }

  /** Decides one call. Never throws except on abort: anything that keeps the sidecar from deciding is a refusal. */
  async govern(
    mcpTool: string,
    args: Record<string, unknown>,
    o: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {},
  ): Promise<Outcome> {
    const tool = this.toolName(mcpTool);
    try {
      return await this.decide(tool, args, o);
    } catch (e) {
      if (o.signal?.aborted) throw e;
      const why =
        e instanceof SidecarError
          ? `${e.message}${e.status ? ` (HTTP ${e.status})` : ""}`
          : ((e as Error)?.message ?? String(e));
      return {
        kind: "refuse",
        tool,
        decision: "UNAVAILABLE",
        text:
          `Tool call ${tool} was refused: the intent sidecar at ${this.sidecarUrl} could not decide it (${why}). ` +
          `Nothing was sent to the server; every call is refused while the sidecar cannot decide.`,
      };
    }
  }

  private async decide(
    tool: string,
    args: Record<string, unknown>,
    o: { signal?: AbortSignal; onProgress?: (p: Progress) => void },
  ): Promise<Outcome> {
    const base = createHash("sha256")
      .update(canonicalize({ agent: this.opts.agent ?? "", tool, args }))
      .digest("hex");
    for (let i = 0; i < MAX_GENERATIONS; i++) {
      const gen = this.generations.get(base) ?? 0;
      const t0 = Date.now();
      let d: Decision = await this.client.declare({
        ...(this.opts.agent !== undefined ? { agent: this.opts.agent } : {}),
        action: "tool.call",
        params: { tool, args },
        idempotency_key: gen === 0 ? `mcp:${base}` : `mcp:${base}:${gen}`,
      });
      if (this.spent.has(d.intent_id) || staleApproval(d, t0)) {
        this.spend(base, gen, d.intent_id);
        continue;
      }
      if (d.decision === "PENDING") {
        // the PENDING answer names the redacted form an approval will attest; a later read may not repeat it
        const redacted = d.redacted;
        d = await this.waitForHold(d, tool, o);
        if (redacted && d.decision === "APPROVED" && !d.redacted) d = { ...d, redacted };
      }
      // what happens now is final for this key unless the intent is still held (a retry finds the same hold)
      if (d.decision !== "PENDING") {
        // another identical call may have acted on this intent while this one waited
        if (this.spent.has(d.intent_id)) {
          this.spend(base, gen, d.intent_id);
          continue;
        }
        this.spend(base, gen, d.intent_id);
      }
      return this.outcome(tool, d, args);
    }
    throw new Error(`more than ${MAX_GENERATIONS} spent idempotency keys for this call`);
  }

  private spend(base: string, gen: number, intentId: string): void {
    this.spent.add(intentId);
    if ((this.generations.get(base) ?? 0) <= gen) this.generations.set(base, gen + 1);
  }

  /** Long-polls in rounds, reporting progress after each, until the hold is decided or the wait is over. */
  private async waitForHold(
    d: Decision,
    tool: string,
    o: { signal?: AbortSignal; onProgress?: (p: Progress) => void },
  ): Promise<Decision> {
    const holdId = d.decision === "PENDING" ? d.hold.id : "";
    const t0 = Date.now();
    const total = Math.round(this.holdWaitMs / 1000);
    const report = () =>
      o.onProgress?.({
        progress: Math.min(total, Math.round((Date.now() - t0) / 1000)),
        total,
        message: `${tool} is held for operator approval (hold ${holdId}); waiting up to ${total} s`,
      });
    report();
    while (d.decision === "PENDING") {
      const left = t0 + this.holdWaitMs - Date.now();
      if (left <= 0) break;
      try {
        d = await this.client.waitFor(d.intent_id, {
          timeoutMs: Math.min(this.pollRoundMs, left),
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (e) {
        if (!(e instanceof WaitTimeoutError)) throw e;
      }
      if (d.decision === "PENDING") report();
    }
    return d;
  }

  private outcome(tool: string, d: Decision, args: Record<string, unknown>): Outcome {
    const reasons = d.reasons ?? [];
    const why = reasons.map((r) => `- ${r.message} (${r.block}.${r.rule})`).join("\n");
    switch (d.decision) {
      case "APPROVED": {
        // forward exactly what the attestation binds: the redacted arguments when the policy redacted some, else the
        // model's; an approval of a form this proxy does not have (a redacted one, after a restart) is refused
        const claims = attestationClaims(d.attestation) as { sub?: string; intent?: { digest?: string } } | undefined;
        const bound = (params: Record<string, unknown>) =>
          claims?.intent?.digest === intentDigest({ agent: claims?.sub ?? "", action: "tool.call", params });
        const redacted = d.redacted?.params;
        const rargs = redacted?.args;
        if (rargs && typeof rargs === "object" && !Array.isArray(rargs) && redacted?.tool === tool && bound(redacted))
          return { kind: "forward", tool, intentId: d.intent_id, attestation: d.attestation, args: rargs as Record<string, unknown> };
        if (!bound({ tool, args }))
          return {
            kind: "refuse",
            tool,
            decision: "DENIED",
            intentId: d.intent_id,
            reasons,
            text:
              `Tool call ${tool} was approved only with PII redacted from its arguments, and this proxy does not ` +
              `have the redacted arguments (intent ${d.intent_id}); it was not run.`,
          };
        return { kind: "forward", tool, intentId: d.intent_id, attestation: d.attestation };
      }
      case "DENIED":
        return {
          kind: "refuse",
          tool,
          decision: "DENIED",
          intentId: d.intent_id,
          reasons,
          text: `Tool call ${tool} was denied by policy and was not run.${why ? `\nReasons:\n${why}` : ""}`,
        };
      case "EXPIRED":
        return {
          kind: "refuse",
          tool,
          decision: "EXPIRED",
          intentId: d.intent_id,
          reasons,
          text:
            `Tool call ${tool} was held for operator approval, but the hold expired before anyone approved it; ` +
            `it was not run. Calling it again asks for a new approval.`,
        };
      case "PENDING":
        return {
          kind: "refuse",
          tool,
          decision: "PENDING",
          intentId: d.intent_id,
          holdId: d.hold.id,
          reasons,
          text:
            `Tool call ${tool} is held for operator approval (hold ${d.hold.id}, expires ${d.hold.expires_at}) ` +
            `and was not run yet. Retry the same call with the same arguments later: it runs once the hold is ` +
            `approved.${why ? `\nReasons:\n${why}` : ""}`,
        };
    }
  }
}

/** An approval issued before this declaration (`t0`, ms) that cannot be a hold waiting for its retry: it was issued
 * without a hold (so it was forwarded when issued), or its attestation has expired. */
function staleApproval(d: Decision, t0: number): boolean {
  if (d.decision !== "APPROVED") return false;
  if (Date.parse(d.expires_at) <= Date.now()) return true;
  const claims = attestationClaims(d.attestation);
  if (!claims || claims.approval) return false;
  return typeof claims.iat === "number" && claims.iat < Math.floor(t0 / 1000);
}

function attestationClaims(jws: string): { approval?: unknown; iat?: number; sub?: string; intent?: unknown } | undefined {
  try {
    return JSON.parse(Buffer.from(jws.split(".")[1] ?? "", "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}
