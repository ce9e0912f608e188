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

/** A node:http request listener: POST /v1/intents directly, everything else via hono. */
export function agentRequestListener(app: Hono<any>, deps: FastPathDeps): RequestListener {
  const viaHono = getRequestListener(app.fetch);
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST" || (req.url !== "/v1/intents" && req.url !== "/v1/intents/")) {
      void viaHono(req, res);
      return;
    }
    const auth = deps.auth.check(req.headers.authorization);
    if (!auth.ok) {
      req.resume();
      send(res, 401, { error: "unauthorized", message: "missing or unknown agent token (Authorization: Bearer <token>)" }, {
        "www-authenticate": 'Bearer realm="intent-sidecar"',
      });
      return;
    }
    const limit = deps.bodyLimitBytes;
    const tooLarge = () =>
      send(res, 413, { error: "body_too_large", message: `the body exceeds ${limit} bytes` }, { connection: "close" });
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > limit) {
      tooLarge();
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on("data", (c: Buffer) => {
      if (aborted) return;
      size += c.length;
      if (size > limit) {
        aborted = true;
        tooLarge();
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("error", () => {
      aborted = true;
    });
    req.on("end", () => {
      if (aborted) return;
      const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        send(res, 400, {
          error: "invalid_json",
          message: `the body is not valid JSON: ${(e as Error).message}`,
          issues: [{ path: "(body)", message: "is not valid JSON" }],
        });
        return;
      }
      deps.pipeline.decide(body, auth.agent).then(
        (r) => send(res, r.status, r.body),
        () => send(res, 500, { error: "internal_error", message: "internal error; nothing was approved" }),
      );
    });
  };
}
