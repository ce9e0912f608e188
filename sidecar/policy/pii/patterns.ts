// Operators' own PII patterns (`pii.patterns`), with RE2 semantics through the same engine the Rego builtins use
// (rego/builtins/lib/re2.ts: re2js, linear time). Lookaround and backreferences do not exist in RE2: such a pattern
// is refused when the policy loads, with a message that says so.
import { compileRegex, RegexError } from "../../../rego/builtins/lib/re2.ts";
import type { Detect } from "./detectors.ts";

type Compiled = ReturnType<typeof compileRegex>;

/** Why `source` is not a usable pattern (undefined: it is). */
export function patternProblem(source: string): string | undefined {
  if (source.length === 0) return "is empty; write an RE2 regular expression, e.g. \"EMP-[0-9]{6}\"";
  let re: Compiled;
  try {
    re = compileRegex(source);
  } catch (e) {
    const msg = e instanceof RegexError ? e.message : String(e);
    const unsupported = /\(\?[=!]|\(\?<[=!]|\\[1-9]/.test(source)
      ? "; RE2 has no lookahead, lookbehind or backreferences: match the text itself instead"
      : "";
    return `is not an RE2 regular expression (${msg})${unsupported}`;
  }
  if (re.match("")) return "matches the empty string, so it would match everywhere; require at least one character";
  return undefined;
}

/** A detector for one compiled pattern; its findings carry the pattern's id. It runs once over the joined strings
 * (one call instead of one per string); a pattern with anchors (^ $ \A \z, which mean the start and end of ONE
 * string) or a match that crosses from one string into the next is run string by string instead, so the semantics
 * are those of matching each string on its own. */
export function patternDetector(id: string, source: string): Detect {
  const re = compileRegex(source);
  const anchored = /\^|\$|\\A|\\z/.test(source);
  const all = (s: string) => (re.findAllIndex(s, -1) ?? []) as [number, number][];
  return (s, ctx, out) => {
    if (!anchored) {
      const ms = all(s);
      if (ms.every(([a, b]) => b > a && b <= ctx.endAt(a))) {
        for (const [start, end] of ms) out.push({ detector: id, start, end });
        return;
      }
    }
    for (const [a, b] of ctx.segments()) {
      const seg = s.slice(a, b);
      for (const [start, end] of all(seg)) if (end > start) out.push({ detector: id, start: a + start, end: a + end });
    }
  };
}
