// Request guard for the loopback listeners (agent API, operator API): what a web page can make a browser send is
// refused before any route sees it.
//   - Host: only loopback names (localhost, 127.x.y.z, [::1], optional port) and the listener's own IP literal. A DNS
//     rebinding attack reaches 127.0.0.1 under the attacker's name, so its Host is foreign: 403 host_refused.
//   - Origin: browsers send it on cross-origin requests (and on same-origin POSTs). The agent API is not for browsers:
//     any Origin is 403 origin_refused. The operator listener serves the console, whose same-origin requests carry
//     Origin http://<Host>: that one origin is allowed, every other is refused.
//   - Content type (dev mode, where no token stops a request): a body-carrying method must say application/json, so a
//     cross-site "simple" request (text/plain, form encodings) that needs no CORS preflight is 415 unsupported_media_type.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { isIP } from "node:net";

export interface GuardOptions {
  /** "refuse": any Origin header is refused (agent API); "same-origin": only http://<Host> (operator console). */
  origin: "refuse" | "same-origin";
  /** Require `content-type: application/json` on requests other than GET/HEAD/OPTIONS (dev mode). */
  requireJson: boolean;
  /** Further Host names allowed (e.g. the listener's own non-loopback IP address). */
  hosts?: readonly string[];
  /** The listener's name in messages, e.g. "agent API". */
  listener: string;
}

export interface Refusal {
  status: 403 | 415;
  error: "host_refused" | "origin_refused" | "unsupported_media_type";
  message: string;
}

const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/;

function loopbackV4(name: string): boolean {
  if (isIP(name) !== 4) return false;
  return name.startsWith("127.");
}

/** The host name of a Host header value (lower case, brackets removed), or undefined when it is malformed. */
export function hostName(host: string): string | undefined {
  const m = HOST.exec(host.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? "").toLowerCase();
}

/** Whether a Host header value names this machine's loopback interface (or one of `extra`). */
export function isLocalHost(host: string, extra: readonly string[] = []): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  if (name === "localhost" || loopbackV4(name)) return true;
  if (isIP(name) === 6 && (name === "::1" || name === "0:0:0:0:0:0:0:1")) return true;
  return extra.some((h) => h.toLowerCase() === name);
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Why the request is refused, or undefined when it may go on. */
export function checkRequest(
  req: { method: string; host?: string | undefined; origin?: string | undefined; contentType?: string | undefined },
  o: GuardOptions,
): Refusal | undefined {
  if (req.host !== undefined && !isLocalHost(req.host, o.hosts)) {
    return {
      status: 403,
      error: "host_refused",
      message: `the ${o.listener} answers only requests addressed to localhost, 127.0.0.1 or [::1], not Host "${req.host.slice(0, 100)}" (a DNS rebinding page would use its own name)`,
    };
  }
  if (req.origin !== undefined) {
    const sameOrigin = o.origin === "same-origin" && req.host !== undefined && req.origin.toLowerCase() === `http://${req.host.toLowerCase()}`;
    if (!sameOrigin) {
      return {
        status: 403,
        error: "origin_refused",
        message:
          o.origin === "refuse"
            ? `the ${o.listener} refuses requests from web pages (Origin "${req.origin.slice(0, 100)}"); call it from a program, not a browser`
            : `the ${o.listener} refuses cross-origin requests (Origin "${req.origin.slice(0, 100)}"); use the console it serves`,
      };
    }
  }
  const m = req.method.toUpperCase();
  if (o.requireJson && m !== "GET" && m !== "HEAD" && m !== "OPTIONS" && mediaType(req.contentType) !== "application/json") {
    return {
      status: 415,
      error: "unsupported_media_type",
      message: `dev mode: ${m} needs content-type: application/json (got ${req.contentType ? `"${req.contentType.slice(0, 100)}"` : "none"}); other types could come from any web page`,
    };
  }
  return undefined;
}

/** Why a node:http request is refused, or undefined when it may go on. */
export function refusalOf(req: IncomingMessage, o: GuardOptions): Refusal | undefined {
  const h = req.headers;
  return checkRequest({ method: req.method ?? "GET", host: h.host, origin: h.origin, contentType: h["content-type"] }, o);
}

/** Wraps a node:http request listener (the operator listener) with the guard. */
export function guardListener(listener: RequestListener, o: GuardOptions): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const r = refusalOf(req, o);
    if (!r) return listener(req, res);
    res.writeHead(r.status, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: r.error, message: r.message }));
  };
}

/** The extra Host names a listener bound to `addr` ("host:port") accepts: its own address when that is a specific,
 * non-loopback IP or name (a wildcard address names no host). */
export function listenerHosts(addr: string): string[] {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i).replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "0.0.0.0" || host === "::" || host === "") return [];
  return [host];
}
