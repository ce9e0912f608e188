// The governing relay between one MCP client and one upstream MCP server, at the JSON-RPC message level over the
// SDK's transports: every message passes through unchanged (ids included: the proxy sends no requests of its own)
// except `tools/call`, which is decided by the sidecar first (see governor.ts), cancellations of calls that are
// still being decided, and `tools/list` answers, from which the tools the policy denies outright are removed (unless
// `--no-hide-denied`; an error when the sidecar cannot screen them).
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ErrorCode,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { ATTESTATION_META, DECISION_META, INTENT_ID_META, type Governor } from "./governor.ts";

export interface RelayOptions {
  governor: Governor;
  log: (line: Record<string, unknown>) => void;
}

interface InFlight {
  method: string;
  progressToken?: string | number;
  /** set while the sidecar decides a tools/call: a cancellation aborts the decision */
  deciding?: AbortController;
  /** a forwarded tools/call: its intent, whose result is redacted by the sidecar before the client sees it */
  intentId?: string;
}

type WithInvalid = Transport & { oninvalid?: (id: RequestId | undefined, error: string) => void };

export class Relay {
  private readonly inflight = new Map<RequestId, InFlight>();
  /** progress token → the client request it belongs to (progress from upstream travels with its request) */
  private readonly progress = new Map<string | number, RequestId>();
  private closed = false;
  onclose?: () => void;

  constructor(
    private readonly client: WithInvalid,
    private readonly upstream: WithInvalid,
    private readonly opts: RelayOptions,
  ) {}

