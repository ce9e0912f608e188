// node:http servers for the daemon's API listeners (agent, operator), bounded: every limit is node's own (llhttp
// parses; timers cut slow clients; a connection cap refuses the excess at once) and every refusal is a JSON body.
//   - headersTimeout: a connection must deliver a complete request head this long after it opens or after its
//     previous answer; node checks every `connectionsCheckingInterval` (1 s here, 30 s by default: a 10 s header
//     timeout then let a slowloris client hold a connection for up to 40 s).
//   - requestTimeout: the whole request, body included (not the answer: a long poll may wait longer).
//   - keepAliveTimeout: idle time between requests on a kept-alive connection.
//   - idleTimeout (`server.timeout`): no byte either way for this long, even mid-answer (a client that stops reading).
//   - maxConnections: one more connection is closed as soon as it is accepted (node's `drop`), nothing queues.
import http from "node:http";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";

export interface ListenerLimits {
  /** Open connections; one more is closed on accept. */
  maxConnections: number;
  /** Time to receive a request head, ms (also a new connection's first one). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included, ms. */
  requestTimeoutMs: number;
  /** Idle time between requests on a kept-alive connection, ms. */
  keepAliveTimeoutMs: number;
  /** No bytes in either direction for this long closes the connection, ms (0: never). */
  idleTimeoutMs: number;
  /** Request line plus header fields, bytes (larger: 431). */
  maxHeaderBytes: number;
  /** How often the header and request timeouts are checked, ms. */
  checkIntervalMs: number;
}

export const AGENT_LIMITS: ListenerLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  idleTimeoutMs: 120_000, // above the longest long poll (60 s)
  maxHeaderBytes: 16 * 1024,
  checkIntervalMs: 1_000,
};

export const OPERATOR_LIMITS: ListenerLimits = { ...AGENT_LIMITS, maxConnections: 64 };

/** A refusal before any route: status, the stable `error` code and a message, always answered as JSON. */
export interface HttpRefusal {
  status: number;
  error: string;
  message: string;
}

const REFUSED = Symbol("refused");

/** Answers `r` as JSON and ends the connection (the rest of the request is not read; later pipelined requests on the
 * connection are ignored, see `wasRefused`). */
