// Forwarding an allowed request upstream: pooled keep-alive agents, upstream certificates verified (system roots
// plus optional extra roots), the checked address dialed directly (the host name only names SNI and the cert check).
import http from "node:http";
import https from "node:https";
import { isIP, type Socket } from "node:net";
import tls from "node:tls";

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

export interface Upstreams {
  request(
    target: UpstreamTarget,
    opts: { method: string; path: string; headers: http.OutgoingHttpHeaders; upgrade?: boolean },
  ): http.ClientRequest;
  close(): void;
}

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
  const common = {
    keepAlive: true,
    maxSockets: opts.maxSocketsPerHost ?? 256,
    maxFreeSockets: 64,
    scheduling: "lifo" as const,
    noDelay: true,
  };
  const httpsAgent = new https.Agent(common);
  const httpAgent = new http.Agent(common);
  return {
    request(target, o) {
      const base = {
        host: target.address,
        port: target.port,
        method: o.method,
        path: o.path,
        headers: o.headers,
        setHost: false,
        timeout: opts.timeoutMs,
      };
      if (target.scheme === "http") return http.request({ ...base, agent: o.upgrade ? false : httpAgent });
      return https.request({
        ...base,
        // upgrades take the connection over, so they never come from (or return to) the pool
        agent: o.upgrade ? false : httpsAgent,
        ...(secureContext ? { secureContext } : {}),
        servername: isIP(target.host) ? undefined : target.host,
        rejectUnauthorized: true,
        // the identity checked is the host name the client asked for, not the address dialed
        checkServerIdentity: (_h, cert) => tls.checkServerIdentity(target.host, cert),
      });
    },
    close() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}

/** Names listed in a Connection header are hop-by-hop too. */
function connectionTokens(raw: string | string[] | undefined): Set<string> {
  const v = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  return new Set(
    v
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** End-to-end headers of a message, from node's rawHeaders (case and order kept, duplicates kept). */
export function endToEndHeaders(rawHeaders: string[], keep: ReadonlySet<string> = new Set()): [string, string][] {
  const out: [string, string][] = [];
  let conn: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === "connection") conn.push(rawHeaders[i + 1]!);
  const listed = connectionTokens(conn);
  conn = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if ((HOP_BY_HOP.has(lower) || listed.has(lower)) && !keep.has(lower)) continue;
    out.push([name, rawHeaders[i + 1]!]);
  }
  return out;
}

/** Headers for the upstream request: end-to-end ones, with content-length set when the body was buffered. */
export function requestHeaders(
  rawHeaders: string[],
  bodyLength: number | null,
  upgrade: boolean,
): http.OutgoingHttpHeaders {
  const keep = upgrade ? new Set(["upgrade"]) : new Set<string>();
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of endToEndHeaders(rawHeaders, keep)) {
    const lower = name.toLowerCase();
    // a buffered body is sent whole: its length is known and no 100-continue handshake is needed upstream
    if (bodyLength !== null && (lower === "content-length" || lower === "expect")) continue;
    const prev = headers[lower];
    headers[lower] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  if (bodyLength !== null && bodyLength > 0) headers["content-length"] = String(bodyLength);
  if (upgrade) headers["connection"] = "Upgrade";
  return headers;
}

/** Writes a raw HTTP/1.1 response head on a socket (WebSocket 101, and denials on upgrade/CONNECT sockets). */
export function writeRawHead(socket: Socket, status: number, statusText: string, headers: [string, string][]): void {
  let head = `HTTP/1.1 ${status} ${statusText}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  socket.write(head + "\r\n");
}
