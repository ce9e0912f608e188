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
  /** Set when the finding is an object KEY (the property name itself): the object's path and the key's index among
   * its keys. `path` then ends in the key's marker segment, never in the key. */
  key?: { of: string; index: number };
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

  /** Runs every detector once over `texts` joined by "\n"; calls `hit` with each hit mapped to its text's index. */
  const detect = (texts: string[], keys: (string | undefined)[], hit: (i: number, h: Hit) => void): void => {
    if (texts.length === 0 || list.length === 0) return;
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
      hit(i, { ...h, start: h.start - s0, end: h.end - s0 });
    }
  };

  return {
    detectors: ids,
    scan(value, root) {
      const out: Finding[] = [];
      const parsed = new Map<string, unknown>(); // embedded JSON, parsed once for both walks
      const inner = (v: string) => {
        if (!mayHoldJson(v)) return undefined;
        if (parsed.has(v)) return parsed.get(v);
        const r = embeddedJson(v);
        parsed.set(v, r);
        return r;
      };
      // 1. Object keys that could hold PII (an @ or a digit; every key when operator patterns run): a key found to be
      // PII is shown in paths as its marker, so no reason, path or stored field ever carries it.
      const names = new Set<string>();
      const collect = (v: unknown, depth: number): void => {
        if (depth > MAX_DEPTH) return;
        if (typeof v === "string") {
          const j = inner(v);
          if (j !== undefined && j !== TOO_LARGE) collect(j, depth + 1);
        } else if (Array.isArray(v)) for (const x of v) collect(x, depth + 1);
        else if (v !== null && typeof v === "object")
          for (const k of Object.keys(v)) {
            if (patterns.length > 0 || KEY_CANDIDATE.test(k)) names.add(k);
            collect((v as Record<string, unknown>)[k], depth + 1);
          }
      };
      collect(value, 0);
      const unsafe = new Map<string, Hit>();
      if (names.size > 0) {
        const list = [...names];
        detect(list, [], (i, h) => {
          const prev = unsafe.get(list[i]!);
          if (!prev || h.start < prev.start) unsafe.set(list[i]!, h);
        });
      }

      // 2. Values
      const texts: string[] = [];
      const paths: string[] = [];
      const keys: (string | undefined)[] = [];
      const walk = (v: unknown, path: string, key: string | undefined, depth: number): void => {
        if (depth > MAX_DEPTH) {
          out.push({ detector: "limit", path, start: 0, end: 0, kind: `nested deeper than ${MAX_DEPTH} levels` });
          return;
        }
        if (typeof v === "string") {
          const j = inner(v);
          if (j === TOO_LARGE)
            out.push({ detector: "limit", path, start: 0, end: 0, kind: `embedded JSON over ${MAX_NESTED_JSON} characters` });
          else if (j !== undefined) walk(j, `${path}.${JSON_SEGMENT}`, key, depth + 1);
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
          const ks = Object.keys(v);
          const segs = unsafe.size > 0 ? keySegments(ks, (k) => unsafe.get(k)?.detector) : ks;
          for (let i = 0; i < ks.length; i++) {
            const k = ks[i]!;
            const h = unsafe.size > 0 ? unsafe.get(k) : undefined;
            if (h) out.push({ ...h, start: 0, end: 0, path: `${path}.${segs[i]}`, key: { of: path, index: i } });
            // a PII key gives no context either: its values are judged without it
            walk((v as Record<string, unknown>)[k], `${path}.${segs[i]}`, h ? undefined : k, depth + 1);
          }
        }
      };
      walk(value, root, undefined, 0);
      detect(texts, keys, (i, h) => out.push({ ...h, path: paths[i]! }));
      return out;
    },
  };
}

/** Cheap first test of embeddedJson: the first non-blank character opens an object or array. */
function mayHoldJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 32) return c === 123 || c === 91;
  }
  return false;
}

/** Keys that may hold PII and are worth a detector pass: an @ or a digit somewhere (every built-in needs one). */
const KEY_CANDIDATE = /[@\d]/;

/** The path segment of each key of one object: the key itself, or for a key found to be PII its marker
 * (`[REDACTED:email]`, then `[REDACTED:email]#2` for the next one in the same object). The redactor computes the same
 * segments from the key findings, so paths agree. */
export function keySegments(keys: readonly string[], detectorOf: (key: string, index: number) => string | undefined): string[] {
  const seen = new Map<string, number>();
  return keys.map((k, i) => {
    const d = detectorOf(k, i);
    if (d === undefined) return k;
    const n = (seen.get(d) ?? 0) + 1;
    seen.set(d, n);
    return n === 1 ? `[REDACTED:${d}]` : `[REDACTED:${d}]#${n}`;
  });
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