export function refuse(req: http.IncomingMessage, res: http.ServerResponse, r: HttpRefusal, extra: Record<string, string> = {}): void {
  (req.socket as Socket & { [REFUSED]?: boolean })[REFUSED] = true;
  const body = JSON.stringify({ error: r.error, message: r.message });
  res.shouldKeepAlive = false;
  res.writeHead(r.status, {
    ...extra,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

/** The connection already got a refusal and closes once it is written: requests pipelined behind it are dropped. */
export function wasRefused(req: http.IncomingMessage): boolean {
  return (req.socket as Socket & { [REFUSED]?: boolean })[REFUSED] === true;
}

/** What llhttp's error (or node's timeout) on a connection becomes. */
function clientErrorRefusal(err: NodeJS.ErrnoException): HttpRefusal {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, error: "headers_too_large", message: "the request header section is too large" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, error: "request_timeout", message: "the request did not arrive in time" };
    case "HPE_INVALID_VERSION":
      return { status: 505, error: "http_version_not_supported", message: "use HTTP/1.1" };
    case "HPE_INVALID_TRANSFER_ENCODING":
      return { status: 501, error: "not_implemented", message: "only Transfer-Encoding: chunked is supported" };
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
    case "HPE_INVALID_CONTENT_LENGTH":
      return {
        status: 400,
        error: "bad_request",
        message: "invalid Content-Length (repeated, not a number, or sent with Transfer-Encoding)",
      };
    default:
      return { status: 400, error: "bad_request", message: `malformed request (${err.code ?? "parse error"})` };
  }
}

/** The HTTP/1.1 bytes of a JSON refusal, for a raw socket (client errors; CONNECT, which node hands over as a socket). */
export function serializeRefusal(r: HttpRefusal): string {
  const body = JSON.stringify({ error: r.error, message: r.message });
  return (
    `HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status] ?? "Error"}\r\ncontent-type: application/json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** How long a half-closed connection (the client sent FIN) may wait for its answer before it is cut. */
export const HALF_CLOSE_GRACE_MS = 1_000;

/** A node:http server with `limits` applied and malformed requests answered with JSON errors. `halfOpen`: answer
 * clients that half-close after their request (within HALF_CLOSE_GRACE_MS). */
export function createLimitedServer(
  limits: ListenerLimits,
  opts: { requireHostHeader?: boolean; halfOpen?: boolean } = {},
): http.Server {
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs), // node requires ≤
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
    noDelay: true,
    // node's own refusal of HTTP/1.1 without Host is a bare 400; the agent listener does its own (JSON) check
    requireHostHeader: opts.requireHostHeader ?? true,
  });
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // Closing: answers in progress are the connection's last (connection: close), idle connections go at once.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (opts.halfOpen) {
      // A client that half-closes after its request still gets an answer that comes soon; a long poll whose client
      // left (a FIN looks the same) learns it when the connection is cut after the grace period.
      socket.once("end", () => setTimeout(() => socket.destroy(), HALF_CLOSE_GRACE_MS).unref());
    }
  });
  if (opts.halfOpen) (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    close(cb);
    for (const socket of sockets) {
      const res = (socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    server.closeIdleConnections();
    return server;
  }) as typeof server.close;
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    const pending = (socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (pending?.headersSent || (socket as Socket & { [REFUSED]?: boolean })[REFUSED]) {
      // an answer is already on its way (e.g. a refusal): let it finish, then the connection closes
      if (!(socket as Socket & { [REFUSED]?: boolean })[REFUSED]) socket.destroy();
      return;
    }
    if (!socket.writable || err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    socket.end(serializeRefusal(clientErrorRefusal(err)));
    // the unread rest of the request must not keep the socket: the answer gets 2 s to leave
    setTimeout(() => socket.destroy(), 2_000).unref();
  });
  return server;
}

/** This process's soft limit on open files (Linux: /proc/self/limits), or undefined when unknown. Node raises the
 * soft limit to the hard one at start. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === undefined || soft === "unlimited") return undefined;
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export interface ConnectionCaps {
  agent: number;
  proxy: number;
  operator: number;
}

/** File descriptors kept free beyond the caps: SQLite (databases, WAL, shm), the CA and key files, worker threads,
 * webhook and upstream connections, logs. */
export const FD_RESERVE = 256;

/**
 * Caps that fit the open-file limit: every agent connection takes one descriptor, every proxy connection up to two
 * (client and upstream), the operator's are kept whole. When the sum with FD_RESERVE exceeds `fdLimit`, the agent
 * and proxy caps shrink in proportion, so a flood of agent or proxy connections can never take the descriptors the
 * operator listener (and the store) need. Returns the caps to use and whether they were lowered.
 */
export function fitCaps(caps: ConnectionCaps, fdLimit: number | undefined): { caps: ConnectionCaps; lowered: boolean } {
  if (fdLimit === undefined) return { caps, lowered: false };
  const need = caps.agent + 2 * caps.proxy + caps.operator + FD_RESERVE;
  if (need <= fdLimit) return { caps, lowered: false };
  const room = Math.max(0, fdLimit - FD_RESERVE - caps.operator);
  const scale = room / (caps.agent + 2 * caps.proxy);
  return {
    caps: {
      agent: Math.max(1, Math.floor(caps.agent * scale)),
      proxy: Math.max(1, Math.floor(caps.proxy * scale)),
      operator: caps.operator,
    },
    lowered: true,
  };
}

/** Logs a listener's refused connections (at most once per 10 s) and its accept errors (EMFILE: out of file
 * descriptors), which would otherwise be an uncaught 'error' event that ends the whole daemon. */
export function watchListener(
  server: import("node:net").Server,
  name: string,
  log: { warn(obj: object, msg: string): void },
): void {
  let dropped = 0;
  let lastLog = 0;
  const note = (what: string, extra: object = {}) => {
    const now = Date.now();
    if (now - lastLog < 10_000) return;
    lastLog = now;
    log.warn({ listener: name, dropped, max_connections: server.maxConnections, ...extra }, what);
  };
  server.on("drop", () => {
    dropped++;
    note("connection cap reached: new connections are closed at once");
  });
  server.on("error", (e: NodeJS.ErrnoException) => note("listener error (new connections are refused meanwhile)", { err: e.code ?? e.message }));
}
