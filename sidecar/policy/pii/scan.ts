// Walks a JSON value (an intent's params, a tool's result) and runs the enabled detectors on every string, and on
// integers for payment cards. A string holding a JSON object or array is parsed and walked too (path segment
// `(json)`), so PII cannot hide in an escaped body. Findings name the detector, the path and the span; they never
// keep the matched text. Bounds: depth MAX_DEPTH (nested JSON strings included) and MAX_NESTED_JSON characters per
// embedded document; past them the walk reports a `limit` finding, which the pii block denies (fail closed).
import { DETECTORS, single, type BuiltinDetector, type Detect, type Hit, type SegmentContext } from "./detectors.ts";
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

/** A scanner running the given built-in detectors and operator patterns (id → RE2 source). The strings of a value
 * are joined by "\n" (no built-in pattern matches across one; patterns check, see ./patterns.ts) and each detector
 * runs once over the joined text: one regex pass per detector instead of one per string, which is what makes 64 KiB
 * of small strings cheap. Hits are mapped back to their string by binary search. */
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

  return {
    detectors: ids,
    scan(value, root) {
      const out: Finding[] = [];
      const texts: string[] = [];
      const paths: string[] = [];
      const keys: (string | undefined)[] = [];
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
          else if (v.length > 0) {
            texts.push(v);
            paths.push(path);
            keys.push(key);
          }
        } else if (typeof v === "number") {
          // a card number sent as a JSON number (only integers long enough to be one)
          if (cards && Number.isInteger(v) && Math.abs(v) >= 1e11) {
            const hits: Hit[] = [];
            const text = String(v);
            cards(text, single(key, text.length), hits);
            for (const h of hits) out.push({ ...h, path });
          }
        } else if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) walk(v[i], `${path}.${i}`, key, depth + 1);
        } else if (v !== null && typeof v === "object") {
          for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${path}.${k}`, k, depth + 1);
        }
      };
      walk(value, root, undefined, 0);
      if (texts.length === 0 || list.length === 0) return out;
      const starts = new Array<number>(texts.length);
      let at = 0;
      for (let i = 0; i < texts.length; i++) {
        starts[i] = at;
        at += texts[i]!.length + 1;
      }
      const joined = texts.length === 1 ? texts[0]! : texts.join("\n");
      const segOf = (offset: number): number => {
        let lo = 0;
        let hi = starts.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (starts[mid]! <= offset) lo = mid;
          else hi = mid - 1;
        }
        return lo;
      };
      const ctx: SegmentContext = {
        anyKey: (re) => keys.some((k) => k !== undefined && re.test(k)),
        keyAt: (o) => keys[segOf(o)],
        endAt: (o) => {
          const i = segOf(o);
          return starts[i]! + texts[i]!.length;
        },
        *segments() {
          for (let i = 0; i < texts.length; i++) yield [starts[i]!, starts[i]! + texts[i]!.length] as const;
        },
      };
      const hits: Hit[] = [];
      for (const d of list) d(joined, ctx, hits);
      for (const h of hits) {
        const i = segOf(h.start);
        const s0 = starts[i]!;
        if (h.end > s0 + texts[i]!.length) continue; // across two strings: not a value of either (never for built-ins)
        out.push({ ...h, start: h.start - s0, end: h.end - s0, path: paths[i]! });
      }
      return out;
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
