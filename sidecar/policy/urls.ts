// Reads URLs out of untrusted JSON (tool-call args, http.request urls) the way the clients that will later use them
// would: the WHATWG URL parser (browsers, Node's fetch and `new URL`), curl, and Python's urllib. A policy that
// checks a host must check the host those clients contact, not the one a tidy regex sees, so every URL-like string is
// read by a model of each client and the finding lists every host any of them would contact. When they disagree
// (`https://good.com\@evil.com` is good.com to WHATWG and evil.com to curl and Python) or none can name a host, the
// finding is ambiguous and callers deny.
//
// Client rules modelled (checked against Node 20's URL, curl 7.88 and CPython 3.11):
//   WHATWG   `new URL` itself. Special schemes (http, https, ws, wss, ftp, file) take any run of `/` and `\`, even
//            none (`https:evil.com`); the authority ends at `/ \ ? #`; userinfo ends at the LAST `@`; the host is
//            percent-decoded, mapped by UTS-46 (fullwidth letters, `。`, upper case) and numeric IPv4 forms
//            (`0x7f.1`, `2130706433`) are normalized; tab and newline anywhere are removed.
//   curl     1-3 forward slashes after the scheme, known schemes only; the authority ends at `/ ? #` (a backslash is
//            part of it); userinfo ends at the FIRST `@`; the host is percent-decoded, IDNA2008 (as UTS-46,
//            non-transitional); control characters and spaces make the URL invalid.
//   Python   `urlsplit` + `urlopen`: exactly `//` after the scheme; the netloc ends at `/ ? #`; userinfo ends at the
//            LAST `@`; the host is percent-decoded and IDNA2003-encoded (`ß` → `ss`, unlike WHATWG and curl); tab
//            and newline are removed.
// Readings of a URL inside longer text: up to the next whitespace (greedy), up to the first quote, bracket or
// backslash (what a tolerant extractor would cut), and both without trailing punctuation. Every reading goes through
// every client; hosts that no resolver could reach (`api.github.com)`: the registrable part is not a DNS name) are
// dropped, so `(see https://api.github.com)` is one host, while `https://api.github.com'@evil.com` is two.
//
// Work is linear in the input: every string is walked once, each URL's authority is read at most MAX_AUTHORITY
// characters far, and a value with more than MAX_CANDIDATES URL-like strings is one ambiguous finding.
import { isIP } from "node:net";
import { domainToASCII } from "node:url";

export interface UrlFinding {
  /** The URL as it appears (up to 200 characters). */
  text: string;
  /** The host every client that reads one agrees on (absent when ambiguous). */
  host?: string;
  /** Every host some client would contact: lower-case, ASCII (UTS-46), no trailing dot, IPv6 without brackets. */
  hosts: string[];
  /** The clients disagree, or none of them can name a host: callers deny. */
  ambiguous: boolean;
  /** Why no single host could be read, when that is the case. */
  error?: string;
}

/** A declared URL (http.request's `params.url`) read as its request: host, port and path per WHATWG, checked against
 * curl and Python. */
export interface DeclaredUrl {
  host: string;
  port: number;
  /** WHATWG pathname (dot segments removed) plus search. */
  pathAndQuery: string;
  /** `host[:port]` as a Host header would carry it. */
  authority: string;
  protocol: string;
}

const MAX_AUTHORITY = 1024;
const MAX_CANDIDATES = 5000;
const TEXT_MAX = 200;
const MAX_CUTS = 8;

/** Schemes whose authority WHATWG reads after any run of slashes and backslashes, even an empty one. */
const WHATWG_SPECIAL = new Set(["http", "https", "ws", "wss", "ftp", "file"]);
/** Suffixes looked for inside a longer scheme-looking run (`x.https:evil.com`); `ws` is left out, as many words end
 * in it (`reviews:pending`). */
const SPECIAL_SUFFIXES = ["https", "http", "wss", "ftp"];
/** Schemes curl connects with (file excluded: its host must be local). */
const CURL_SCHEMES = new Set(
  (
    "http https ftp ftps ws wss sftp scp smb smbs ldap ldaps gopher gophers dict telnet tftp imap imaps pop3 pop3s " +
    "smtp smtps mqtt rtsp rtmp rtmpe rtmps rtmpt rtmpte rtmpts"
  ).split(" "),
);
const PYTHON_SCHEMES = new Set(["http", "https", "ftp"]);

