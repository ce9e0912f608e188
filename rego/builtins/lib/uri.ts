// A Go net/url.Parse subset for uri.parse / uri.is_valid.

export class URIError extends Error {}

export interface URIParts {
  scheme?: string;
  hostname?: string;
  port?: string;
  path?: string;
  raw_path?: string;
  raw_query?: string;
  fragment?: string;
  username?: string;
}

function unescapePath(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export function parseURI(raw: string): URIParts {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw))
    throw new URIError(`parse ${JSON.stringify(raw)}: net/url: invalid control character in URL`);
  const out: URIParts = {};
  let rest = raw;
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    const frag = rest.slice(hash + 1);
    if (frag) out.fragment = unescapePath(frag);
    rest = rest.slice(0, hash);
  }
  if (rest === "") return out;
  const sm = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (sm) {
    out.scheme = sm[1]!.toLowerCase();
    rest = rest.slice(sm[0].length);
  } else if (/^[^/?]*:/.test(rest) && !rest.startsWith("/")) {
    throw new URIError(`parse ${JSON.stringify(raw)}: missing protocol scheme`);
  }
  const q = rest.indexOf("?");
  if (q >= 0) {
    const query = rest.slice(q + 1);
    if (query) out.raw_query = query;
    rest = rest.slice(0, q);
  }
  if (out.scheme && !rest.startsWith("/")) {
    // opaque URI such as mailto:user@example.com
    return out;
  }
  if (rest.startsWith("//")) {
    rest = rest.slice(2);
    const slash = rest.indexOf("/");
    let authority = slash >= 0 ? rest.slice(0, slash) : rest;
    rest = slash >= 0 ? rest.slice(slash) : "";
    const at = authority.lastIndexOf("@");
    if (at >= 0) {
      const user = authority.slice(0, at);
      const colon = user.indexOf(":");
      out.username = unescapePath(colon >= 0 ? user.slice(0, colon) : user);
      authority = authority.slice(at + 1);
    }
    let host = authority;
    let port = "";
    if (host.startsWith("[")) {
      const close = host.indexOf("]");
      if (close < 0) throw new URIError(`parse ${JSON.stringify(raw)}: missing ']' in host`);
      const after = host.slice(close + 1);
      if (after !== "" && !/^:\d*$/.test(after))
        throw new URIError(`parse ${JSON.stringify(raw)}: invalid port ${JSON.stringify(after)} after host`);
      port = after.slice(1);
      host = host.slice(1, close);
    } else {
      const colon = host.lastIndexOf(":");
      if (colon >= 0) {
        port = host.slice(colon + 1);
        if (!/^\d*$/.test(port))
          throw new URIError(`parse ${JSON.stringify(raw)}: invalid port ${JSON.stringify(":" + port)} after host`);
        host = host.slice(0, colon);
      }
    }
    if (host) out.hostname = unescapePath(host);
    if (port) out.port = port;
  }
  if (rest) {
    out.path = unescapePath(rest);
    out.raw_path = rest;
  }
  if (out.username === undefined) delete out.username;
  return out;
}
