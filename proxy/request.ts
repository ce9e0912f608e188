// One request through the proxy: target and Host checks, body inspection, attestation, the network rules, then
// forwarding. Every failure on the way is a denial (403 JSON) or a closed connection; nothing is forwarded unless
// every check passed.
import http from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { AttestationClaims, Reason } from "../protocol/index.ts";
import { ATTESTATION_HEADER } from "../protocol/index.ts";
import { isGateError } from "../executor-gate/errors.ts";
import type { ProxyVerifier } from "./attestation.ts";
import {
  requestHeaders,
  endToEndHeaders,
  endToEndHeaderList,
  writeRawHead,
  type ForwardHandler,
  type Forwarding,
  type Upstreams,
  type UpstreamTarget,
} from "./forward.ts";
import { BodyRefused, inspectBody } from "./body.ts";
import { HeaderRefused, rawValues, readRequestHead, type RequestHead } from "./headers.ts";
import { buildInput, HIDDEN_HEADERS, rfc3339 } from "./input.ts";
import { normalizeTarget, PathRefused } from "./path.ts";
import type { ProxyPolicy } from "./policy.ts";
import { normalizeHost, resolveTarget, TargetRefused, type Lookup } from "./resolve.ts";
import { NO_POLICY, type ConnectionContext, type ProxyDecisionEvent, type ProxyLimits } from "./server.ts";

export interface RequestEnv {
  policy: () => ProxyPolicy | null;
  attestations: ProxyVerifier | null;
  sandboxId: string | null;
  limits: ProxyLimits;
  now: () => Date;
  upstreams: Upstreams;
  emit: (e: ProxyDecisionEvent) => void;
  lookup: Lookup | undefined;
  contextOf: (s: Socket) => ConnectionContext | null;
}

export interface Denial {
  status: number;
  error: "forbidden" | "bad_request" | "payload_too_large" | "unsupported_media_type";
  reasons: Reason[];
  intent_id: string | null;
}

class Denied extends Error {
  constructor(readonly denial: Denial) {
    super(denial.reasons.map((r) => r.message).join("; "));
  }
}