  async start(): Promise<void> {
    this.client.onmessage = (m) => this.fromClient(m);
    this.upstream.onmessage = (m) => this.fromUpstream(m);
    this.client.onerror = (e) => this.opts.log({ event: "mcp.client_error", error: e.message });
    this.upstream.onerror = (e) => this.opts.log({ event: "mcp.upstream_error", error: e.message });
    // a broken answer from the server to a client request: the client gets an error instead of waiting forever
    this.upstream.oninvalid = (id) => {
      if (id === undefined || !this.inflight.has(id)) return;
      this.finish(id);
      this.toClient({
        jsonrpc: "2.0",
        id,
        error: { code: ErrorCode.InternalError, message: "the MCP server sent a malformed answer to this request" },
      });
    };
    this.client.onclose = () => void this.close();
    this.upstream.onclose = () => void this.close();
    await this.upstream.start();
    await this.client.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.inflight.values()) f.deciding?.abort();
    const up = this.upstream as Transport & { terminateSession?: () => Promise<void> };
    await up.terminateSession?.().catch(() => {});
    await Promise.allSettled([this.upstream.close(), this.client.close()]);
    this.onclose?.();
  }

  private fromClient(m: JSONRPCMessage): void {
    if (isJSONRPCRequest(m)) {
      const token = m.params?._meta?.progressToken;
      const f: InFlight = { method: m.method };
      if (token !== undefined) {
        f.progressToken = token;
        this.progress.set(token, m.id);
      }
      this.inflight.set(m.id, f);
      if (m.method === "tools/call")
        this.call(m, f).catch((e: Error) => {
          // never forwarded: the client gets an error rather than no answer
          this.opts.log({ event: "mcp.call_failed", error: e?.message ?? String(e) });
          this.finish(m.id);
          this.toClient(
            {
              jsonrpc: "2.0",
              id: m.id,
              error: { code: ErrorCode.InternalError, message: "internal error; the call was not forwarded" },
            },
            m.id,
          );
        });
      else this.toUpstream(m);
      return;
    }
    if (isJSONRPCNotification(m) && m.method === "notifications/cancelled") {
      const id = (m.params as { requestId?: RequestId } | undefined)?.requestId;
      const f = id !== undefined ? this.inflight.get(id) : undefined;
      if (f?.deciding && id !== undefined) {
        // still being decided: nothing reached the server, so there is nothing to cancel there
        f.deciding.abort();
        this.finish(id);
        return;
      }
    }
    this.toUpstream(m);
  }

  private fromUpstream(m: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m)) {
      const id = m.id;
      const f = id !== undefined ? this.inflight.get(id) : undefined;
      if (f && id !== undefined) {
        this.finish(id);
        if (f.method === "tools/list" && isJSONRPCResultResponse(m) && this.opts.governor.hideDenied) {
          void this.screenList(m, id);
          return;
        }
        if (f.method === "tools/call" && f.intentId !== undefined && isJSONRPCResultResponse(m)) {
          void this.screenResult(m, id, f.intentId);
          return;
        }
        if (f.method === "initialize" && isJSONRPCResultResponse(m)) {
          const version = (m.result as { protocolVersion?: unknown }).protocolVersion;
          if (typeof version === "string") this.upstream.setProtocolVersion?.(version);
        }
        this.toClient(m, id);
        return;
      }
      this.toClient(m);
      return;
    }
    if (isJSONRPCNotification(m) && m.method === "notifications/progress") {
      const token = (m.params as { progressToken?: string | number } | undefined)?.progressToken;
      const id = token !== undefined ? this.progress.get(token) : undefined;
      this.toClient(m, id);
      return;
    }
    this.toClient(m);
  }

  /** A tools/call: decide, then forward with the attestation or answer the model. */
  private async call(m: JSONRPCRequest, f: InFlight): Promise<void> {
    const params = m.params as { name?: unknown; arguments?: unknown; _meta?: Record<string, unknown> } | undefined;
    const args = params?.arguments ?? {};
    if (typeof params?.name !== "string" || typeof args !== "object" || args === null || Array.isArray(args)) {
      this.finish(m.id);
      this.toClient({
        jsonrpc: "2.0",
        id: m.id,
        error: {
          code: ErrorCode.InvalidParams,
          message: "tools/call needs params.name (a string) and params.arguments (an object)",
        },
      });
      return;
    }
    f.deciding = new AbortController();
    const signal = f.deciding.signal;
    const t0 = performance.now();
    let outcome;
    try {
      outcome = await this.opts.governor.govern(params.name, args as Record<string, unknown>, {
        signal,
        onProgress: (p) => {
          if (f.progressToken === undefined || signal.aborted) return;
          this.toClient(
            { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: f.progressToken, ...p } },
            m.id,
          );
        },
      });
    } catch (e) {
      if (signal.aborted) return; // cancelled by the client, or the relay closed: no answer is expected
      throw e;
    }
    if (signal.aborted || this.closed) return;
    delete f.deciding;
    const ms = Math.round((performance.now() - t0) * 1000) / 1000;
    if (outcome.kind === "forward") {
      this.opts.log({
        event: "mcp.call",
        tool: outcome.tool,
        decision: "APPROVED",
        intent_id: outcome.intentId,
        ...(outcome.args ? { redacted: true } : {}),
        ms,
      });
      f.intentId = outcome.intentId;
      // the attestation keys are the proxy's own: whatever the client put there is replaced; arguments the policy
      // redacted are forwarded in their redacted form (the one the attestation binds)
      const meta = { ...params._meta, [ATTESTATION_META]: outcome.attestation, [INTENT_ID_META]: outcome.intentId };
      const forwarded = outcome.args ? { ...params, arguments: outcome.args } : params;
      this.toUpstream({ ...m, params: { ...forwarded, _meta: meta } });
      return;
    }
    this.opts.log({
      event: "mcp.call",
      tool: outcome.tool,
      decision: outcome.decision,
      ...(outcome.intentId ? { intent_id: outcome.intentId } : {}),
      ...(outcome.holdId ? { hold_id: outcome.holdId } : {}),
      ms,
    });
    this.finish(m.id);
    this.toClient(
      {
        jsonrpc: "2.0",
        id: m.id,
        result: {
          content: [{ type: "text", text: outcome.text }],
          isError: true,
          _meta: {
            [DECISION_META]: {
              decision: outcome.decision,
              tool: outcome.tool,
              ...(outcome.intentId ? { intent_id: outcome.intentId } : {}),
              ...(outcome.holdId ? { hold_id: outcome.holdId } : {}),
              reasons: outcome.reasons ?? [],
            },
          },
        },
      },
      m.id,
    );
  }

  /** A tools/call result with PII redacted by the sidecar (output redaction). Fails closed: when the sidecar cannot
   * screen it, the client gets a JSON-RPC error instead of the result. */
  private async screenResult(m: JSONRPCResultResponse, id: RequestId, intentId: string): Promise<void> {
    let result: unknown;
    try {
      result = await this.opts.governor.redactResult(intentId, m.result);
      if (result === null || typeof result !== "object" || Array.isArray(result))
        throw new Error("the sidecar's answer is not a tools/call result");
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      this.opts.log({ event: "mcp.result_screen_failed", intent_id: intentId, error: why });
      this.toClient(
        {
          jsonrpc: "2.0",
          id,
          error: {
            code: ErrorCode.InternalError,
            message:
              `the tool ran, but its result was withheld: the intent sidecar at ${this.opts.governor.sidecarUrl} ` +
              `could not screen it for PII (${why})`,
          },
        },
        id,
      );
      return;
    }
    this.toClient({ ...m, result: result as JSONRPCResultResponse["result"] }, id);
  }

  /** A tools/list answer without the tools the policy denies outright by name. Fails closed: when the sidecar cannot
   * screen them, the client gets a JSON-RPC error instead of the list. */
  private async screenList(m: JSONRPCResultResponse, id: RequestId): Promise<void> {
    const tools = (m.result as { tools?: unknown }).tools;
    if (!Array.isArray(tools)) {
      this.toClient(m, id);
      return;
    }
    const names = tools.map((t) => (t as { name?: unknown } | null)?.name);
    let denied: Set<string>;
    try {
      denied = await this.opts.governor.deniedTools(names.filter((n): n is string => typeof n === "string"));
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      this.opts.log({ event: "mcp.list_screen_failed", error: why });
      this.toClient(
        {
          jsonrpc: "2.0",
          id,
          error: {
            code: ErrorCode.InternalError,
            message:
              `tools/list failed: the intent sidecar at ${this.opts.governor.sidecarUrl} could not screen the tools ` +
              `(${why}); no tools are listed while it cannot. Try again once the sidecar is reachable.`,
          },
        },
        id,
      );
      return;
    }
    // a tool without a string name cannot be governed by name: hidden as well
    const kept = tools.filter((_, i) => typeof names[i] === "string" && !denied.has(names[i] as string));
    if (kept.length !== tools.length)
      this.opts.log({ event: "mcp.tools_hidden", hidden: tools.length - kept.length, listed: kept.length });
    this.toClient({ ...m, result: { ...m.result, tools: kept } }, id);
  }

  private finish(id: RequestId): void {
    const f = this.inflight.get(id);
    if (f?.progressToken !== undefined) this.progress.delete(f.progressToken);
    this.inflight.delete(id);
  }

  private toClient(m: JSONRPCMessage, relatedRequestId?: RequestId): void {
    if (this.closed) return;
    this.client
      .send(m, relatedRequestId !== undefined ? { relatedRequestId } : undefined)
      .catch((e: Error) => this.opts.log({ event: "mcp.client_send_failed", error: e.message }));
  }

  private toUpstream(m: JSONRPCMessage): void {
    if (this.closed) return;
    this.upstream.send(m).catch((e: Error) => {
      this.opts.log({ event: "mcp.upstream_send_failed", error: e.message });
      // a request the server never got: answer it, so the client does not wait forever
      if (isJSONRPCRequest(m) && this.inflight.has(m.id)) {
        this.finish(m.id);
        this.toClient(
          {
            jsonrpc: "2.0",
            id: m.id,
            error: { code: ErrorCode.InternalError, message: `the MCP server could not be reached: ${e.message}` },
          },
          m.id,
        );
      }
    });
  }
}
