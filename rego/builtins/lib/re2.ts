// Go regexp semantics on top of re2js (linear time, RE2 syntax). Never use JavaScript RegExp for user patterns.
import { RE2JS } from "re2js";

export class RegexError extends Error {}

type RE2 = ReturnType<RE2JS["re2"]> & { __names?: Record<string, number> };

const MAX_CACHE = 1000;
const cache = new Map<string, RE2>();

/** Compile with Go's syntax and error messages ("error parsing regexp: ..."). Cached process-wide (patterns are pure). */
export function compileRegex(pattern: string): RE2 {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let re: RE2;
  try {
    const p = RE2JS.compile(pattern);
    re = p.re2();
    re.__names = p.namedGroups();
  } catch (e) {
    throw new RegexError(e instanceof Error ? e.message : String(e));
  }
  if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value!);
  cache.set(pattern, re);
  return re;
}

export function isValidRegex(pattern: string): boolean {
  try {
    compileRegex(pattern);
    return true;
  } catch {
    return false;
  }
}

export function matchString(re: RE2, s: string): boolean {
  return re.match(s);
}

/** Go FindAllString(s, n): n < 0 means all. */
export function findAll(re: RE2, s: string, n: number): string[] {
  if (n === 0) return [];
  return re.findAll(s, n) ?? [];
}

/** Go FindAllStringSubmatch(s, n): unmatched groups are "". */
export function findAllSubmatch(re: RE2, s: string, n: number): string[][] {
  if (n === 0) return [];
  const all = (re.findAllSubmatch(s, n) ?? []) as (string | null)[][];
  return all.map((m) => m.map((g) => g ?? ""));
}

function findAllIndex(re: RE2, s: string, n: number): [number, number][] {
  return (re.findAllIndex(s, n) ?? []) as [number, number][];
}

/** Go Regexp.Split(s, n). */
export function split(re: RE2, pattern: string, s: string, n = -1): string[] {
  if (n === 0) return [];
  if (pattern.length > 0 && s.length === 0) return [""];
  const matches = findAllIndex(re, s, n);
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  for (const [a, b] of matches) {
    if (n > 0 && out.length === n - 1) break;
    end = a;
    if (b !== 0) out.push(s.slice(beg, end));
    beg = b;
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/** Go ReplaceAllString(src, repl): `$1`, `${1}`, `$name`, `${name}` expand; `$$` is a literal `$`. */
export function replaceAll(re: RE2, src: string, repl: string): string {
  const subs = (re.findAllSubmatchIndex(src, -1) ?? []) as number[][];
  if (subs.length === 0) return src;
  const names = groupNames(re);
  let out = "";
  let last = 0;
  for (const m of subs) {
    out += src.slice(last, m[0]!);
    out += expand(repl, src, m, names);
    last = m[1]!;
  }
  return out + src.slice(last);
}

function groupNames(re: RE2): Record<string, number> {
  return re.__names ?? {};
}

function expand(template: string, src: string, m: number[], names: Record<string, number>): string {
  let out = "";
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    i++;
    if (template[i] === "$") {
      out += "$";
      i++;
      continue;
    }
    let name = "";
    let ok = false;
    if (template[i] === "{") {
      const close = template.indexOf("}", i + 1);
      if (close > i + 1) {
        name = template.slice(i + 1, close);
        if (/^\w+$/.test(name)) {
          ok = true;
          i = close + 1;
        }
      }
    } else {
      let j = i;
      while (j < template.length && /\w/.test(template[j]!)) j++;
      if (j > i) {
        name = template.slice(i, j);
        ok = true;
        i = j;
      }
    }
    if (!ok) {
      out += "$";
      continue;
    }
    let idx = -1;
    if (/^\d+$/.test(name)) idx = Number(name);
    else if (names[name] !== undefined) idx = names[name]!;
    if (idx >= 0 && 2 * idx + 1 < m.length && m[2 * idx]! >= 0) out += src.slice(m[2 * idx]!, m[2 * idx + 1]!);
  }
  return out;
}

/** Go regexp.QuoteMeta. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
