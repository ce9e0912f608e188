// The sandbox-boundary proxy (SPEC section 8): HTTP CONNECT with TLS terminated by the local CA, and absolute-form
// plain HTTP. One node:http server parses both the proxy requests and the requests inside each decrypted tunnel
// (tunnel sockets are fed back into it); every request is decided by the policy in force, fail closed.
import http from "node:http";
import { isIP, type AddressInfo, type Socket } from "node:net";
import tls from "node:tls";
import type { CertificateAuthority } from "./ca.ts";
import { ProcessAttributor, type SourceProcess } from "./attribution.ts";
import type { ProxyVerifier } from "./attestation.ts";
import { createUpstreams, writeRawHead, type Upstreams } from "./forward.ts";
import type { ProxyPolicy } from "./policy.ts";
import { handleRequest, handleUpgrade, denyOnSocket, type Denial, type RequestEnv } from "./request.ts";
import { normalizeHost, resolveTarget, TargetRefused, type Lookup, type ResolvedTarget } from "./resolve.ts";

export interface ProxyLimits {
  /** Largest request head (request line + headers), bytes. */
  maxHeaderBytes: number;
  /** Largest body the rules inspect; larger bodies are streamed when the rules ignore bodies, else refused. */
  maxBodyInspectBytes: number;
  /** Concurrent client connections; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** Time to receive a request head, ms. */
  headersTimeoutMs: number;
  /** Idle time on a client connection or tunnel, ms. */
  idleTimeoutMs: number;
  /** Time for the TLS handshake inside a tunnel, ms. */
  handshakeTimeoutMs: number;
  /** Time to connect upstream and between upstream bytes, ms. */
  upstreamTimeoutMs: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxHeaderBytes: 16 * 1024,
  maxBodyInspectBytes: 1024 * 1024,
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
  upstreamTimeoutMs: 30_000,
};

/** One decision the proxy made, for audit and metrics. Never carries bodies, tokens or header values. */
export interface ProxyDecisionEvent {
  allowed: boolean;
  stage: "connect" | "request";
  method: string;
  scheme: "http" | "https";
  host: string;
  port: number;
  path: string;
  source: { binary: string | null; pid: number | null; sandbox_id: string | null };
  reasons: Denial["reasons"];
  intent_id: string | null;
}

export interface ProxyOptions {
  /** Listen address; default 127.0.0.1:7401. Port 0 picks a free port. */
  host?: string;
  port?: number;
  ca: CertificateAuthority;
  /** The active policy's network block, read per request (hot reload). Null: no valid policy, deny everything. */
  policy: () => ProxyPolicy | null;
  /** Attestation verification; without it, governed hosts are always denied. */
  attestations?: ProxyVerifier | null;
  sandboxId?: string | null;
  /** Extra trust roots for upstream certificates (PEM), on top of the system roots. */
  upstreamCA?: string | string[];
  limits?: Partial<ProxyLimits>;
  /** Clock for the input document's timestamp (tests). */
  now?: () => Date;
  /** Process attribution; default on Linux. `false` disables it (source binary/pid null). */
  attribution?: boolean | ProcessAttributor;
  onDecision?: (event: ProxyDecisionEvent) => void;
  /** DNS lookup (tests). */
  lookup?: Lookup;
}

export interface ProxyServer {
  host: string;
  port: number;
  /** `http://host:port`, what HTTPS_PROXY is set to. */
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** What the proxy knows about a client connection: its process (resolved once) and, inside a tunnel, the target. */
export interface ConnectionContext {
  source: Promise<SourceProcess>;
  tunnel: { host: string; port: number; target: ResolvedTarget } | null;
}

/** Why everything is denied while no network rules are active. */
export const NO_POLICY =
  "no network policy is active (no valid policy is loaded, or it has no network block); all network access is denied";

const UNKNOWN_SOURCE: Promise<SourceProcess> = Promise.resolve({ pid: null, binary: null });

export async function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  const limits: ProxyLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const attributor =
    opts.attribution instanceof ProcessAttributor
      ? opts.attribution
      : opts.attribution === false
        ? null
        : new ProcessAttributor();
  const upstreams: Upstreams = createUpstreams({
    extraCA: opts.upstreamCA === undefined ? undefined : ([] as string[]).concat(opts.upstreamCA),
    timeoutMs: limits.upstreamTimeoutMs,
  });
  const contexts = new WeakMap<Socket, ConnectionContext>();
  const emit = (e: ProxyDecisionEvent) => {
    try {
      opts.onDecision?.(e);
    } catch {
      // an audit hook failure must not change the answer already given
    }
  };

