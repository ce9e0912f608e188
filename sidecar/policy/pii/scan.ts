// Walks a JSON value (an intent's params, a tool's result) and runs the enabled detectors on every string, and on
// integers for payment cards. A string holding a JSON object or array is parsed and walked too (path segment
// `(json)`), so PII cannot hide in an escaped body. Findings name the detector, the path and the span; they never
// keep the matched text. Bounds: depth MAX_DEPTH (nested JSON strings included) and MAX_NESTED_JSON characters per
// embedded document; past them the walk reports a `limit` finding, which the pii block denies (fail closed).
import { DETECTORS, type BuiltinDetector, type Detect, type Hit } from "./detectors.ts";
import { patternDetector } from "./patterns.ts";

export interface Finding {
  /** Built-in detector id, or the id of an operator pattern; `limit` when the value could not be scanned. */
  detector: string;
  /** Dotted path from the scanned root (`params.args.user.email`, array items by index, `(json)` into a string
   * holding JSON). */
  path: string;
  /** UTF-16 offsets in the string at `path` (for numbers: the decimal text of the number). */
  start: number;
  end: number;
  /** Card network or secret kind, for messages. */
  kind?: string;
}

export const MAX_DEPTH = 64;
export const MAX_NESTED_JSON = 1 << 20;
export const JSON_SEGMENT = "(json)";

export interface Scanner {
  /** Detector ids this scanner runs. */
  readonly detectors: readonly string[];
  scan(value: unknown, root: string): Finding[];
}

/** A scanner running the given built-in detectors and operator patterns (id → RE2 source). */
export function createScanner(builtins: Iterable<BuiltinDetector>, patterns: { id: string; regex: string }[] = []): Scanner {
  const list: Detect[] = [];
  const ids: string[] = [];
  for (const d of new Set(builtins)) {
    list.push(DETECTORS[d]);
    ids.push(d);
  }
  for (const p of patterns) {
    list.push(patternDetector(p.id, p.regex));
    ids.push(p.id);
  }
  const cards = ids.includes("payment_card") ? DETECTORS.payment_card : undefined;
  const hits: Hit[] = [];
  const out: Finding[] = [];

  const onString = (s: string, key: string | undefined, path: string) => {
    hits.length = 0;
    for (const d of list) d(s, key, hits);
    for (const h of hits) out.push({ ...h, path });
  };
  const walk = (v: unknown, path: string, key: string | undefined, depth: number): void => {
    if (depth > MAX_DEPTH) {
      out.push({ detector: "limit", path, start: 0, end: 0, kind: `nested deeper than ${MAX_DEPTH} levels` });
      return;
    }
    if (typeof v === "string") {
      const inner = embeddedJson(v);
      if (inner === TOO_LARGE)
        out.push({ detector: "limit", path, start: 0, end: 0, kind: `embedded JSON over ${MAX_NESTED_JSON} characters` });
      else if (inner !== undefined) walk(inner, `${path}.${JSON_SEGMENT}`, key, depth + 1);
      else if (v.length > 0) onString(v, key, path);
    } else if (typeof v === "number") {
      // a card number sent as a JSON number (only integers long enough to be one)
      if (cards && Number.isInteger(v) && Math.abs(v) >= 1e11) {
        hits.length = 0;
        cards(String(v), key, hits);
        for (const h of hits) out.push({ ...h, path });
      }
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], `${path}.${i}`, key, depth + 1);
    } else if (v !== null && typeof v === "object") {
      for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${path}.${k}`, k, depth + 1);
    }
  };
  return {
    detectors: ids,
    scan(value, root) {
      out.length = 0;
      walk(value, root, undefined, 0);
      return out.splice(0);
    },
  };
}

const TOO_LARGE = Symbol("too large");

/** The JSON object or array a string holds (undefined: it holds none). Only strings that start with `{` or `[` and
 * end with `}` or `]` (whitespace aside) are tried, so ordinary text costs one character check. */
export function embeddedJson(s: string): unknown {
  let a = 0;
  while (a < s.length && s.charCodeAt(a) <= 32) a++;
  const c = s[a];
  if (c !== "{" && c !== "[") return undefined;
  let b = s.length - 1;
  while (b > a && s.charCodeAt(b) <= 32) b--;
  if (s[b] !== (c === "{" ? "}" : "]")) return undefined;
  if (s.length > MAX_NESTED_JSON) return TOO_LARGE;
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}
