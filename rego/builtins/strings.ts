// String builtins (OPA topdown/strings.go), with Go's rune-based semantics.
import type { Value } from "../value.ts";
import { compare, FloatLit, isNumber, plainNum, isSet, toBigInt, toJSON, toRegoString } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { ARR, B, N, OBJ, S, SET, T, anyOf, fn, int, num, obj, operandErr, plainErr, str, typeErr } from "./util.ts";
import { elemErr } from "./collections.ts";
import { sprintf, intArg, type GoArg } from "./lib/gofmt.ts";
import { renderTemplate } from "./lib/gotemplate.ts";

function runes(s: string): string[] {
  return [...s];
}

function isASCII(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s);
}

/** Go's strings.Split. */
export function goSplit(s: string, sep: string): string[] {
  if (sep === "") return runes(s);
  return s.split(sep);
}

/** Go's strings.NewReplacer(oldnew...).Replace(s): leftmost position, earlier pairs win at a position. */
export function goReplace(s: string, pairs: [string, string][]): string {
  if (pairs.length === 1 && pairs[0]![0] !== "") return s.split(pairs[0]![0]).join(pairs[0]![1]);
  let out = "";
  let i = 0;
  const hasEmpty = pairs.some(([o]) => o === "");
  while (i <= s.length) {
    let matched = false;
    for (const [o, n] of pairs) {
      if (o === "") {
        out += n;
        matched = true;
        break;
      }
      if (s.startsWith(o, i)) {
        out += n;
        i += o.length;
        matched = true;
        break;
      }
    }
    if (i >= s.length) break;
    if (matched && !hasEmpty) continue;
    if (matched && hasEmpty) {
      // the empty old string matched: copy one rune and continue
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out += ch;
      i += ch.length;
      continue;
    }
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    out += ch;
    i += ch.length;
  }
  return out;
}

const SPACE = new Set([
  ..."\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
]);

function trimLeftSet(s: string, cut: Set<string>): string {
  const rs = runes(s);
  let i = 0;
  while (i < rs.length && cut.has(rs[i]!)) i++;
  return rs.slice(i).join("");
}
function trimRightSet(s: string, cut: Set<string>): string {
  const rs = runes(s);
  let j = rs.length;
  while (j > 0 && cut.has(rs[j - 1]!)) j--;
  return rs.slice(0, j).join("");
}

function stringsOf(v: Value, pos: number): string[] {
  if (typeof v === "string") return [v];
  const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
  if (!xs) throw typeErr(pos, v, "string", "set", "array");
  for (const x of xs) if (typeof x !== "string") throw elemErr(pos, v, x, "string");
  return xs as string[];
}

function reverse(s: string): string {
  return runes(s).reverse().join("");
}

/** OPA's sprintf argument typing. */
export function toGoArg(v: Value): GoArg {
  if (v instanceof FloatLit) {
    // OPA: Number.Int(), then big.Int, then Float64, else the literal text
    if (/^-?\d+$/.test(v.text)) return intArg(BigInt(v.text));
    const f = Number(v.text);
    return Number.isFinite(f) ? { t: "float", v: f } : { t: "string", v: v.text };
  }
  if (isNumber(v)) {
    const b = toBigInt(v);
    if (b !== undefined) return intArg(b);
    return { t: "float", v: v as number };
  }
  if (typeof v === "string") return { t: "string", v };
  return { t: "string", v: toRegoString(v) };
}

function runeIndexOf(base: string, search: string, from = 0): number {
  const idx = base.indexOf(search, from);
  if (idx < 0) return -1;
  return [...base.slice(0, idx)].length;
}