/** Scheme-less strings ending in one of these and carrying no path, port or userinfo are file names, not hosts:
 * `report.pdf`, `deploy.sh`, `notes.md`. Some are also TLDs (.sh .md .py .rs .pl .cc .zip .mov), so a bare
 * `evil.sh` is not checked; with a path or port (`evil.sh/x`, `evil.sh:443`) it is. The alternative, checking every
 * `name.ext`, would deny ordinary file names under any `domains.allow`. Any other alphabetic TLD counts (no list of
 * TLDs: new ones appear, and an attacker picks the one a list misses). */
const FILE_EXTENSIONS = new Set(
  (
    "7z apk avi bak bat bin bmp bz2 c cc cfg cjs class conf cpp cs css csv dat db deb diff dll dmg doc docx dockerfile " +
    "ejs env eps exe flac gif go gradle gz h hpp htm html ico ics ini ipynb iso jar java jpeg jpg js json jsonl jsx " +
    "key kt kts less lock log lua m4a md mdx mjs mkv mov mp3 mp4 mpeg msi odt ogg otf patch pdf pem php pkl pl png " +
    "ppt pptx proto ps1 psd py pyc r rar rb rpm rs rst rtf sass scss sh so sql sqlite svg swift tar tex tgz tif tiff " +
    "tmp toml ts tsv tsx ttf txt vue wasm wav webm webp whl woff woff2 xls xlsx xml xz yaml yml zip zsh"
  ).split(" "),
);

type Read = { host: string } | "none" | "fail";
const NONE = "none" as const;
const FAIL = "fail" as const;
type Client = (token: string) => Read;

// ---------------------------------------------------------------------------------------------------------------
// Hosts

/** Canonical host: IPv6 compressed without brackets; names percent-decoded by the caller, mapped to ASCII by UTS-46
 * (`idna2003` first applies IDNA2003's deviations: ß → ss, ς → σ, ZWJ/ZWNJ dropped), lower-case, one trailing dot
 * removed. Undefined when the mapping fails. */
