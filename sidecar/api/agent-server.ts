// The agent listener: node:http (llhttp) with the limits of ./http-server.ts. `POST /v1/intents`, the hot path, is
// answered by a direct handler (auth, bounded body, `pipeline.decideText`, one JSON answer); every other route goes
// to the hono app through @hono/node-server. Before either, the listener refuses what would make the end of a
// request ambiguous or a browser's request look like an agent's:
//   - llhttp (clientError): both Transfer-Encoding and Content-Length, repeated or malformed Content-Length, obs-fold,
//     bare CR/LF, control characters, oversized heads (431), stalls (408), HTTP versions it cannot parse (505);
//   - here: HTTP versions other than 1.0/1.1 (505), a target that is not a path, no or more than one Host (400), a
//     transfer coding other than chunked (501) or any in HTTP/1.0 (400), an Expect other than 100-continue (417),
//     bodies over the limit (413, on Content-Length before the body is read), CONNECT/TRACE/TRACK (405), and the
//     request guard (Host/Origin/content type, ./guard.ts).
// Every refusal is a JSON body; those that leave the request's end unknown also close the connection.
import type http from "node:http";
import type { Socket } from "node:net";
import type { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import type { Pipeline } from "../pipeline.ts";
import type { TokenAuth } from "./auth.ts";
import { refusalOf, type GuardOptions } from "./guard.ts";
import {
  AGENT_LIMITS,
  createLimitedServer,
  refuse,
  serializeRefusal,
  wasRefused,
  type HttpRefusal,
  type ListenerLimits,
} from "./http-server.ts";

export interface FastPathDeps {
  pipeline: Pipeline;
  auth: TokenAuth;
  bodyLimitBytes: number;
}

export interface AgentServerOptions {
  limits?: Partial<ListenerLimits>;
  /** The request guard (loopback Host, no Origin, JSON in dev mode); none: every request passes. */
  guard?: GuardOptions;
}

const JSON_TYPE = "application/json";
const UNAUTHORIZED = JSON.stringify({
  error: "unauthorized",
  message: "missing or unknown agent token (Authorization: Bearer <token>)",
});
const EXECUTOR_FORBIDDEN = JSON.stringify({
  error: "forbidden",
  message: "executor tokens redeem attestations and post receipts; they cannot declare or read intents",
});
const INTERNAL_ERROR = JSON.stringify({ error: "internal_error", message: "internal error; nothing was approved" });

/** Requests of one connection handled at a time (HTTP pipelining); later ones wait, up to MAX_QUEUED. */
export const MAX_PIPELINED = 32;
export const MAX_QUEUED = 256;
const PIPELINE = Symbol("pipeline");
interface Pipelining {
  running: number;
  queue: [http.IncomingMessage, http.ServerResponse, boolean][];
  paused: boolean;
}

function methodNotAllowed(method: string): HttpRefusal {
  return { status: 405, error: "method_not_allowed", message: `method ${method} is not supported here` };
}

function tooLarge(limit: number): HttpRefusal {
  return { status: 413, error: "body_too_large", message: `the body exceeds ${limit} bytes` };
}

/** What the protocol layer refuses that llhttp lets through. */
function protocolRefusal(req: http.IncomingMessage): HttpRefusal | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1)
    return {
      status: 505,
      error: "http_version_not_supported",
      message: `HTTP/${req.httpVersion} is not supported; use HTTP/1.1`,
    };
  const url = req.url ?? "";
  if (url.charCodeAt(0) !== 47 /* / */ && !(url === "*" && req.method === "OPTIONS"))
    return { status: 400, error: "bad_request", message: "the request target must be a path (origin-form)" };
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host") hosts++;
  }
  if (hosts > 1) return { status: 400, error: "bad_request", message: "more than one Host header field" };
  if (hosts === 0 && req.httpVersionMinor === 1)
    return { status: 400, error: "bad_request", message: "missing Host header field" };
  const te = req.headers["transfer-encoding"];
  if (te !== undefined) {
    if (req.httpVersionMinor === 0)
      return { status: 400, error: "bad_request", message: "Transfer-Encoding is not allowed in HTTP/1.0" };
    if (te.toLowerCase() !== "chunked")
      return {
        status: 501,
        error: "not_implemented",
        message: `Transfer-Encoding "${te.slice(0, 100)}" is not supported; send chunked or Content-Length`,
      };
  }
  return undefined;
}

function send(res: http.ServerResponse, status: number, body: string, extra?: readonly string[]): void {
  // a flat [name, value, …] list is node's cheapest form; with a length, head and body leave in one write
  const headers = ["content-type", JSON_TYPE, "content-length", String(Buffer.byteLength(body))];
  if (extra) headers.push(...extra);
  res.writeHead(status, headers);
  res.end(body);
}

/** Reads a body of at most `limit` bytes; `done(undefined)` when it is larger (the rest is left unread). */
function readBody(req: http.IncomingMessage, limit: number, done: (body: Buffer | undefined) => void): void {
  const parts: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      req.pause();
      done(undefined);
      return;
    }
    parts.push(chunk);
  });
  req.on("end", () => {
    if (!over) done(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
  });
}

