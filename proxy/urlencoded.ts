// `application/x-www-form-urlencoded` text (query strings and form bodies) decoded the way the rules see it: an
// object of arrays (`a=1&a=2&b` → {a:["1","2"], b:[""]}), as OPA's urlquery.decode_object and WHATWG's
// URLSearchParams give: pairs split on `&`, name and value on the first `=`, `+` is a space, percent-escapes decoded.
// Unlike URLSearchParams, nothing is silently replaced: an invalid escape (`%zz`, a lone `%`), an encoded or raw NUL,
// or escapes that do not decode to UTF-8 (`%FF`, which URLSearchParams shows as U+FFFD, the same for `%FE`) refuse
// the text instead, since two different requests would look the same to the rules. A leading BOM is kept.
// The object has no prototype: `constructor`, `__proto__`, `toString` are names like any other.

/** Text the proxy will not decode for the rules. */
export class UrlEncodedRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UrlEncodedRefused";
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** One name or value: `+` → space, escapes decoded, UTF-8 required. */
function decodeComponent(s: string): string {
  if (!s.includes("%") && !s.includes("+") && !s.includes("\0")) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw new UrlEncodedRefused(`invalid percent-escape in ${JSON.stringify(s.slice(0, 100))}`);
      const b = (hi << 4) | lo;
      if (b === 0) throw new UrlEncodedRefused("an encoded NUL (%00)");
      bytes.push(b);
      i += 2;
    } else if (c === 0) throw new UrlEncodedRefused("a NUL character");
    else if (c === 0x2b) bytes.push(0x20);
    else if (c < 0x80) bytes.push(c);
    else {
      // a raw non-ASCII character (bodies may carry them; the caller checked the text is UTF-8): its UTF-8 bytes
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), "utf8")) bytes.push(b);
    }
  }
  try {
    return strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new UrlEncodedRefused(`percent-escapes that are not UTF-8 in ${JSON.stringify(s.slice(0, 100))}`);
  }
}

/** `a=1&a=2&b` → {a:["1","2"], b:[""]} (prototype-less). Throws UrlEncodedRefused. */
export function decodeUrlEncoded(text: string): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  if (text === "") return out;
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decodeComponent(pair.slice(eq + 1));
    (out[name] ??= []).push(value);
  }
  return out;
}
