// Replaces the spans the scanner found with `[REDACTED:<detector>]`, returning a copy of the value (parts without
// findings are shared, not copied). A string holding JSON is parsed, redacted inside and serialized again (compact
// JSON: whitespace of the embedded document is not kept). A number found to be a card number becomes the marker string.
import { embeddedJson, JSON_SEGMENT, type Finding } from "./scan.ts";

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

/** A copy of `value` (scanned from `root`) with every finding's span replaced. */
export function redactValue(value: unknown, findings: readonly Finding[], root: string): unknown {
  if (findings.length === 0) return value;
  const at = new Map<string, Finding[]>();
  const under = new Set<string>();
  for (const f of findings) {
    const list = at.get(f.path);
    if (list) list.push(f);
    else at.set(f.path, [f]);
    for (let i = f.path.indexOf("."); i >= 0; i = f.path.indexOf(".", i + 1)) under.add(f.path.slice(0, i));
    under.add(f.path);
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
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, `${path}.${k}`);
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
