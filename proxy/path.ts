// The request path the rules see and the proxy forwards (SPEC section 6): RFC 3986 normalization, done once, so the
// string a rule tests (`startswith(input.request.path, "/api/chat.postMessage")`) is the string the upstream gets.
//
//   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded (`/%61dmin` → `/admin`); every
//     other escape is kept, its hex upper-cased (`%2f` → `%2F`: an encoded slash stays data, never a separator);
//   - dot segments are removed (RFC 3986 5.2.4), encoded ones included (`/x/%2e%2e/admin` → `/admin`);
//   - empty segments are collapsed (`//admin` → `/admin`, `/a//b` → `/a/b`); a trailing slash is kept;
//   - refused: backslashes, raw or encoded (`%5C`: IIS, ASP.NET and some Java servers take it for `/`), NUL (raw or
//     `%00`), control characters, spaces and non-ASCII bytes, invalid escapes (`%zz`, a lone `%`), double-encoded
//     dots, slashes and backslashes (`%252E`, `%252F`, `%255C`: a server that decodes twice sees `.`, `/`, `\`), a
//     fragment, and anything that does not start with `/`;
//   - refused: a segment that some server reads as a dot segment although RFC 3986 does not: `.` or `..` followed by
//     an encoded slash (`..%2F`: servers that decode `%2F` as a separator) or by `;` / `%3B` (`..;`, `.;x`: Tomcat and
//     Spring drop `;` path parameters before resolving dot segments). Any piece between encoded slashes counts.
//   - `;` is otherwise data: `/admin;x/users` stays as written (rules see it, the upstream gets it); a server that
//     strips path parameters reads `/admin/users` (see docs/proxy.md).
// The query string is not rewritten (the rules see it decoded in `query`); it is refused for the same bytes a path
// may not carry (NUL, control characters, invalid escapes) and for escapes that are not UTF-8 (urlencoded.ts).

import { decodeUrlEncoded, UrlEncodedRefused } from "./urlencoded.ts";

/** A request target the proxy will not evaluate (answered 400). */
export class PathRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PathRefused";
  }
}

const HEX = /^[0-9A-Fa-f]{2}$/;

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e // ~
  );
}

function show(s: string): string {
  const t = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  return JSON.stringify(t);
}

/** Checks the characters and escapes of a path or query; decodes unreserved escapes when `decode`. */
function scan(s: string, what: "path" | "query", decode: boolean): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw new PathRefused(`the request ${what} ${show(s)} has an invalid percent-escape`);
      const byte = parseInt(hex, 16);
      if (byte === 0) throw new PathRefused(`the request ${what} ${show(s)} contains an encoded NUL (%00)`);
      if (what === "path" && byte === 0x5c) {
        throw new PathRefused(`the request path ${show(s)} contains an encoded backslash (%5C)`);
      }
      if (what === "path" && byte === 0x25 && /^(2E|2F|5C)$/i.test(s.slice(i + 3, i + 5))) {
        throw new PathRefused(`the request path ${show(s)} contains a double-encoded dot, slash or backslash`);
      }
      if (decode && isUnreserved(byte)) out += String.fromCharCode(byte);
      else out += `%${hex.toUpperCase()}`;
      i += 2;
      continue;
    }
    if (c === 0) throw new PathRefused(`the request ${what} contains a NUL byte`);
    if (c <= 0x20 || c >= 0x7f) {
      throw new PathRefused(`the request ${what} ${show(s)} contains a control, space or non-ASCII character`);
    }
    if (c === 0x5c && what === "path") throw new PathRefused(`the request path ${show(s)} contains a backslash`);
    if (c === 0x23) throw new PathRefused(`the request target ${show(s)} contains a fragment (#)`);
    out += s[i];
  }
  return out;
}

/** Refuses a (decoded, non-dot) segment that a server could still resolve as `.` or `..`: a piece between encoded
 * slashes, or before a `;` path parameter, that is a dot segment (`..%2Fx`, `..;`, `.;jsessionid=1`). */
function ambiguousDots(seg: string, path: string): void {
  for (const piece of seg.split("%2F")) {
    const bare = piece.split(/;|%3B/)[0]!;
    if (bare === "." || bare === "..") {
      throw new PathRefused(
        `the request path ${show(path)} has a segment ${show(seg)} that servers decoding %2F or dropping ;-parameters read as a dot segment`,
      );
    }
  }
}

/** The normalized form of an absolute path (no query). Throws PathRefused. Idempotent: normalizePath(normalizePath(p))
 * === normalizePath(p). */
export function normalizePath(path: string): string {
  if (!path.startsWith("/")) throw new PathRefused(`the request path ${show(path)} does not start with "/"`);
  const decoded = scan(path, "path", true);
  const segments = decoded.split("/");
  // segments[0] is the empty string before the leading slash
  const out: string[] = [];
  let trailingSlash = false;
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === "" || seg === ".") {
      trailingSlash = last;
      continue;
    }
    if (seg === "..") {
      out.pop();
      trailingSlash = last;
      continue;
    }
    ambiguousDots(seg, path);
    out.push(seg);
    trailingSlash = false;
  }
  if (out.length === 0) return "/";
  return `/${out.join("/")}${trailingSlash ? "/" : ""}`;
}

/** A request target in origin form (`/path?query`): the normalized path and the query (without `?`, null when
 * absent), and both joined again as the target to forward. Throws PathRefused. */
export function normalizeTarget(pathAndQuery: string): { path: string; query: string | null; target: string } {
  const q = pathAndQuery.indexOf("?");
  const path = normalizePath(q < 0 ? pathAndQuery : pathAndQuery.slice(0, q));
  let query: string | null = null;
  if (q >= 0) {
    query = pathAndQuery.slice(q + 1);
    scan(query, "query", false); // checked only: forwarded byte for byte
    try {
      decodeUrlEncoded(query); // what the rules will see must decode without replacement characters
    } catch (err) {
      if (err instanceof UrlEncodedRefused) throw new PathRefused(`the request query: ${err.message}`);
      throw err;
    }
  }
  return { path, query, target: query === null ? path : `${path}?${query}` };
}
