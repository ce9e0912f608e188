// The agent listener's request handler: the hot path, POST /v1/intents, answered directly from the parsed request;
// every other route (and anything unusual on this one) goes to the hono app. Behaviour is identical to the hono
// route (same auth, limits, error bodies); the API tests run through it, the benchmark
// (docs/performance/decisions.md) measures it.
import type { Hono } from "hono";
import { fetchAdapter } from "../http1/fetch-adapter.ts";
import { INTERNAL_ERROR, jsonResponse } from "../http1/response.ts";
import { Http1Server, type Http1Handler, type Http1ServerOptions } from "../http1/server.ts";
import type { Pipeline } from "../pipeline.ts";
import type { TokenAuth } from "./auth.ts";

export interface FastPathDeps {
  pipeline: Pipeline;
  auth: TokenAuth;
  bodyLimitBytes: number;
}

const UNAUTHORIZED = jsonResponse(
  401,
  { error: "unauthorized", message: "missing or unknown agent token (Authorization: Bearer <token>)" },
  { "content-type": "application/json", "www-authenticate": 'Bearer realm="intent-sidecar"' },
);

const EXECUTOR_FORBIDDEN = jsonResponse(403, {
  error: "forbidden",
  message: "executor tokens redeem attestations and post receipts; they cannot declare or read intents",
});

/** The agent listener's handler: POST /v1/intents directly, everything else via hono. */
export function agentHandler(app: Hono<any>, deps: FastPathDeps): Http1Handler {
  const viaHono = fetchAdapter(app.fetch);
  return (req) => {
    if (req.method !== "POST" || (req.target !== "/v1/intents" && req.target !== "/v1/intents/")) return viaHono(req);
    const auth = deps.auth.check(req.headers.get("authorization"));
    if (!auth.ok) return UNAUTHORIZED;
    if (auth.role === "executor") return EXECUTOR_FORBIDDEN;
    return deps.pipeline.decideText(req.body.toString("utf8"), auth.agent).then(
      (r) => jsonResponse(r.status, r.body),
      () => INTERNAL_ERROR,
    );
  };
}

/** The agent listener: the HTTP/1.1 server with the agent handler; bodies over the limit get 413 before any route. */
export function createAgentServer(app: Hono<any>, deps: FastPathDeps, options: Http1ServerOptions = {}): Http1Server {
  return new Http1Server(agentHandler(app, deps), { maxBodyBytes: deps.bodyLimitBytes, ...options });
}
