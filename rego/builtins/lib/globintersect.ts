// Non-emptiness of the intersection of two "regex globs" (yashtewari/glob-intersection as used by OPA's
// regex.globs_match): tokens are literal chars, `.`, `[...]` classes and escapes, each optionally followed by
// `*` or `+`. Decided by a search over pairs of token positions (linear in the product of the lengths).

export class GlobIntersectError extends Error {}

type CharSet = { neg: boolean; ranges: [number, number][] }; // any = neg with no ranges
interface Token {
  set: CharSet;
  star: boolean;
}

const ANY: CharSet = { neg: true, ranges: [] };

function parse(input: string): Token[] {
  const rs = [...input];
  const out: Token[] = [];
  let i = 0;
  const err = (pos: number, msg: string) =>
    new GlobIntersectError(`input:${input}, pos:${pos}, ${msg}: the input provided is invalid`);
  while (i < rs.length) {
    const c = rs[i]!;
    let set: CharSet;
    if (c === ".") {
      set = ANY;
      i++;
    } else if (c === "\\") {
      if (i + 1 >= rs.length) throw err(i, "escape at end of input");
      const cp = rs[i + 1]!.codePointAt(0)!;
      set = { neg: false, ranges: [[cp, cp]] };
      i += 2;
    } else if (c === "[") {
      let j = i + 1;
      const neg = rs[j] === "^";
      if (neg) j++;
      const ranges: [number, number][] = [];
      let closed = false;
      while (j < rs.length) {
        let d = rs[j]!;
        if (d === "]") {
          closed = true;
          break;
        }
        if (d === "\\" && j + 1 < rs.length) {
          j++;
          d = rs[j]!;
        }
        const lo = d.codePointAt(0)!;
        if (rs[j + 1] === "-" && j + 2 < rs.length && rs[j + 2] !== "]") {
          let e = rs[j + 2]!;
          let skip = 3;
          if (e === "\\" && j + 3 < rs.length) {
            e = rs[j + 3]!;
            skip = 4;
          }
          ranges.push([lo, e.codePointAt(0)!]);
          j += skip;
        } else {
          ranges.push([lo, lo]);
          j++;
        }
      }
      if (!closed) throw err(rs.length, "set-open '[' with no closing ']'");
      set = { neg, ranges };
      i = j + 1;
    } else if (c === "]") {
      throw err(i + 1, "set-close ']' with no preceding '['");
    } else if (c === "*" || c === "+") {
      throw err(i, `quantifier '${c}' with no preceding character`);
    } else {
      const cp = c.codePointAt(0)!;
      set = { neg: false, ranges: [[cp, cp]] };
      i++;
    }
    if (rs[i] === "*") {
      out.push({ set, star: true });
      i++;
    } else if (rs[i] === "+") {
      out.push({ set, star: false }, { set, star: true });
      i++;
    } else out.push({ set, star: false });
  }
  return out;
}

function contains(s: CharSet, cp: number): boolean {
  const inRange = s.ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
  return s.neg ? !inRange : inRange;
}

function intersects(a: CharSet, b: CharSet): boolean {
  const candidates = new Set<number>([0, 0x61, 0x10ffff]);
  for (const [lo, hi] of [...a.ranges, ...b.ranges]) {
    for (const x of [lo - 1, lo, hi, hi + 1]) if (x >= 0 && x <= 0x10ffff) candidates.add(x);
  }
  for (const c of candidates) if (contains(a, c) && contains(b, c)) return true;
  return false;
}

export function globsIntersect(g1: string, g2: string): boolean {
  const a = parse(g1);
  const b = parse(g2);
  const seen = new Set<number>();
  const w = b.length + 1;
  const stack: [number, number][] = [[0, 0]];
  while (stack.length) {
    const [i, j] = stack.pop()!;
    const key = i * w + j;
    if (seen.has(key)) continue;
    seen.add(key);
    if (i === a.length && j === b.length) return true;
    const ta = a[i];
    const tb = b[j];
    if (ta?.star) stack.push([i + 1, j]);
    if (tb?.star) stack.push([i, j + 1]);
    if (ta && tb && intersects(ta.set, tb.set)) {
      const ni = ta.star ? i : i + 1;
      const nj = tb.star ? j : j + 1;
      if (ni !== i || nj !== j) stack.push([ni, nj]);
      // both stars consuming together adds nothing over single skips
    }
  }
  return false;
}
