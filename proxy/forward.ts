// Forwarding an allowed request upstream: pooled keep-alive connections (undici), upstream certificates verified
// (system roots plus optional extra roots), the checked address dialed directly (the host name only names SNI and the
// cert check). Upgrades (WebSocket) use node's http client on a connection of their own.
import http from "node:http";
import https from "node:https";
import { isIP, type Socket } from "node:net";
import type { Readable } from "node:stream";
import tls from "node:tls";
import type { Dispatcher, Pool } from "undici";

// undici is loaded on the first forwarded request, not when the daemon starts (idle RSS, docs/performance/startup.md);
// requests arriving while it loads wait for the same import.
type Undici = typeof import("undici");
let undici: Undici | undefined;
let undiciLoading: Promise<Undici> | undefined;
function loadUndici(): Promise<Undici> {
  undiciLoading ??= import("undici").then(
    (m) => (undici = m),
    (e: unknown) => {
      undiciLoading = undefined;
      throw e;
    },
  );
  return undiciLoading;
}

/** Hop-by-hop headers (RFC 9110 7.6.1) plus what the proxy consumes itself. Never forwarded either way. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "x-intent-attestation",
]);

export interface UpstreamTarget {
  scheme: "http" | "https";
  host: string;
  port: number;
  address: string;
}

/** An allowed request, ready to send: end-to-end headers as a flat [name, value, ...] list. */
export interface ForwardRequest {
  method: string;
  path: string;
  headers: string[];
  /** The buffered body (null: none), or the body still being received (streamed as it arrives). */
  body: Buffer | Readable | null;
}

/** What the caller does with the upstream's answer. `onData` returns false to pause until `resume()`. */
export interface ForwardHandler {
  onResponse(status: number, statusText: string, rawHeaders: string[]): void;
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  onError(err: Error): void;
}

/** A forwarded request in flight. */
export interface Forwarding {
  /** Stops it (the client went away); the handler hears nothing more. */
  abort(): void;
  /** Resumes the response after `onData` returned false. */
  resume(): void;
}

export interface Upstreams {
  /** Sends an ordinary request over a pooled keep-alive connection. */
  forward(target: UpstreamTarget, req: ForwardRequest, handler: ForwardHandler): Forwarding;
  /** An upgrade request (WebSocket): its own connection, never pooled, since the upgrade takes it over. */
  upgrade(target: UpstreamTarget, opts: { method: string; path: string; headers: string[] }): http.ClientRequest;
  close(): void;
}

/** Most upstream pools kept open at once (one per scheme, address, port and host name); the least recently used
 * one is closed beyond that (its requests in flight finish first). */
const MAX_POOLS = 256;

export function createUpstreams(opts: {
  extraCA?: string[];
  timeoutMs: number;
  maxSocketsPerHost?: number;
}): Upstreams {
  // One TLS context for every upstream connection: building one from the ~140 system roots per connection costs
  // tens of milliseconds of blocked event loop. Without extra roots, node's default context is used (it also
  // honours NODE_EXTRA_CA_CERTS).
  const secureContext = opts.extraCA?.length
    ? tls.createSecureContext({ ca: [...tls.rootCertificates, ...opts.extraCA], minVersion: "TLSv1.2" })
    : undefined;
  const tlsOptions = (host: string) => ({
    ...(secureContext ? { secureContext } : {}),
    servername: isIP(host) ? undefined : host,
    rejectUnauthorized: true,
    // the identity checked is the host name the client asked for, not the address dialed
    checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(host, cert),
  });

  // Ordinary requests go through undici pools: per request it costs about half the CPU of node's http client
  // (measured under the 32-connection benchmark: ~0.12 ms against ~0.25 ms), which is most of the proxy's own work.
  // A pool per (scheme, address, port, host): the address is what is dialed, the host what TLS checks.
  const pools = new Map<string, Pool>();
  const poolFor = (t: UpstreamTarget, { Pool }: Undici): Pool => {
    const key = `${t.scheme}|${t.address}|${t.port}|${t.host}`;
    let pool = pools.get(key);
    if (pool) {
      pools.delete(key); // most recently used last
      pools.set(key, pool);
      return pool;
    }
    if (pools.size >= MAX_POOLS) {
      const [oldKey, old] = pools.entries().next().value!;
      pools.delete(oldKey);
      void old.close().catch(() => undefined);
    }
    const addr = isIP(t.address) === 6 ? `[${t.address}]` : t.address;
    pool = new Pool(`${t.scheme}://${addr}:${t.port}`, {
      connections: opts.maxSocketsPerHost ?? 256,
      pipelining: 1, // one request at a time per connection, like a keep-alive agent
      // idle connections are kept 30 s (undici's default is 4 s; node's agent kept them until the upstream closed
      // them), shorter when the upstream announces a shorter Keep-Alive timeout
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: opts.timeoutMs, ...(t.scheme === "https" ? tlsOptions(t.host) : {}) },
    });
    pools.set(key, pool);
    return pool;
  };

  const httpsAgentless = { agent: false as const };
  return {
    forward(target, req, handler) {
      const call = new ForwardCall(handler);
      const dispatch = (u: Undici) => {
        try {
          poolFor(target, u).dispatch(
            {
              path: req.path,
              method: req.method as Dispatcher.HttpMethod,
              headers: req.headers,
              body: req.body,
              servername: target.scheme === "https" && !isIP(target.host) ? target.host : undefined,
            } as Dispatcher.DispatchOptions,
            call,
          );
        } catch (err) {
          // invalid request options (undici validates headers): an upstream failure like any other
          queueMicrotask(() => call.onError(err as Error));
        }
      };
      if (undici) dispatch(undici);
      else loadUndici().then(dispatch, (err: unknown) => call.onError(err as Error));
      return call;
    },
    upgrade(target, o) {
      const base = {
        host: target.address,
        port: target.port,
        method: o.method,
        path: o.path,
        headers: o.headers,
        setHost: false,
        timeout: opts.timeoutMs,
        ...httpsAgentless,
      };
      if (target.scheme === "http") return http.request(base);
      return https.request({ ...base, ...tlsOptions(target.host) });
    },
    close() {
      for (const pool of pools.values()) void pool.destroy().catch(() => undefined);
      pools.clear();
    },
  };
}

