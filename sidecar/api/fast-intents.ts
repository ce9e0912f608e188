// The hot path, POST /v1/intents, served straight on node:http; every other route (and anything unusual on this
// one) goes to the hono app. Hono's node adapter turns each request into a WHATWG Request and reads the body through
// web streams, which costs more than the whole decision; the benchmark (docs/performance/decisions.md) measures it.
// Behaviour is identical to the hono route (same auth, limits, error bodies), and the API tests run through it.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import type { Pipeline } from "../pipeline.ts";
import type { TokenAuth } from "./auth.ts";

export interface FastPathDeps {
  pipeline: Pipeline;
  auth: TokenAuth;
  bodyLimitBytes: number;
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...extra });
  res.end(text);
}

function tooLarge(res: ServerResponse, limit: number): void {
  send(res, 413, { error: "body_too_large", message: `the body exceeds ${limit} bytes` }, { connection: "close" });
}

function invalidJson(res: ServerResponse, e: unknown): void {
  send(res, 400, {
    error: "invalid_json",
    message: `the body is not valid JSON: ${(e as Error).message}`,
    issues: [{ path: "(body)", message: "is not valid JSON" }],
  });
}

// Per-request state hangs off the request; the listeners are module-level functions (`this` is the request).
// No closures per request: tsx (esbuild keepNames) wraps every named closure in a defineProperty call, which showed up
// as ~5% of a decision's CPU in the benchmark profile.
const STATE = Symbol("intentRequest");

interface IntentRequestState {
  res: ServerResponse;
  deps: FastPathDeps;
  agent: string | undefined;
  chunks: Buffer[];
  size: number;
  failed: boolean;
}

type StatefulRequest = IncomingMessage & { [STATE]: IntentRequestState };

function onData(this: StatefulRequest, c: Buffer): void {
  const st = this[STATE];
  if (st.failed) return;
  st.size += c.length;
  if (st.size > st.deps.bodyLimitBytes) {
    st.failed = true;
    tooLarge(st.res, st.deps.bodyLimitBytes);
    this.resume();
    return;
  }
  st.chunks.push(c);
}

function onError(this: StatefulRequest): void {
  this[STATE].failed = true;
}

function onEnd(this: StatefulRequest): void {
  const st = this[STATE];
  if (st.failed) return;
  const text = st.chunks.length === 1 ? st.chunks[0]!.toString("utf8") : Buffer.concat(st.chunks).toString("utf8");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    invalidJson(st.res, e);
    return;
  }
  const res = st.res;
  st.deps.pipeline.decide(body, st.agent).then(
    (r) => send(res, r.status, r.body),
    () => send(res, 500, { error: "internal_error", message: "internal error; nothing was approved" }),
  );
}

/** A node:http request listener: POST /v1/intents directly, everything else via hono. */
export function agentRequestListener(app: Hono<any>, deps: FastPathDeps): RequestListener {
  const viaHono = getRequestListener(app.fetch);
  return function agentListener(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "POST" || (req.url !== "/v1/intents" && req.url !== "/v1/intents/")) {
      void viaHono(req, res);
      return;
    }
    const auth = deps.auth.check(req.headers.authorization);
    if (!auth.ok) {
      req.resume();
      send(
        res,
        401,
        { error: "unauthorized", message: "missing or unknown agent token (Authorization: Bearer <token>)" },
        {
          "www-authenticate": 'Bearer realm="intent-sidecar"',
        },
      );
      return;
    }
    if (Number(req.headers["content-length"] ?? NaN) > deps.bodyLimitBytes) {
      tooLarge(res, deps.bodyLimitBytes);
      req.resume();
      return;
    }
    (req as StatefulRequest)[STATE] = { res, deps, agent: auth.agent, chunks: [], size: 0, failed: false };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  };
}