function canonicalHost(raw: string, idna: "uts46" | "idna2003"): string | undefined {
  let h = raw;
  if (h.startsWith("[")) {
    if (!h.endsWith("]")) return undefined;
    h = h.slice(1, -1);
  }
  if (h.includes(":")) {
    if (isIP(h) !== 6) return undefined;
    try {
      return new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  if (idna === "idna2003")
    h = h
      .toLowerCase()
      .replace(/ß/g, "ss")
      .replace(/ς/g, "σ")
      .replace(/[\u200c\u200d]/g, "");
  const a = domainToASCII(h);
  if (a === "") return undefined;
  return a.endsWith(".") ? a.slice(0, -1) : a;
}

const DNS_LABEL = /^[a-z0-9_-]{1,63}$/;

/** Whether a resolver could reach the host: an IP address, or a name whose last two labels (the part someone
 * registers) are DNS labels. Deeper labels may hold anything a DNS query can carry (`x)y.evil.com` reaches evil.com's
 * servers), so only the registrable part is judged. */
function reachable(host: string): boolean {
  if (isIP(host)) return true;
  const labels = host.split(".");
  if (labels.some((l) => l === "")) return false;
  return labels.slice(-2).every((l) => DNS_LABEL.test(l));
}

function percentDecode(s: string): string | undefined {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client models. Each takes a token that starts with a scheme and returns the host it would contact.

function whatwg(token: string): Read {
  let u: URL;
  try {
    u = new URL(token);
  } catch {
    return FAIL;
  }
  if (u.hostname === "") return NONE;
  const special = WHATWG_SPECIAL.has(u.protocol.slice(0, -1));
  // an opaque host (non-special scheme) is neither decoded nor mapped by the parser; whoever uses it will
  const raw = special ? u.hostname : percentDecode(u.hostname);
  const h = raw === undefined ? undefined : canonicalHost(raw, "uts46");
  return h === undefined ? FAIL : { host: h };
}

const BASE = "https://base.invalid/";
/** WHATWG resolving a scheme-relative reference (`//evil.com`, `\\evil.com`) against an https page. */
function whatwgRelative(token: string): Read {
  let u: URL;
  try {
    u = new URL(token, BASE);
  } catch {
    return FAIL;
  }
  if (u.hostname === "" || u.hostname === "base.invalid") return NONE;
  const h = canonicalHost(u.hostname, "uts46");
  return h === undefined ? FAIL : { host: h };
}

function firstOf(s: string, chars: string, from: number): number {
  for (let i = from; i < s.length; i++) if (chars.includes(s[i]!)) return i;
  return s.length;
}

// curl's hostname check refuses these (after percent-decoding).
const CURL_BAD_HOST = /[\s/:#?!@{}[\]\\$'"^`*<>=;,+&()%]/;

function curl(token: string): Read {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(token)) return FAIL;
  const c = token.indexOf(":");
  if (c <= 0 || !CURL_SCHEMES.has(token.slice(0, c).toLowerCase())) return FAIL;
  let i = c + 1;
  while (token[i] === "/") i++;
  const slashes = i - c - 1;
  if (slashes < 1 || slashes > 3) return FAIL;
  const authority = token.slice(i, firstOf(token, "/?#", i));
  const at = authority.indexOf("@"); // curl ends the userinfo at the first "@"
  const hostport = at < 0 ? authority : authority.slice(at + 1);
  let host: string;
  let port: string;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) return FAIL;
    host = hostport.slice(0, close + 1);
    const rest = hostport.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return FAIL;
    port = rest.slice(1);
  } else {
    const colon = hostport.indexOf(":");
    host = colon < 0 ? hostport : hostport.slice(0, colon);
    port = colon < 0 ? "" : hostport.slice(colon + 1);
    const decoded = percentDecode(host);
    if (decoded === undefined || decoded === "" || CURL_BAD_HOST.test(decoded)) return FAIL;
    host = decoded;
  }
  if (!/^\d*$/.test(port)) return FAIL;
  const h = canonicalHost(host, "uts46");
  return h === undefined ? FAIL : { host: h };
}

function python(token: string): Read {
  // urlsplit removes tab and newline everywhere and leading C0 controls and spaces
  // eslint-disable-next-line no-control-regex
  const t = token.replace(/[\t\r\n]/g, "").replace(/^[\x00-\x20]+/, "");
  const c = t.indexOf(":");
  if (c <= 0) return FAIL;
  const scheme = t.slice(0, c);
  if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme) || !PYTHON_SCHEMES.has(scheme.toLowerCase())) return FAIL;
  if (t.slice(c + 1, c + 3) !== "//") return FAIL; // urlopen: "no host given"
  const netloc = t.slice(c + 3, firstOf(t, "/?#", c + 3));
  if (netloc.includes("[") !== netloc.includes("]")) return FAIL; // urlsplit: "Invalid IPv6 URL"
  // urlsplit's _checknetloc: NFKC must not turn the netloc into one with new delimiters
  if (/[\u0080-\uffff]/.test(netloc)) {
    const n = netloc.replace(/[@:#?]/g, "");
    const nfkc = n.normalize("NFKC");
    if (nfkc !== n && /[/?#@:]/.test(nfkc)) return FAIL;
  }
  const hostinfo = netloc.slice(netloc.lastIndexOf("@") + 1); // rpartition("@")
  let host: string;
  let port: string;
  const open = hostinfo.indexOf("[");
  if (open >= 0) {
    const bracketed = hostinfo.slice(open + 1);
    const close = bracketed.indexOf("]");
    host = bracketed.slice(0, close < 0 ? bracketed.length : close);
    const after = close < 0 ? "" : bracketed.slice(close + 1);
    const colon = after.indexOf(":");
    port = colon < 0 ? "" : after.slice(colon + 1);
    host = `[${host}]`;
  } else {
    const colon = hostinfo.indexOf(":");
    host = colon < 0 ? hostinfo : hostinfo.slice(0, colon);
    port = colon < 0 ? "" : hostinfo.slice(colon + 1);
  }
  if (host === "" || host === "[]" || !/^\d*$/.test(port)) return FAIL;
  const decoded = percentDecode(host.toLowerCase()) ?? host.toLowerCase(); // unquote leaves bad escapes as they are
  const h = canonicalHost(decoded, "idna2003");
  return h === undefined ? FAIL : { host: h };
}

/** A lenient reader standing for the many other URL parsers (and for later versions of the three): any run of slashes
 * and backslashes after the scheme, the authority up to `/ ? #` (a backslash is part of it), userinfo up to the last
 * `@`, the host up to the first `:`. It only ever adds hosts, so it can make a finding ambiguous, never hide one. */
function lenient(token: string): Read {
  const c = token.indexOf(":");
  if (c <= 0 || token.slice(0, c).toLowerCase() === "file") return FAIL;
  let i = c + 1;
  while (token[i] === "/" || token[i] === "\\") i++;
  if (i === c + 1 && !WHATWG_SPECIAL.has(token.slice(0, c).toLowerCase())) return FAIL;
  const authority = token.slice(i, firstOf(token, "/?#", i));
  const hp = authority.slice(authority.lastIndexOf("@") + 1);
  let host: string | undefined;
  if (hp.startsWith("[")) {
    const close = hp.indexOf("]");
    host = close < 0 ? undefined : hp.slice(0, close + 1);
  } else {
    const colon = hp.indexOf(":");
    host = percentDecode(colon < 0 ? hp : hp.slice(0, colon));
  }
  if (host === undefined || host === "") return FAIL;
  const h = canonicalHost(host, "uts46");
  return h === undefined ? FAIL : { host: h };
}

const ALL_CLIENTS: Client[] = [whatwg, curl, python, lenient];
const WHOLE_CLIENTS: Client[] = [whatwg, python]; // the two that remove tab and newline
const RELATIVE_CLIENTS: Client[] = [whatwgRelative];

// ---------------------------------------------------------------------------------------------------------------
// Finding URL-like strings

interface Candidate {
  /** How it was found; everything but a strong `scheme:/` URL is dropped when no client reads a host from it. */
  kind: "scheme" | "relative" | "bare" | "whole";
  /** `scheme:/...` with at least one slash: a URL even when no client can read its host (then it is denied). */
  strong: boolean;
  tokens: string[];
  text: string;
  /** The authority holds a letter or digit (`https:"}` does not, and is no URL). */
  substantive: boolean;
  tooLong?: boolean;
}

const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isSchemeChar = (c: number) => isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46;
const isSlash = (c: number) => c === 47 || c === 92;
// whitespace as JavaScript's \s knows it
const isSpace = (ch: string) => /\s/.test(ch);
const STOP = "\"'<>`(){}|^\\";
const TRAILING = ".,;:!?'\")]}>";
/** What may precede a scheme-relative `//`: not part of a word, a path or a URL. */
const NOT_BOUNDARY = /[A-Za-z0-9:/\\._~%+\-@*]/;

function trimTrailing(token: string, min: number): string {
  let e = token.length;
  while (e > min && TRAILING.includes(token[e - 1]!)) e--;
  return token.slice(0, e);
}

/** The authority starting at `a`: its end (first `/ ? #` or whitespace), or -1 past MAX_AUTHORITY characters. */
function authorityEnd(s: string, a: number): number {
  const limit = Math.min(s.length, a + MAX_AUTHORITY + 1);
  for (let i = a; i < limit; i++) {
    const ch = s[i]!;
    if (ch === "/" || ch === "?" || ch === "#" || isSpace(ch)) return i;
  }
  return limit === s.length ? s.length : -1;
}

function textAt(s: string, start: number): string {
  let e = start;
  const limit = Math.min(s.length, start + TEXT_MAX);
  while (e < limit && !isSpace(s[e]!)) e++;
  return s.slice(start, e);
}

/** The readings of the URL at [start, a) + authority [a, cut): greedy, cut before each quote, bracket or backslash
 * (as some extractor may cut it; at most MAX_CUTS of them), each also without trailing punctuation. */
function readings(s: string, start: number, a: number, cut: number): string[] {
  const min = a - start;
  const out = new Set<string>();
  const add = (end: number) => {
    const token = s.slice(start, end);
    out.add(token);
    out.add(trimTrailing(token, min));
  };
  add(cut);
  let cuts = 0;
  for (let i = a; i < cut && cuts < MAX_CUTS; i++) {
    const code = s.charCodeAt(i);
    if (STOP.includes(s[i]!) || code <= 0x20 || code === 0x7f) {
      add(i);
      cuts++;
    }
  }
  return [...out];
}

class Scanner {
  readonly candidates: Candidate[] = [];
  overflow = false;

  private add(c: Candidate): void {
    if (this.candidates.length >= MAX_CANDIDATES) this.overflow = true;
    else this.candidates.push(c);
  }

  /** A URL starting at `start` whose authority starts at `a`. */
  private url(s: string, kind: "scheme" | "relative", start: number, a: number): void {
    const cut = authorityEnd(s, a);
    if (cut === a) return; // empty authority: `https://` alone names nothing
    if (cut < 0) {
      if (kind === "scheme")
        this.add({ kind, strong: true, tokens: [], text: textAt(s, start), substantive: true, tooLong: true });
      return;
    }
    const authority = s.slice(a, cut);
    if (kind === "relative" && /^[A-Za-z_-]*(:\S*)?$/.test(authority)) return; // `//TODO: x`, `//eslint-disable`
    this.add({
      kind,
      strong: kind === "scheme" && a > start && isSlash(s.charCodeAt(a - 1)),
      tokens: readings(s, start, a, cut),
      text: textAt(s, start),
      substantive: /[\p{L}\p{N}]/u.test(authority),
    });
  }

  scan(s: string): void {
    const n = s.length;
    let prevColon = -1;
    for (let i = 0; i < n && !this.overflow; i++) {
      const c = s.charCodeAt(i);
      if (c === 58 /* : */) {
        // the scheme run ends at the colon; runs between colons are disjoint, so walking back is linear overall
        let j = i;
        while (j > prevColon + 1 && isSchemeChar(s.charCodeAt(j - 1))) j--;
        prevColon = i;
        while (j < i && !isAlpha(s.charCodeAt(j))) j++;
        if (j === i) continue;
        let k = i + 1;
        while (k < n && isSlash(s.charCodeAt(k))) k++;
        const scheme = s.slice(j, i).toLowerCase();
        const starts: { start: number; scheme: string }[] = [{ start: j, scheme }];
        if (!WHATWG_SPECIAL.has(scheme))
          for (const sp of SPECIAL_SUFFIXES)
            if (
              scheme.length > sp.length &&
              scheme.endsWith(sp) &&
              !isAlpha(scheme.charCodeAt(scheme.length - sp.length - 1))
            ) {
              starts.push({ start: i - sp.length, scheme: sp });
              break;
            }
        for (const { start, scheme: sc } of starts) {
          const slashes = s.slice(i + 1, k);
          const ok = WHATWG_SPECIAL.has(sc)
            ? true
            : CURL_SCHEMES.has(sc)
              ? slashes.includes("/")
              : slashes.startsWith("//");
          if (ok) this.url(s, "scheme", start, k);
        }
        i = k - 1;
      } else if (isSlash(c) && i + 1 < n && isSlash(s.charCodeAt(i + 1))) {
        let k = i + 2;
        while (k < n && isSlash(s.charCodeAt(k))) k++;
        if (i === 0 || !NOT_BOUNDARY.test(s[i - 1]!)) this.url(s, "relative", i, k);
        i = k - 1;
      }
    }
  }

  /** A string value that, with tab and newline removed (as WHATWG and Python do), starts with a URL: read whole. */
  whole(s: string): void {
    if (!/[\t\r\n]/.test(s)) return;
    // eslint-disable-next-line no-control-regex
    const w = s.replace(/[\t\r\n]/g, "").replace(/^[\x00-\x20]+/, "");
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):[/\\]*/.exec(w);
    if (!m) return;
    const scheme = m[1]!.toLowerCase();
    if (!WHATWG_SPECIAL.has(scheme) && !m[0].endsWith("//")) return;
    const end = firstOf(w, "/?#", m[0].length);
    if (end - m[0].length > MAX_AUTHORITY) return;
    this.add({
      kind: "whole",
      strong: false,
      tokens: [w.slice(0, end)],
      text: w.slice(0, TEXT_MAX),
      substantive: true,
    });
  }

  /** A whole value that curl would fetch without a scheme: `host.tld[:port][/path]`. */
  bare(s: string, isKey: boolean): void {
    let t = s.trim();
    if (t.length < 4 || t.length > 2048) return;
    const pair = t[0]! + t[t.length - 1]!;
    if (pair === '""' || pair === "''" || pair === "<>" || pair === "``") t = t.slice(1, -1).trim();
    if (/\s/.test(t)) return;
    const hostEnd = firstOf(t, "/?#", 0);
    const hostport = t.slice(0, hostEnd);
    if (hostport.length === 0 || hostport.length > 300 || hostport.includes("\\")) return;
    const at = hostport.lastIndexOf("@");
    const userinfo = at >= 0;
    const hp = hostport.slice(at + 1);
    let host: string;
    let port = "";
    if (hp.startsWith("[")) {
      const close = hp.indexOf("]");
      if (close < 0 || isIP(hp.slice(1, close)) !== 6) return;
      host = hp.slice(0, close + 1);
      const rest = hp.slice(close + 1);
      if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return;
      port = rest.slice(1);
    } else {
      const colon = hp.indexOf(":");
      host = colon < 0 ? hp : hp.slice(0, colon);
      if (colon >= 0) {
        port = hp.slice(colon + 1);
        if (!/^\d{1,5}$/.test(port)) return;
      }
      if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
        if (!host.split(".").every((x) => Number(x) <= 255)) return;
      } else {
        let a = domainToASCII(host);
        if (a.endsWith(".")) a = a.slice(0, -1);
        const m = /^(?:[a-z0-9_-]{1,63}\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$/.exec(a);
        if (!m) return;
        const pathOrPort = hostEnd < t.length || port !== "";
        if (!pathOrPort && (userinfo || isKey)) return; // bob@example.com is an e-mail address; keys need more
        if (!pathOrPort && FILE_EXTENSIONS.has(m[1]!)) return; // report.pdf
      }
    }
    this.add({ kind: "bare", strong: false, tokens: [`http://${t}`], text: t.slice(0, TEXT_MAX), substantive: true });
  }
}

function clientsFor(kind: Candidate["kind"]): Client[] {
  return kind === "relative" ? RELATIVE_CLIENTS : kind === "whole" ? WHOLE_CLIENTS : ALL_CLIENTS;
}

function judge(c: Candidate): UrlFinding | undefined {
  const hosts = new Set<string>();
  let none = false;
  for (const token of c.tokens)
    for (const client of clientsFor(c.kind)) {
      const r = client(token);
      if (r === NONE) none = true;
      else if (r !== FAIL && reachable(r.host)) hosts.add(r.host);
    }
  const list = [...hosts];
  if (c.tooLong)
    return {
      text: c.text,
      hosts: list,
      ambiguous: true,
      error: `its authority is longer than ${MAX_AUTHORITY} characters`,
    };
  if (list.length === 1) return { text: c.text, host: list[0]!, hosts: list, ambiguous: false };
  if (list.length > 1) return { text: c.text, hosts: list, ambiguous: true };
  if (!c.strong || none || !c.substantive) return undefined;
  return { text: c.text, hosts: [], ambiguous: true, error: "no client reads a host name from it" };
}

/** Every URL-like string in a JSON value: keys and values at any depth (iteratively, so deep nesting neither hides
 * a URL nor overflows the stack), URLs inside longer text, and whole values that are scheme-less hosts. */
export function readUrls(value: unknown): UrlFinding[] {
  const scanner = new Scanner();
  const stack: { v: unknown; key: boolean }[] = [{ v: value, key: false }];
  while (stack.length > 0 && !scanner.overflow) {
    const { v, key } = stack.pop()!;
    if (typeof v === "string") {
      scanner.scan(v);
      scanner.whole(v);
      scanner.bare(v, key);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], key: false });
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--)
        stack.push({ v: entries[i]![1], key: false }, { v: entries[i]![0], key: true });
    }
  }
  const out: UrlFinding[] = [];
  const seen = new Set<string>();
  for (const c of scanner.candidates) {
    const f = judge(c);
    if (!f) continue;
    const id = `${f.text}\u0000${f.hosts.join(",")}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(f);
  }
  if (scanner.overflow)
    out.push({
      text: `(more than ${MAX_CANDIDATES} URL-like strings)`,
      hosts: [],
      ambiguous: true,
      error: `more than ${MAX_CANDIDATES} URL-like strings to check`,
    });
  return out;
}

/** Reads a declared URL (an http.request's url): the request WHATWG would send, provided curl and Python would
 * contact the same host. */
export function readDeclaredUrl(url: string): DeclaredUrl | { error: string; hosts: string[] } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: "it is not an absolute URL", hosts: [] };
  }
  const hosts = new Set<string>();
  let w: string | undefined;
  for (const client of ALL_CLIENTS) {
    const r = client(url);
    if (r === NONE || r === FAIL || !reachable(r.host)) continue;
    hosts.add(r.host);
    if (client === whatwg) w = r.host;
  }
  const list = [...hosts];
  if (list.length > 1) return { error: `clients would contact different hosts: ${list.join(", ")}`, hosts: list };
  if (w === undefined) return { error: "no client reads a host name from it", hosts: list };
  return {
    host: w,
    port: Number(u.port || (u.protocol === "https:" || u.protocol === "wss:" ? 443 : 80)),
    pathAndQuery: (u.pathname || "/") + u.search,
    authority: u.host,
    protocol: u.protocol,
  };
}
