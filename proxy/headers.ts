// The request headers as the rules see them and as the upstream receives them, both built from the same raw list
// (node's rawHeaders: every header line, in order, case kept). node's own req.headers is not used for either: it keeps
// the first of two Content-Type / Authorization / User-Agent lines and silently drops names like `__proto__`, while the
// upstream would receive every line. Here:
//   - a header that is not a list (RFC 9110 5.3: only list-based fields may be repeated) and appears twice is refused
//     (400), whatever its value: the rules cannot know which one the upstream uses;
//   - list headers that appear twice are shown joined with ", " (one value, as RFC 9110 5.3 defines);
//   - the view is a prototype-less object: `constructor`, `__proto__`, `toString` are header names like any other;
//   - `Connection` may name hop-by-hop extension headers (they are then neither shown nor forwarded), never an
//     end-to-end header the request's meaning depends on (`Connection: host`, `content-type`, `authorization`, …):
//     refused (400), since RFC 9110 7.6.1 would have the proxy drop it after the rules judged it;
//   - what is forwarded is exactly the headers shown, minus hop-by-hop ones and the proxy's own (see forward.ts).

/** A request the proxy will not evaluate because of its headers (answered 400). */
export class HeaderRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HeaderRefused";
  }
}

/** Fields whose value is a comma-separated list (RFC 9110 5.3: the only ones a sender may repeat), from RFC 9110,
 * 9111, 9112, 7239, 8288, 7240, 5789, 6455, W3C trace context and common practice (`x-forwarded-for`). Any other
 * field repeated is refused (Cookie too: RFC 6265 5.4 allows one). */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  "accept",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-patch",
  "accept-ranges",
  "access-control-request-headers",
  "allow",
  "baggage",
  "cache-control",
  "connection",
  "content-encoding",
  "content-language",
  "expect",
  "forwarded",
  "if-match",
  "if-none-match",
  "keep-alive",
  "link",
  "pragma",
  "prefer",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "te",
  "trailer",
  "tracestate",
  "transfer-encoding",
  "upgrade",
  "vary",
  "via",
  "warning",
  "x-forwarded-for",
]);

/** Headers that carry the request's meaning end to end: a Connection header may not list them (they would be removed
 * after the rules read them). Everything the rules or the attestation check read from the head is here. */
const END_TO_END: ReadonlySet<string> = new Set([
  "host",
  "content-length",
  "content-type",
  "content-encoding",
  "content-language",
  "content-location",
  "content-range",
  "content-md5",
  "digest",
  "content-digest",
  "authorization",
  "cookie",
  "user-agent",
  "accept",
  "accept-encoding",
  "range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "if-range",
  "origin",
  "referer",
  "expect",
  "x-intent-attestation",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "forwarded",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
]);

/** Hop-by-hop by definition (RFC 9110 7.6.1, RFC 9112) or consumed by the proxy: listing them in Connection changes
 * nothing. */
const HOP_BY_HOP_TOKENS: ReadonlySet<string> = new Set([
  "close",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "transfer-encoding",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "http2-settings",
]);

export interface RequestHead {
  /** Lower-case name → value (list headers joined with ", "); prototype-less. Includes hop-by-hop headers (the rules
   * see `connection`, `upgrade`, …) except the ones named in `hidden`. */
  view: Record<string, string>;
  /** Lower-case names listed in Connection (besides the standard hop-by-hop ones): neither shown nor forwarded. */
  connectionListed: ReadonlySet<string>;
}

/** Reads the request head once, for the rules and for forwarding. Throws HeaderRefused. `hidden`: names never shown
 * to the rules and never forwarded (proxy credentials, the attestation header, whose repeats the caller refuses). */
export function readRequestHead(rawHeaders: readonly string[], hidden: ReadonlySet<string>): RequestHead {
  const values: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const list = values[name];
    if (list === undefined) values[name] = [rawHeaders[i + 1]!];
    else {
      if (!LIST_HEADERS.has(name) && !hidden.has(name)) {
        throw new HeaderRefused(
          `the request carries the header ${JSON.stringify(name)} more than once; it is not a list header (RFC 9110 5.3), so the upstream may read another value than the rules`,
        );
      }
      list.push(rawHeaders[i + 1]!);
    }
  }
  const listed = new Set<string>();
  for (const value of values["connection"] ?? []) {
    for (const t of value.split(",")) {
      const token = t.trim().toLowerCase();
      if (token === "" || HOP_BY_HOP_TOKENS.has(token)) continue;
      if (END_TO_END.has(token)) {
        throw new HeaderRefused(
          `the Connection header lists ${JSON.stringify(token)}, an end-to-end header: it would be removed after the rules read it`,
        );
      }
      listed.add(token);
    }
  }
  const view: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name in values) {
    if (hidden.has(name) || listed.has(name)) continue;
    view[name] = values[name]!.join(", ");
  }
  return { view, connectionListed: listed };
}

/** The values of one header (lower-case `name`) in a raw header list. */
export function rawValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}
