// time.* builtins (OPA topdown/time.go) on the Go-compatible time library.
import type { Value } from "../value.ts";
import { isNumber, normInt, toBigInt } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, N, S, T, anyOf, fn, int, plainErr, str, typeErr } from "./util.ts";
import * as gt from "./lib/gotime.ts";

const TZ_EXPECT = "either number (ns) or [number (ns), string (tz)]";

function checkRange(ns: bigint): Value {
  if (ns < gt.MIN_NS || ns > gt.MAX_NS) throw plainErr("time outside of valid range");
  return normInt(ns);
}

/** OPA's tzTime: a number of ns, or [ns, tz] / [ns, tz, layout]. */
function tzTime(v: Value): { t: gt.GoTime; layout: string } {
  let n: Value;
  let zone = gt.UTC;
  let layout = "";
  if (Array.isArray(v)) {
    if (v.length === 0) throw typeErr(1, v, TZ_EXPECT);
    n = v[0]!;
    if (!isNumber(n)) throw typeErr(1, n, "number");
    if (v.length > 1) {
      const tz = v[1]!;
      if (typeof tz !== "string") throw typeErr(1, tz, "string");
      zone = gt.loadLocation(tz);
    }
    if (v.length > 2) {
      const l = v[2]!;
      if (typeof l !== "string") throw typeErr(1, l, "string");
      layout = l;
    }
  } else if (isNumber(v)) n = v;
  else throw typeErr(1, v, TZ_EXPECT);
  let ns = toBigInt(n as number);
  if (ns === undefined) {
    // floats are truncated like big.Float.Int64 (exact only when integral)
    const f = n as number;
    if (!Number.isFinite(f) || Math.abs(f) >= 2 ** 63) throw plainErr("timestamp too big");
    ns = BigInt(Math.trunc(f));
  }
  if (ns < gt.MIN_NS || ns > gt.MAX_NS) throw plainErr("timestamp too big");
  return { t: { ns, zone }, layout };
}

export const timeBuiltins: BuiltinDef[] = [
  fn("time.now_ns", [], N, (_a, ctx) => normInt(ctx.nowNs), { nondeterministic: true }),
  fn("time.parse_ns", [S, S], N, (a) => {
    let layout = str(a, 0);
    const value = str(a, 1);
    layout = gt.NAMED_LAYOUTS[layout] ?? layout;
    return checkRange(gt.parse(layout, value).ns);
  }),
  fn("time.parse_rfc3339_ns", [S], N, (a) => checkRange(gt.parseRFC3339(str(a, 0)).ns)),
  fn("time.parse_duration_ns", [S], N, (a) => normInt(gt.parseDuration(str(a, 0)))),
  fn("time.format", [anyOf(N, T.array(A))], S, (a) => {
    const { t, layout } = tzTime(a[0]!);
    const l = layout === "" ? gt.NAMED_LAYOUTS.RFC3339Nano! : (gt.NAMED_LAYOUTS[layout] ?? layout);
    return gt.format(t, l);
  }),
  fn("time.date", [anyOf(N, T.array(A))], T.array(N), (a) => {
    const c = gt.civil(tzTime(a[0]!).t);
    return [c.year, c.month, c.day];
  }),
  fn("time.clock", [anyOf(N, T.array(A))], T.array(N), (a) => {
    const c = gt.civil(tzTime(a[0]!).t);
    return [c.hour, c.minute, c.second];
  }),
  fn("time.weekday", [anyOf(N, T.array(A))], S, (a) => gt.weekdayName(tzTime(a[0]!).t)),
  fn("time.add_date", [N, N, N, N], N, (a) => {
    const { t } = tzTime(a[0]!);
    const y = int(a, 1);
    const m = int(a, 2);
    const d = int(a, 3);
    return checkRange(gt.addDate(t, y, m, d).ns);
  }),
  fn("time.diff", [anyOf(N, T.array(A)), anyOf(N, T.array(A))], T.array(N), (a) => {
    const t1 = tzTime(a[0]!).t;
    const t2 = tzTime(a[1]!).t;
    return gt.diff(t1, t2);
  }),
];
