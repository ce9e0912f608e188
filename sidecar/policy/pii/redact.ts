// Replaces the spans the scanner found with `[REDACTED:<detector>]`, returning a copy of the value (parts without
// findings are shared, not copied). A string holding JSON is parsed, redacted inside and serialized again (compact
// JSON: whitespace of the embedded document is not kept). A number found to be a card number becomes the marker string.
import { embeddedJson, JSON_SEGMENT, keySegments, type Finding } from "./scan.ts";

export const marker = (detector: string): string => `[REDACTED:${detector}]`;

/** `s` with the spans replaced; overlapping spans are merged (the earliest-starting span names the marker). */
export function redactString(s: string, spans: readonly Pick<Finding, "start" | "end" | "detector">[]): string {
  const sorted = [...spans].sort((x, y) => x.start - y.start || y.end - x.end);
  let out = "";
  let pos = 0;
  for (let i = 0; i < sorted.length; ) {
    const first = sorted[i]!;
    let end = first.end;
    let j = i + 1;
    while (j < sorted.length && sorted[j]!.start < end) end = Math.max(end, sorted[j++]!.end);
    out += s.slice(pos, first.start) + marker(first.detector);
    pos = Math.min(end, s.length);
    i = j;
  }
  return out + s.slice(pos);
}

/** A copy of `value` (scanned from `root`) with every finding's span replaced, and every object key found to be PII
 * renamed to its marker. `structure`: all the findings of the scan (default: `findings`): key findings among them
 * give the path segments of PII keys (as the scanner wrote the paths), also where their own action keeps the key. */
export function redactValue(
  value: unknown,
  findings: readonly Finding[],
  root: string,
  structure: readonly Finding[] = findings,
): unknown {
  if (findings.length === 0) return value;
  const at = new Map<string, Finding[]>();
  const under = new Set<string>();
  const mark = (p: string) => {
    for (let i = p.indexOf("."); i >= 0; i = p.indexOf(".", i + 1)) under.add(p.slice(0, i));
    under.add(p);
  };
  /** object path → key index → its detector (for path segments), and the keys to rename */
  const keyDetectors = new Map<string, Map<number, string>>();
  const renamed = new Set<string>();
  for (const f of structure)
    if (f.key) {
      let m = keyDetectors.get(f.key.of);
      if (!m) keyDetectors.set(f.key.of, (m = new Map()));
      if (!m.has(f.key.index)) m.set(f.key.index, f.detector);
    }
  for (const f of findings) {
    mark(f.path);
    if (f.key) {
      renamed.add(`${f.key.index}\u0000${f.key.of}`);
      continue;
    }
    const list = at.get(f.path);
    if (list) list.push(f);
    else at.set(f.path, [f]);
  }
  const walk = (v: unknown, path: string): unknown => {
    if (!under.has(path)) return v;
    if (typeof v === "string") {
      const spans = at.get(path);
      if (spans) return redactString(v, spans);
      const inner = embeddedJson(v);
      return inner !== undefined && typeof inner === "object"
        ? JSON.stringify(walk(inner, `${path}.${JSON_SEGMENT}`))
        : v;
    }
    if (typeof v === "number") return at.has(path) ? marker(at.get(path)![0]!.detector) : v;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`));
    if (v !== null && typeof v === "object") {
      const keys = Object.keys(v);
      const kd = keyDetectors.get(path);
      const segs = kd ? keySegments(keys, (_k, i) => kd.get(i)) : keys;
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const seg = segs[i]!;
        out[seg !== k && renamed.has(`${i}\u0000${path}`) ? seg : k] = walk((v as Record<string, unknown>)[k], `${path}.${seg}`);
      }
      return out;
    }
    return v;
  };
  return walk(value, root);
}

/** Findings counted by detector (what output redaction records: counts only, never values or spans). */
export function countByDetector(findings: readonly Finding[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.detector] = (counts[f.detector] ?? 0) + 1;
  return counts;
}