export const stringBuiltins: BuiltinDef[] = [
  fn("format_int", [N, N], S, (a) => {
    const n = plainNum(num(a, 0));
    const base = plainNum(num(a, 1));
    const bases: Record<string, number> = { "2": 2, "8": 8, "10": 10, "16": 16 };
    const b = bases[String(base)];
    if (b === undefined) throw operandErr("operand 2 must be one of {2, 8, 10, 16}");
    const i = toBigInt(n) ?? BigInt(Math.trunc(n as number));
    return i.toString(b);
  }),
  fn("concat", [S, anyOf(T.array(S), T.set(S))], S, (a) => {
    const sep = str(a, 0);
    const v = a[1]!;
    const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
    if (!xs) throw typeErr(2, v, "set", "array");
    for (const x of xs) if (typeof x !== "string") throw elemErr(2, v, x, "string");
    return (xs as string[]).join(sep);
  }),
  fn("indexof", [S, S], N, (a) => {
    const base = str(a, 0);
    const search = str(a, 1);
    if (search === "") throw plainErr("empty search character");
    if (isASCII(base)) return base.indexOf(search);
    return runeIndexOf(base, search);
  }),
  fn("indexof_n", [S, S], T.array(N), (a) => {
    const base = str(a, 0);
    const search = str(a, 1);
    if (search === "") throw plainErr("empty search character");
    const br = runes(base);
    const sr = runes(search);
    const out: Value[] = [];
    for (let i = 0; i + sr.length <= br.length; i++) {
      let ok = true;
      for (let j = 0; j < sr.length; j++)
        if (br[i + j] !== sr[j]) {
          ok = false;
          break;
        }
      if (ok) out.push(i);
    }
    return out;
  }),
  fn("substring", [S, N, N], S, (a) => {
    const base = str(a, 0);
    const start = int(a, 1);
    const length = int(a, 2);
    if (start < 0) throw plainErr("negative offset");
    const rs = runes(base);
    if (start >= rs.length) return "";
    if (length < 0) return rs.slice(start).join("");
    return rs.slice(start, Math.min(rs.length, start + length)).join("");
  }),
  fn("contains", [S, S], B, (a) => str(a, 0).includes(str(a, 1))),
  fn("strings.count", [S, S], N, (a) => {
    const s = str(a, 0);
    const sub = str(a, 1);
    if (sub === "") return runes(s).length + 1;
    let n = 0;
    for (let i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length)) n++;
    return n;
  }),
  fn("startswith", [S, S], B, (a) => str(a, 0).startsWith(str(a, 1))),
  fn("endswith", [S, S], B, (a) => str(a, 0).endsWith(str(a, 1))),
  fn("lower", [S], S, (a) => goLower(str(a, 0))),
  fn("upper", [S], S, (a) => goUpper(str(a, 0))),
  fn("split", [S, S], T.array(S), (a) => goSplit(str(a, 0), str(a, 1))),
  fn("strings.split_n", [S, S, N], T.array(S), (a) => {
    const parts = goSplit(str(a, 0), str(a, 1));
    const n = int(a, 2);
    if (n >= 0) return parts.slice(0, n);
    return parts.slice(Math.max(0, parts.length + n));
  }),
  fn("replace", [S, S, S], S, (a) => goReplace(str(a, 0), [[str(a, 1), str(a, 2)]])),
  fn("strings.replace_n", [OBJ, S], S, (a) => {
    const patterns = obj(a, 0);
    const keys = [...patterns.keys()].sort(compare);
    const s = str(a, 1);
    const pairs: [string, string][] = [];
    for (const k of keys) {
      if (typeof k !== "string") throw operandErr("operand 1 non-string key found in pattern object");
      const v = patterns.get(k)!;
      if (typeof v !== "string") throw operandErr("operand 1 non-string value found in pattern object");
      pairs.push([k, v]);
    }
    if (pairs.length === 0) return s;
    return goReplace(s, pairs);
  }),
  fn("trim", [S, S], S, (a) => {
    const cut = new Set(runes(str(a, 1)));
    return trimRightSet(trimLeftSet(str(a, 0), cut), cut);
  }),
  fn("trim_left", [S, S], S, (a) => trimLeftSet(str(a, 0), new Set(runes(str(a, 1))))),
  fn("trim_right", [S, S], S, (a) => trimRightSet(str(a, 0), new Set(runes(str(a, 1))))),
  fn("trim_prefix", [S, S], S, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return s.startsWith(p) ? s.slice(p.length) : s;
  }),
  fn("trim_suffix", [S, S], S, (a) => {
    const s = str(a, 0);
    const p = str(a, 1);
    return p !== "" && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
  }),
  fn("trim_space", [S], S, (a) => trimRightSet(trimLeftSet(str(a, 0), SPACE), SPACE)),
  fn("sprintf", [S, ARR], S, (a) => {
    const f = str(a, 0);
    const v = a[1]!;
    if (!Array.isArray(v)) throw typeErr(2, v, "array");
    return sprintf(f, v.map(toGoArg));
  }),
  fn("strings.any_prefix_match", [anyOf(S, ARR, SET), anyOf(S, ARR, SET)], B, (a) => {
    const strs = stringsOf(a[0]!, 1);
    const pre = stringsOf(a[1]!, 2);
    return strs.some((s) => pre.some((p) => s.startsWith(p)));
  }),
  fn("strings.any_suffix_match", [anyOf(S, ARR, SET), anyOf(S, ARR, SET)], B, (a) => {
    const strs = stringsOf(a[0]!, 1);
    const suf = stringsOf(a[1]!, 2);
    return strs.some((s) => suf.some((p) => s.endsWith(p)));
  }),
  fn("strings.reverse", [S], S, (a) => reverse(str(a, 0))),
];

stringBuiltins.push(
  fn("strings.render_template", [S, T.object()], S, (a) => {
    const tpl = str(a, 0);
    const vars = obj(a, 1);
    try {
      return renderTemplate(tpl, toJSON(vars));
    } catch (e) {
      throw plainErr((e as Error).message);
    }
  }),
);

// Go's strings.ToUpper / ToLower map rune by rune with unicode.ToUpper / ToLower (simple case mappings): no
// expansions (`ß` stays `ß`, JavaScript gives `SS`) and no context (`Σ` lowers to `σ` everywhere).
const NON_ASCII = /[^\u0000-\u007f]/; // eslint-disable-line no-control-regex

function goUpper(s: string): string {
  if (!NON_ASCII.test(s)) return s.toUpperCase();
  let out = "";
  for (const ch of s) out += upperRune(ch);
  return out;
}

function goLower(s: string): string {
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  let out = "";
  for (const ch of s) out += lowerRune(ch);
  return out;
}

function upperRune(ch: string): string {
  const u = ch.toUpperCase();
  if (u.length === ch.length || [...u].length === 1) return u;
  const c = ch.codePointAt(0)!;
  // Greek with ypogegrammeni: the simple mapping is the titlecase letter (U+1F80 -> U+1F88, U+1FB3 -> U+1FBC)
  if (c >= 0x1f80 && c <= 0x1faf) return String.fromCodePoint(c | 0x08);
  if (c === 0x1fb3 || c === 0x1fc3 || c === 0x1ff3) return String.fromCodePoint(c + 9);
  return ch; // special casing only (ß, ŉ, ǰ, ligatures): no simple mapping
}

function lowerRune(ch: string): string {
  if (ch === "\u0130") return "i"; // İ: simple lowercase mapping (JavaScript adds a combining dot)
  const l = ch.toLowerCase();
  return [...l].length === 1 ? l : ch;
}
