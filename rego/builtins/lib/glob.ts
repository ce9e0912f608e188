// gobwas/glob semantics (as OPA's glob.match uses them), compiled to an RE2 program so matching is linear.
import { compileRegex, quoteMeta } from "./re2.ts";

export class GlobError extends Error {}

const cache = new Map<string, ReturnType<typeof compileRegex>>();

function escapeClassChar(c: string): string {
  return /[\\\]^[-]/.test(c) ? "\\" + c : c;
}

/** Translate a glob to an anchored RE2 pattern; separators limit `*` and `?`. */
export function globToRegex(glob: string, seps: string[]): string {
  const notSep = seps.length ? "[^" + seps.map(escapeClassChar).join("") + "]" : "(?s:.)";
  let out = "";
  let i = 0;
  let depth = 0; // inside {…}
  const runes = [...glob];
  while (i < runes.length) {
    const c = runes[i]!;
    if (c === "\\") {
      if (i + 1 >= runes.length) throw new GlobError("unexpected end of input");
      out += quoteMeta(runes[i + 1]!);
      i += 2;
      continue;
    }
    if (c === "*") {
      if (runes[i + 1] === "*") {
        out += "(?s:.*)";
        while (runes[i] === "*") i++;
      } else {
        out += notSep + "*";
        i++;
      }
      continue;
    }
    if (c === "?") {
      out += notSep;
      i++;
      continue;
    }
    if (c === "[") {
      let j = i + 1;
      let neg = false;
      if (runes[j] === "!") {
        neg = true;
        j++;
      }
      let cls = "";
      let closed = false;
      while (j < runes.length) {
        const d = runes[j]!;
        if (d === "]") {
          closed = true;
          break;
        }
        if (d === "\\" && j + 1 < runes.length) {
          cls += escapeClassChar(runes[j + 1]!);
          j += 2;
          continue;
        }
        if (d === "-" && cls.length > 0 && runes[j + 1] !== "]") {
          cls += "-";
          j++;
          continue;
        }
        cls += escapeClassChar(d);
        j++;
      }
      if (!closed) throw new GlobError("unexpected end of input");
      if (cls === "") throw new GlobError("empty range");
      out += "[" + (neg ? "^" : "") + cls + "]";
      i = j + 1;
      continue;
    }
    if (c === "{") {
      out += "(?:";
      depth++;
      i++;
      continue;
    }
    if (c === "}" && depth > 0) {
      out += ")";
      depth--;
      i++;
      continue;
    }
    if (c === "," && depth > 0) {
      out += "|";
      i++;
      continue;
    }
    out += quoteMeta(c);
    i++;
  }
  if (depth > 0) throw new GlobError("unexpected end of input");
  return "^" + out + "$";
}

/**
 * gobwas/glob quirk: a pattern that compiles to a single-rune matcher (`?`, a `[!...]` list or range, or such an
 * alternative of a top-level `{...}`) decodes the empty string as one (invalid) rune and so matches it.
 */
function singleRuneMatchesEmpty(glob: string): boolean {
  const one = (p: string) => p === "?" || /^\[![^\]\\]+\]$/.test(p);
  if (one(glob)) return true;
  const m = /^\{([^{}\\[\]]*)\}$/.exec(glob);
  return !!m && m[1]!.split(",").some(one);
}

export function globMatch(glob: string, seps: string[], s: string): boolean {
  if (s === "" && singleRuneMatchesEmpty(glob)) {
    globToRegex(glob, seps); // still reports a malformed pattern
    return true;
  }
  const key = seps.join("") + "\u0000" + glob;
  let re = cache.get(key);
  if (!re) {
    re = compileRegex(globToRegex(glob, seps));
    if (cache.size > 1000) cache.clear();
    cache.set(key, re);
  }
  return re.match(s);
}

/** gobwas/glob QuoteMeta. */
export function globQuoteMeta(s: string): string {
  return s.replace(/[*?\\[\]{}]/g, "\\$&"); // gobwas' specials: no `,` `!` `-`
}