const ERRORS: Record<number, Denial["error"]> = {
  400: "bad_request",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

function denied(rule: string, message: string, status = 403, intentId: string | null = null): Denied {
  return new Denied({
    status,
    error: ERRORS[status] ?? "forbidden",
    reasons: [{ block: "network", rule, message }],
    intent_id: intentId,
  });
}

/** Writes a JSON denial on a raw socket (CONNECT and upgrade requests have no ServerResponse) and closes it. */
export function denyOnSocket(socket: Socket, status: number, body: object): void {
  if (!socket.writable) return void socket.destroy();
  const json = JSON.stringify(body);
  writeRawHead(socket, status, http.STATUS_CODES[status] ?? "Forbidden", [
    ["content-type", "application/json"],
    ["content-length", String(Buffer.byteLength(json))],
    ["connection", "close"],
  ]);
  socket.end(json);
}

/** The request body: fully read when it fits the inspection limit, else the chunks read so far (to be streamed). */
type Body = { complete: true; bytes: Buffer } | { complete: false; prefix: Buffer[] };

const NO_BODY: Body = { complete: true, bytes: Buffer.alloc(0) };

function readBody(req: http.IncomingMessage, limit: number): Promise<Body> | Body {
  const declared = req.headers["content-length"];
  // without Content-Length or Transfer-Encoding a request has no body (RFC 9112 6.3); node's parser agrees, and
  // reads nothing more for this request (the unread stream is dumped when the response finishes)
  if (declared === undefined && req.headers["transfer-encoding"] === undefined) return NO_BODY;
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve({ complete: false, prefix: [] });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        req.pause();
        cleanup();
        resolve({ complete: false, prefix: chunks });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ complete: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onAborted = () => onError(new Error("client aborted the request"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

interface Decided {
  target: UpstreamTarget;
  head: RequestHead;
  pathAndQuery: string;
  body: Body;
  claims: AttestationClaims | null;
  token: string | null;
  event: ProxyDecisionEvent;
}

/** `host[:port]` of a Host header; null when malformed. */
function parseHostHeader(v: string): { host: string; port: number | null } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(v.trim());
  if (!m) return null;
  try {
    return { host: normalizeHost(m[1]!), port: m[2] === undefined ? null : Number(m[2]) };
  } catch {
    return null;
  }
}

/** Runs every check for one request. Returns what to forward, or throws Denied. */
async function decide(
  env: RequestEnv,
  req: http.IncomingMessage,
  ctx: ConnectionContext,
  upgrade: boolean,
): Promise<Decided> {
  const method = (req.method ?? "").toUpperCase();
  const rawUrl = req.url ?? "";
  let scheme: "http" | "https";
  let host: string;
  let port: number;
  let pathAndQuery: string;
  const policy = env.policy();

  const event: ProxyDecisionEvent = {
    allowed: false,
    stage: "request",
    method,
    scheme: ctx.tunnel ? "https" : "http",
    host: ctx.tunnel?.host ?? "",
    port: ctx.tunnel?.port ?? 0,
    path: "",
    source: { binary: null, pid: null, sandbox_id: env.sandboxId },
    reasons: [],
    intent_id: null,
  };
  const fail = (d: Denied): never => {
    event.reasons = d.denial.reasons;
    event.intent_id = d.denial.intent_id;
    env.emit(event);
    throw d;
  };

  // 1. target
  if (ctx.tunnel) {
    scheme = "https";
    host = ctx.tunnel.host;
    port = ctx.tunnel.port;
    if (rawUrl.startsWith("/")) pathAndQuery = rawUrl;
    else {
      let u: URL;
      try {
        u = new URL(rawUrl);
      } catch {
        return fail(denied("bad_request", "request target is neither a path nor an absolute URL", 400));
      }
      const h = safeHost(u.hostname);
      if (u.protocol !== "https:" || h !== host || Number(u.port || 443) !== port) {
        return fail(denied("host_mismatch", `request URL ${u.origin} does not match the tunnel to ${host}:${port}`));
      }
      pathAndQuery = u.pathname + u.search;
    }
  } else {
    let u: URL;
    try {
      u = new URL(rawUrl);
    } catch {
      return fail(
        denied("bad_request", "not a proxy request: the request target must be an absolute http:// URL", 400),
      );
    }
    if (u.protocol !== "http:" && !(upgrade && u.protocol === "ws:")) {
      return fail(
        denied("bad_request", `scheme ${u.protocol} is not proxied in plain form; use CONNECT for https`, 400),
      );
    }
    if (u.username || u.password)
      return fail(denied("bad_request", "credentials in the request URL are not allowed", 400));
    const h = safeHost(u.hostname);
    if (!h) return fail(denied("bad_request", `"${u.hostname}" is not a valid host name`, 400));
    scheme = "http";
    host = h;
    port = Number(u.port || 80);
    pathAndQuery = (u.pathname || "/") + u.search;
  }
  event.scheme = scheme;
  event.host = host;
  event.port = port;
  event.path = pathAndQuery.split("?")[0]!;

  // 1b. the path the rules see is the path forwarded: normalized once (path.ts), refused when it cannot be
  if (rawUrl.includes("\\")) return fail(denied("path", "the request target contains a backslash", 400));
  try {
    pathAndQuery = normalizeTarget(pathAndQuery).target;
  } catch (err) {
    if (err instanceof PathRefused) return fail(denied("path", err.message, 400));
    throw err;
  }
  event.path = pathAndQuery.split("?")[0]!;

  // 2. every Host header must name the target
  const hostHeaders: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === "host") hostHeaders.push(req.rawHeaders[i + 1]!);
  }
  if (hostHeaders.length !== 1) return fail(denied("host_mismatch", "a request must carry exactly one Host header"));
  const hh = parseHostHeader(hostHeaders[0]!);
  if (!hh || hh.host !== host || (hh.port !== null && hh.port !== port)) {
    return fail(denied("host_mismatch", `Host header "${hostHeaders[0]}" does not match the target ${host}:${port}`));
  }

  // 2b. the headers the rules see, read from every header line (not node's req.headers, which keeps the first of two
  // Content-Types and drops `__proto__`): repeated single-valued headers and Connection listing an end-to-end header
  // are refused; what is forwarded is exactly what is shown (headers.ts)
  let head: RequestHead;
  try {
    head = readRequestHead(req.rawHeaders, HIDDEN_HEADERS);
  } catch (err) {
    if (err instanceof HeaderRefused) return fail(denied("header", err.message, 400));
    throw err;
  }

  // 3. source (resolved once per connection, usually finished during the TLS handshake)
  const source = await ctx.source;
  event.source = { binary: source.binary, pid: source.pid, sandbox_id: env.sandboxId };

  if (!policy) return fail(denied("no_policy", NO_POLICY));

  // 4. address (plain HTTP: resolved here; tunnels were resolved and checked at CONNECT)
  let address: string;
  if (ctx.tunnel) address = ctx.tunnel.target.address;
  else {
    try {
      address = (await resolveTarget(host, policy.allowAddresses, policy.resolve, env.lookup)).address;
    } catch (err) {
      const rule = err instanceof TargetRefused && err.code === "address_refused" ? "address" : "resolve";
      return fail(denied(rule, (err as Error).message));
    }
  }

  // 5. attestation header: taken out of the request (never forwarded, never shown to the rules)
  const tokens = rawValues(req.rawHeaders, ATTESTATION_HEADER);
  if (tokens.length > 1) return fail(denied("attestation", "a request may carry at most one attestation"));
  const token = tokens[0] ?? null;
  const governed = policy.requireAttestation(host);

  // 5b. upgrades (WebSocket): what follows the 101 is never evaluated, so an attestation cannot bind it, and only
  // rules that decide upgrades on purpose may let one through; an upgrade request carries no body
  if (upgrade) {
    if (governed || token !== null) {
      return fail(
        denied(
          "upgrade",
          `upgrade requests (${String(req.headers.upgrade ?? "")}) are refused on ${host}: it requires attestations, and an attestation cannot bind the traffic after the upgrade`,
        ),
      );
    }
    if (!policy.upgrades) {
      return fail(
        denied(
          "upgrade",
          `upgrade requests (${String(req.headers.upgrade ?? "")}) are refused: the network rules do not decide upgrades (they never read input.request.headers.upgrade)`,
        ),
      );
    }
    const cl = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (cl !== undefined && cl.trim() !== "0")) {
      return fail(denied("upgrade", "an upgrade request may not carry a body", 400));
    }
  }

  // 6. body
  const limit = env.limits.maxBodyInspectBytes;
  const needBody = policy.inspectsBody || governed || token !== null;
  const body: Body = upgrade ? NO_BODY : await readBody(req, limit);
  if (!body.complete && needBody) {
    return fail(
      denied(
        "body_limit",
        `request body exceeds the inspection limit of ${limit} bytes (limits.maxBodyInspectBytes) and this destination needs it inspected`,
        413,
      ),
    );
  }
  let ruleBody: unknown = null;
  if (body.complete) {
    try {
      ruleBody = inspectBody(body.bytes, head.view, {
        limit,
        rulesRead: policy.inspectsBody,
        attested: governed || token !== null,
      }).ruleBody;
    } catch (err) {
      if (err instanceof BodyRefused) return fail(denied(err.rule, err.message, err.status));
      throw err;
    }
  }

  // 7. attestation check
  const defaultPort = scheme === "https" ? 443 : 80;
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}${port === defaultPort ? "" : `:${port}`}${pathAndQuery}`;
  let claims: AttestationClaims | null = null;
  if (token !== null) {
    if (!env.attestations) return fail(denied("attestation", "this proxy cannot verify attestations"));
    try {
      claims = await env.attestations.verify(token, {
        method,
        url,
        body: body.complete ? body.bytes : null,
        contentType: head.view["content-type"],
      });
    } catch (err) {
      const code = isGateError(err) ? err.code : "malformed";
      const jti = isGateError(err) ? (err.jti ?? null) : null;
      return fail(denied(`attestation.${code}`, `attestation rejected (${code}): ${(err as Error).message}`, 403, jti));
    }
  } else if (governed) {
    return fail(
      denied(
        "attestation.missing",
        `${host} requires an attestation (header ${ATTESTATION_HEADER}, audience intent-proxy)`,
      ),
    );
  }
  const intentId = claims?.jti ?? null;
  event.intent_id = intentId;

  // 8. the network rules (an identical request in the same second may reuse their answer: see decision-cache.ts)
  const now = env.now();
  const timestamp = rfc3339(now);
  const cache = policy.decisionCache ?? null;
  const key = cache
    ? cache.key({
        method,
        host,
        port,
        pathAndQuery,
        rawHeaders: req.rawHeaders,
        body: body.complete ? body.bytes : null,
        source: event.source,
        attestation: claims,
        timestamp,
      })
    : null;
  let verdict = key !== null ? cache!.get(key) : undefined;
  if (verdict === undefined) {
    const input = buildInput({
      method,
      host,
      port,
      pathAndQuery,
      headers: head.view,
      body: ruleBody,
      source: event.source,
      attestation: claims,
      now,
    });
    try {
      verdict = await policy.decide(input);
    } catch (err) {
      return fail(
        denied("evaluation_error", `the network rules failed to evaluate: ${(err as Error).message}`, 403, intentId),
      );
    }
    if (key !== null) cache!.set(key, verdict);
  }
  if (!verdict || verdict.allow !== true || verdict.reasons.length > 0) {
    const reasons: Reason[] = (verdict?.reasons ?? []).map((message) => ({ block: "network", rule: "rules", message }));
    if (reasons.length === 0)
      reasons.push({
        block: "network",
        rule: "rules",
        message: `no network rule allows ${method} ${host}${event.path}`,
      });
    return fail(new Denied({ status: 403, error: "forbidden", reasons, intent_id: intentId }));
  }

  // 9. single use: recorded only for a request about to be forwarded
  if (claims && token !== null) {
    let first = false;
    try {
      first = await env.attestations!.consume(claims, token);
    } catch {
      first = false;
    }
    if (!first)
      return fail(denied("attestation.replayed", `attestation ${claims.jti} was already used`, 403, intentId));
  }

  event.allowed = true;
  env.emit(event);
  return { target: { scheme, host, port, address }, head, pathAndQuery, body, claims, token, event };
}

function safeHost(h: string): string {
  try {
    return normalizeHost(h);
  } catch {
    return "";
  }
}

function sendDenial(res: http.ServerResponse, d: Denial, closeConnection: boolean): void {
  const json = JSON.stringify({ error: d.error, reasons: d.reasons, intent_id: d.intent_id });
  res.writeHead(d.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    ...(closeConnection ? { connection: "close" } : {}),
  });
  res.end(json);
}

export async function handleRequest(
  env: RequestEnv,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const ctx = env.contextOf(req.socket);
  if (!ctx) {
    sendDenial(res, denied("internal_error", "unknown connection").denial, true);
    return;
  }
  let d: Decided;
  try {
    d = await decide(env, req, ctx, false);
  } catch (err) {
    if (!(err instanceof Denied)) throw err;
    // a body left unread would be parsed as the next request: close instead
    sendDenial(res, err.denial, !req.complete);
    if (!req.complete) req.resume();
    return;
  }
  const headers = requestHeaders(req.rawHeaders, d.body.complete ? d.body.bytes.length : null, false, d.head.view);
  const body = d.body.complete ? (d.body.bytes.length ? d.body.bytes : null) : Readable.from(rest(d.body.prefix, req));
  const relay = new ResponseRelay(res, d.target);
  relay.call = env.upstreams.forward(d.target, { method: req.method!, path: d.pathAndQuery, headers, body }, relay);
  res.on("drain", relay.onDrain);
  res.on("close", relay.onClose);
}

/** Relays the upstream's answer to the client (a class, not closures: one is made per request). The last chunk
 * received is held back until the next one (or the end) arrives, so a response that comes in one chunk is written
 * with its head by res.end(): one TLS record and one socket write. */
class ResponseRelay implements ForwardHandler {
  call: Forwarding | null = null;
  private held: Buffer | null = null;
  constructor(
    private readonly res: http.ServerResponse,
    private readonly target: UpstreamTarget,
  ) {}

  onResponse(status: number, statusText: string, rawHeaders: string[]): void {
    this.res.writeHead(status, statusText, endToEndHeaderList(rawHeaders));
  }
  onData(chunk: Buffer): boolean {
    const prev = this.held;
    this.held = chunk;
    return prev === null ? true : this.res.write(prev);
  }
  onEnd(): void {
    const last = this.held;
    this.held = null;
    if (last) this.res.end(last);
    else this.res.end();
  }
  onError(err: Error): void {
    const res = this.res;
    if (!res.headersSent) {
      const json = JSON.stringify({
        error: "bad_gateway",
        message: `upstream ${this.target.host}:${this.target.port}: ${err.message}`,
      });
      res.writeHead(502, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(json),
        connection: "close",
      });
      res.end(json);
    } else res.destroy();
  }
  readonly onDrain = (): void => this.call?.resume();
  readonly onClose = (): void => {
    if (!this.res.writableFinished) this.call?.abort();
  };
}

/** A body over the inspection limit: the chunks read while inspecting, then the rest as it arrives. */
async function* rest(prefix: Buffer[], req: http.IncomingMessage): AsyncGenerator<Buffer> {
  yield* prefix;
  for await (const chunk of req) yield chunk as Buffer;
}

export async function handleUpgrade(
  env: RequestEnv,
  req: http.IncomingMessage,
  socket: Socket,
  head: Buffer,
): Promise<void> {
  const ctx = env.contextOf(socket);
  if (!ctx) return void socket.destroy();
  let d: Decided;
  try {
    d = await decide(env, req, ctx, true);
  } catch (err) {
    if (!(err instanceof Denied)) throw err;
    return denyOnSocket(socket, err.denial.status, {
      error: err.denial.error,
      reasons: err.denial.reasons,
      intent_id: err.denial.intent_id,
    });
  }
  const headers = requestHeaders(req.rawHeaders, null, true, d.head.view);
  const up = env.upstreams.upgrade(d.target, { method: req.method!, path: d.pathAndQuery, headers });
  up.on("timeout", () => up.destroy(new Error("upstream timed out")));
  up.on("error", () => socket.destroy());
  up.on("response", (upRes) => {
    // the upstream declined the upgrade: relay its answer and close
    writeRawHead(socket, upRes.statusCode ?? 502, upRes.statusMessage ?? "", [
      ...endToEndHeaders(upRes.rawHeaders),
      ["connection", "close"],
    ]);
    upRes.pipe(socket);
  });
  up.on("upgrade", (upRes, upSocket: Socket, upHead: Buffer) => {
    upSocket.setTimeout(0);
    writeRawHead(
      socket,
      101,
      upRes.statusMessage ?? "Switching Protocols",
      endToEndHeaders(upRes.rawHeaders, new Set(["upgrade", "connection"])),
    );
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on("error", () => socket.destroy());
    socket.on("error", () => upSocket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  up.end();
}
