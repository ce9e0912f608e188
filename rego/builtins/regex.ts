// regex.*, glob.* builtins (OPA topdown/regex.go, regex_template.go, glob.go). RE2 semantics through re2js.
import type { Value } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, B, N, S, T, anyOf, fn, int, plainErr, str, typeErr } from "./util.ts";
import { compileRegex, findAll, findAllSubmatch, isValidRegex, quoteMeta, replaceAll, split } from "./lib/re2.ts";
import { globMatch, globQuoteMeta } from "./lib/glob.ts";
import { globsIntersect } from "./lib/globintersect.ts";
import { elemErr } from "./collections.ts";

/** OPA regex_template.go: literal text quoted, delimited parts used as regex, anchored. */
function templateRegex(tpl: string, open: string, close: string): string {
  let out = "^";
  let i = 0;
  while (i < tpl.length) {
    const s = tpl.indexOf(open, i);
    if (s < 0) {
      out += quoteMeta(tpl.slice(i));
      break;
    }
    out += quoteMeta(tpl.slice(i, s));
    // find the matching close, allowing nested open/close pairs inside
    let level = 0;
    let e = -1;
    for (let j = s; j < tpl.length; j++) {
      if (tpl.startsWith(open, j)) level++;
      else if (tpl.startsWith(close, j)) {
        level--;
        if (level === 0) {
          e = j;
          break;
        }
      }
    }
    if (e < 0) throw plainErr(`unbalanced braces in ${JSON.stringify(tpl)}`);
    out += "(" + tpl.slice(s + open.length, e) + ")";
    i = e + close.length;
  }
  return out + "$";
}

function delimiters(v: Value): string[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw typeErr(2, v, "array", "null");
  const out: string[] = [];
  for (const d of v) {
    if (typeof d !== "string") throw elemErr(2, v, d, "string");
    const r = [...d];
    if (r.length !== 1) throw plainErr(`delimiter "${d}" must be a single character`);
    out.push(r[0]!);
  }
  return out.length === 0 ? ["."] : out;
}

/** regex.match is pure: remember recent results per pattern (policies match the same hosts over and over). */
const matchMemo = new Map<string, Map<string, boolean>>();
function regexMatch(pattern: string, s: string): boolean {
  const re = compileRegex(pattern);
  if (s.length > 256) return re.match(s);
  let memo = matchMemo.get(pattern);
  if (!memo) {
    if (matchMemo.size >= 1000) matchMemo.clear();
    matchMemo.set(pattern, (memo = new Map()));
  }
  const hit = memo.get(s);
  if (hit !== undefined) return hit;
  const r = re.match(s);
  if (memo.size >= 256) memo.clear();
  memo.set(s, r);
  return r;
}

export const regexBuiltins: BuiltinDef[] = [
  fn("regex.match", [S, S], B, (a) => regexMatch(str(a, 0), str(a, 1))),
  fn("re_match", [S, S], B, (a) => regexMatch(str(a, 0), str(a, 1)), { deprecated: true }),
  fn("regex.is_valid", [A], B, (a) => typeof a[0] === "string" && isValidRegex(a[0])),
  fn("regex.split", [S, S], T.array(S), (a) => {
    const p = str(a, 0);
    return split(compileRegex(p), p, str(a, 1));
  }),
  fn("regex.find_n", [S, S, N], T.array(S), (a) => findAll(compileRegex(str(a, 0)), str(a, 1), int(a, 2))),
  fn("regex.find_all_string_submatch_n", [S, S, N], T.array(T.array(S)), (a) =>
    findAllSubmatch(compileRegex(str(a, 0)), str(a, 1), int(a, 2)),
  ),
  fn("regex.replace", [S, S, S], S, (a) => {
    const s = str(a, 0);
    const re = compileRegex(str(a, 1));
    return replaceAll(re, s, str(a, 2));
  }),
  fn("regex.template_match", [S, S, S, S], B, (a) => {
    const tpl = str(a, 0);
    const s = str(a, 1);
    const open = str(a, 2);
    const close = str(a, 3);
    return compileRegex(templateRegex(tpl, open, close)).match(s);
  }),
  fn("regex.globs_match", [S, S], B, (a) => globsIntersect(str(a, 0), str(a, 1))),
  fn("glob.match", [S, anyOf(T.array(S), T.null), S], B, (a) => {
    const pattern = str(a, 0);
    const seps = delimiters(a[1]!);
    const s = str(a, 2);
    return globMatch(pattern, seps, s);
  }),
  fn("glob.quote_meta", [S], S, (a) => globQuoteMeta(str(a, 0))),
];