  const env: RequestEnv = {
    policy: opts.policy,
    attestations: opts.attestations ?? null,
    sandboxId: opts.sandboxId ?? null,
    limits,
    now: opts.now ?? (() => new Date()),
    upstreams,
    emit,
    lookup: opts.lookup,
    contextOf: (s) => contexts.get(s) ?? null,
  };

  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: 0, // streamed uploads may be long; idle and header timeouts bound slow clients instead
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // node checks the header timeout on this interval (default 30 s, so a 10 s timeout let slowloris hold up to 40 s)
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    noDelay: true,
  });
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;

  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    if (contexts.has(socket)) return; // a decrypted tunnel fed back in; its context is already set
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.setNoDelay(true);
    contexts.set(socket, {
      source: attributor ? attributor.attribute(socket) : UNKNOWN_SOURCE,
      tunnel: null,
    });
  });

  server.on("request", (req, res) => {
    handleRequest(env, req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(403, { "content-type": "application/json", connection: "close" });
        res.end(
          JSON.stringify({
            error: "forbidden",
            reasons: [{ block: "network", rule: "internal_error", message: "the proxy failed; denied" }],
            intent_id: null,
          }),
        );
      } else res.destroy();
    });
  });

  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    handleUpgrade(env, req, socket, head).catch(() => socket.destroy());
  });

  server.on("connect", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    onConnect(req, socket, head).catch(() => socket.destroy());
  });

  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });

  async function onConnect(req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const ctx = contexts.get(socket);
    const source = ctx ? await Promise.race([ctx.source, Promise.resolve(null)]) : null;
    const src = { binary: source?.binary ?? null, pid: source?.pid ?? null, sandbox_id: env.sandboxId };
    const deny = (host: string, port: number, rule: string, message: string, status = 403) => {
      emit({
        allowed: false,
        stage: "connect",
        method: "CONNECT",
        scheme: "https",
        host,
        port,
        path: "",
        source: src,
        reasons: [{ block: "network", rule, message }],
        intent_id: null,
      });
      denyOnSocket(socket, status, {
        error: status === 400 ? "bad_request" : "forbidden",
        reasons: [{ block: "network", rule, message }],
        intent_id: null,
      });
    };
    if (!ctx || ctx.tunnel) return deny("", 0, "bad_request", "CONNECT is not allowed inside a tunnel", 400);
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(req.url ?? "");
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) return deny("", 0, "bad_request", "CONNECT target must be host:port", 400);
    let host: string;
    try {
      host = normalizeHost(m[1]!);
    } catch (err) {
      return deny(m[1]!, port, "bad_request", (err as Error).message, 400);
    }
    const policy = env.policy();
    if (!policy) return deny(host, port, "no_policy", NO_POLICY);
    let target: ResolvedTarget;
    try {
      target = await resolveTarget(host, policy.allowAddresses, policy.resolve, env.lookup);
    } catch (err) {
      const rule = err instanceof TargetRefused && err.code === "address_refused" ? "address" : "resolve";
      return deny(host, port, rule, (err as Error).message);
    }
    const secureContext = await opts.ca.contextFor(host);
    if (socket.destroyed) return;
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext,
      ALPNProtocols: ["http/1.1"],
      // SNI must name the CONNECT host (or be absent, as for IP literals)
      SNICallback: (servername, cb) =>
        servername.toLowerCase().replace(/\.$/, "") === host
          ? cb(null, secureContext)
          : cb(new Error("SNI does not match the CONNECT host")),
    });
    const handshakeTimer = setTimeout(() => tlsSocket.destroy(), limits.handshakeTimeoutMs);
    tlsSocket.once("secure", () => clearTimeout(handshakeTimer));
    tlsSocket.once("close", () => clearTimeout(handshakeTimer));
    tlsSocket.on("error", () => tlsSocket.destroy());
    contexts.set(tlsSocket as unknown as Socket, { source: ctx.source, tunnel: { host, port, target } });
    server.emit("connection", tlsSocket);
  }

  // Closing the server also ends open tunnels and pooled upstream connections (which http.Server does not track),
  // so whoever owns the server can close it like any other listener.
  const closeListener = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    closeListener(cb);
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    upstreams.close();
    return server;
  }) as typeof server.close;

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 7401, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = isIP(addr.address) === 6 ? `[${addr.address}]` : addr.address;
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${urlHost}:${addr.port}`,
    server,
    close: () => new Promise<void>((resolve) => void server.close(() => resolve())),
  };
}

export { writeRawHead };
