// Test fixtures for the proxy: a local HTTPS upstream with its own test CA (certificates for any requested name),
// and node clients that reach it through the proxy (CONNECT + TLS with the proxy CA, or absolute-form plain HTTP).
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CertificateAuthority } from "../../proxy/ca.ts";

/** The loopback address the test upstream listens on. Not 127.0.0.1, so policies can allow it while 127.0.0.1
 * stays a forbidden target. */
export const UPSTREAM_ADDR = "127.0.0.2";

export interface Upstream {
  port: number;
  ca: CertificateAuthority;
  /** Requests the upstream received (method, url, headers, body text). */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** An HTTPS (or plain HTTP) echo server: answers JSON {method, url, headers, body} and records every request. */
export async function startUpstream(opts: { plain?: boolean; ca?: CertificateAuthority } = {}): Promise<Upstream> {
  const ca = opts.ca ?? (await CertificateAuthority.ephemeral());
  const seen: Upstream["seen"] = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === "/early-hints") res.writeEarlyHints({ link: "</style.css>; rel=preload" });
      if (req.url === "/big") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.alloc(256 * 1024, 0x61));
        return;
      }
      const json = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
      res.end(json);
    });
  };
  const server = opts.plain
    ? http.createServer(handler)
    : https.createServer(
        {
          SNICallback: (name, cb) =>
            ca.contextFor(name).then(
              (ctx) => cb(null, ctx),
              (e) => cb(e),
            ),
        },
        handler,
      );
  server.keepAliveTimeout = 30_000;
  // WebSocket-style upgrade: answers 101 and echoes bytes back
  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: "" });
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((r) => server.listen(0, UPSTREAM_ADDR, r));
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    ca,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface ProxyEndpoint {
  host: string;
  port: number;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends CONNECT and returns the proxy's answer: on 200 the tunnel socket, else the status and body. */
export function connectTunnel(
  proxy: ProxyEndpoint,
  target: string,
): Promise<{ status: number; socket: Socket; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: "CONNECT",
      path: target,
      headers: { host: target },
      agent: false,
    });
    req.once("error", reject);
    req.once("connect", (res, socket: Socket, head: Buffer) => {
      if (res.statusCode === 200) return resolve({ status: 200, socket, body: "" });
      const chunks: Buffer[] = [head];
      socket.on("data", (c) => chunks.push(c));
      socket.on("end", () =>
        resolve({ status: res.statusCode!, socket, body: Buffer.concat(chunks).toString("utf8") }),
      );
      socket.on("error", reject);
    });
    req.end();
  });
}

/** An https.Agent that opens each connection as a CONNECT tunnel through the proxy (keep-alive reuses tunnels). */
export class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: ProxyEndpoint,
    private readonly proxyCA: string,
    opts: https.AgentOptions = {},
  ) {
    super({ keepAlive: true, ...opts });
  }

  override createConnection(options: https.RequestOptions, cb?: (err: Error | null, s: Duplex) => void): undefined {
    const target = `${options.host}:${options.port}`;
    connectTunnel(this.proxy, target).then(
      ({ status, socket, body }) => {
        if (status !== 200) {
          socket.destroy();
          return cb?.(
            Object.assign(new Error(`CONNECT ${target} answered ${status}: ${body}`), { status, body }),
            socket,
          );
        }
        cb?.(
          null,
          tls.connect({
            socket,
            servername: options.servername || options.host || undefined,
            ca: this.proxyCA,
            ALPNProtocols: ["http/1.1"],
          }),
        );
      },
      (err) => cb?.(err, undefined as never),
    );
    return undefined;
  }
}

/** One HTTPS request through the proxy. A CONNECT refusal is returned as a Reply with the proxy's status and body. */
export function httpsViaProxy(
  agent: TunnelAgent,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { agent, method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", (err: Error & { status?: number; body?: string }) => {
      if (err.status) resolve({ status: err.status, headers: {}, body: err.body ?? "" });
      else reject(err);
    });
    req.end(opts.body);
  });
}

/** A plain-HTTP request in absolute form to the proxy. */
export function httpViaProxy(
  proxy: ProxyEndpoint,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: proxy.host,
        port: proxy.port,
        method: opts.method ?? "GET",
        path: url,
        headers: { host: u.host, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