/** The agent listener's request handler: protocol checks, guard, body limit, then the fast path or hono. */
export function agentRequestListener(
  app: Hono<any>,
  deps: FastPathDeps,
  guard?: GuardOptions,
): (req: http.IncomingMessage, res: http.ServerResponse, expectContinue?: boolean) => void {
  // the body is always read here (bounded) and handed over as rawBody, so hono never reads the stream itself
  const viaHono = getRequestListener(app.fetch, { autoCleanupIncoming: false });
  const limit = deps.bodyLimitBytes;

  const decide = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const auth = deps.auth.check(req.headers.authorization);
    if (!auth.ok) return send(res, 401, UNAUTHORIZED, ["www-authenticate", 'Bearer realm="intent-sidecar"']);
    if (auth.role === "executor") return send(res, 403, EXECUTOR_FORBIDDEN);
    deps.pipeline.decideText(body.toString("utf8"), auth.agent).then(
      (r) => send(res, r.status, JSON.stringify(r.body)),
      () => send(res, 500, INTERNAL_ERROR),
    );
  };

  /**
   * Pipelining bounds. node stops reading a connection whose answers are not read, but only after the read in hand:
   * every request in it (up to 64 KiB of them) is dispatched at once. At most MAX_PIPELINED run per connection; later
   * ones wait in order (and the connection is not read meanwhile); one with more than MAX_QUEUED waiting is cut.
   */
  const admit = (req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): boolean => {
    const socket = req.socket as Socket & { [PIPELINE]?: Pipelining };
    let p = socket[PIPELINE];
    if (p === undefined) p = socket[PIPELINE] = { running: 0, queue: [], paused: false };
    if (p.running >= MAX_PIPELINED) {
      if (p.queue.length >= MAX_QUEUED) {
        socket.destroy();
        return false;
      }
      p.queue.push([req, res, expectContinue]);
      if (!p.paused) {
        p.paused = true;
        socket.pause();
      }
      return false;
    }
    p.running++;
    const state = p;
    const next = () => {
      if (socket.destroyed) {
        state.queue.length = 0; // the client is gone: nothing waiting is decided for nobody
        return;
      }
      const waiting = state.queue.shift();
      if (waiting) handle(...waiting);
      else if (state.paused) {
        state.paused = false;
        socket.resume();
      }
    };
    res.once("close", () => {
      state.running--;
      // an answer is "finished" once it is in the socket's buffer: the next waits until the client reads
      if (state.queue.length > 0 && socket.writableNeedDrain) socket.once("drain", next);
      else next();
    });
    return true;
  };

  /** `expectContinue`: the client waits for 100 Continue before it sends the body (sent once nothing is refused). */
  const handle = (req: http.IncomingMessage, res: http.ServerResponse, expectContinue = false): void => {
    if (wasRefused(req)) return; // pipelined behind a refusal: the connection closes once that is written
    if (!admit(req, res, expectContinue)) return;
    const refusal = protocolRefusal(req) ?? (guard ? refusalOf(req, guard) : undefined);
    if (refusal) return refuse(req, res, refusal);
    const method = req.method!;
    if (method === "TRACE" || method === "TRACK") return refuse(req, res, methodNotAllowed(method));
    const cl = req.headers["content-length"];
    if (cl !== undefined && Number(cl) > limit) return refuse(req, res, tooLarge(limit)); // before reading it
    if (expectContinue) res.writeContinue();
    if (req.headers.host === undefined) req.headers.host = "localhost"; // HTTP/1.0 may leave it out; hono needs one
    if (method === "GET" || method === "HEAD") return void viaHono(req, res);
    readBody(req, limit, (body) => {
      if (body === undefined) return refuse(req, res, tooLarge(limit));
      const url = req.url;
      if (method === "POST" && (url === "/v1/intents" || url === "/v1/intents/")) return decide(req, res, body);
      (req as http.IncomingMessage & { rawBody?: Buffer }).rawBody = body;
      void viaHono(req, res);
    });
  };
  return handle;
}

/** The agent listener (not yet listening). */
export function createAgentServer(app: Hono<any>, deps: FastPathDeps, options: AgentServerOptions = {}): http.Server {
  // halfOpen: a client that half-closes after its request still gets its answer (node's default would drop it)
  const server = createLimitedServer({ ...AGENT_LIMITS, ...options.limits }, { requireHostHeader: false, halfOpen: true });
  const listener = agentRequestListener(app, deps, options.guard);
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => listener(req, res));
  // Expect: 100-continue: the body is invited only once nothing refuses the request (e.g. its announced size)
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => listener(req, res, true));
  server.on("checkExpectation", (req: http.IncomingMessage, res: http.ServerResponse) =>
    refuse(req, res, { status: 417, error: "expectation_failed", message: "only Expect: 100-continue is supported" }),
  );
  // node hands CONNECT over as a raw socket: answer and close
  server.on("connect", (_req: http.IncomingMessage, socket: Socket) => {
    socket.on("error", () => socket.destroy());
    socket.end(serializeRefusal(methodNotAllowed("CONNECT")));
  });
  return server;
}