/** One request in flight: undici's handler on one side, the caller's on the other. A class, not closures, since
 * one is made per request. After abort() the caller's handler hears nothing more. */
class ForwardCall implements Dispatcher.DispatchHandler, Forwarding {
  private abortFn: ((err: Error) => void) | null = null;
  private resumeFn: (() => void) | null = null;
  private aborted = false;
  constructor(private readonly handler: ForwardHandler) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.aborted) abort(new Error("the client went away"));
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.aborted) return false;
    // informational answers (103 Early Hints) are not relayed, as node's client did not; the final answer follows
    if (status < 200) return true;
    this.resumeFn = resume;
    const headers: string[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) headers[i] = raw[i]!.toString("latin1");
    try {
      this.handler.onResponse(status, statusText, headers);
    } catch (err) {
      // e.g. a header value node refuses to write: the request fails like any other upstream failure
      this.abort();
      this.handler.onError(err as Error);
      return false;
    }
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.aborted ? false : this.handler.onData(chunk);
  }
  onComplete(): void {
    if (!this.aborted) this.handler.onEnd();
  }
  onError(err: Error): void {
    if (!this.aborted) this.handler.onError(err);
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortFn?.(new Error("the client went away"));
  }
  resume(): void {
    this.resumeFn?.();
  }
}

/** Names listed in a Connection header are hop-by-hop too. */
function connectionTokens(values: string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values)
    for (const t of v.split(",")) {
      const name = t.trim().toLowerCase();
      if (name) out.add(name);
    }
  return out;
}

const NO_NAMES: ReadonlySet<string> = new Set();

/** End-to-end headers of a message as a flat [name, value, ...] list, from node's rawHeaders (case, order and
 * duplicates kept). */
export function endToEndHeaderList(rawHeaders: string[], keep: ReadonlySet<string> = NO_NAMES): string[] {
  let conn: string[] | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === "connection") (conn ??= []).push(rawHeaders[i + 1]!);
  const listed = conn ? connectionTokens(conn) : NO_NAMES;
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if ((HOP_BY_HOP.has(lower) || listed.has(lower)) && !keep.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** The same as [name, value] pairs. */
export function endToEndHeaders(rawHeaders: string[], keep: ReadonlySet<string> = NO_NAMES): [string, string][] {
  const flat = endToEndHeaderList(rawHeaders, keep);
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Headers for the upstream request, flat [name, value, ...]: end-to-end ones (case, order and repeats kept), with
 * content-length set when the body was buffered. `expect` is never forwarded: the proxy's own server already
 * answered any 100-continue, and the body is sent without waiting for the upstream. `shown`: the headers the rules
 * were shown (headers.ts); a header not in it is never forwarded. */
export function requestHeaders(
  rawHeaders: string[],
  bodyLength: number | null,
  upgrade: boolean,
  shown?: Readonly<Record<string, string>>,
): string[] {
  const all = endToEndHeaderList(rawHeaders, upgrade ? UPGRADE_KEEP : NO_NAMES);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += 2) {
    const name = all[i]!;
    const lower = name.toLowerCase();
    if (lower === "expect") continue;
    if (shown !== undefined && !Object.prototype.hasOwnProperty.call(shown, lower)) continue;
    // a buffered body is sent whole with its length known
    if (bodyLength !== null && lower === "content-length") continue;
    out.push(name, all[i + 1]!);
  }
  if (bodyLength !== null && bodyLength > 0) out.push("content-length", String(bodyLength));
  if (upgrade) out.push("connection", "Upgrade");
  return out;
}

const UPGRADE_KEEP: ReadonlySet<string> = new Set(["upgrade"]);

/** Writes a raw HTTP/1.1 response head on a socket (WebSocket 101, and denials on upgrade/CONNECT sockets). */
export function writeRawHead(socket: Socket, status: number, statusText: string, headers: [string, string][]): void {
  let head = `HTTP/1.1 ${status} ${statusText}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  socket.write(head + "\r\n");
}
