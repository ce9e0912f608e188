// Comparison and arithmetic operators, numbers.*, bits.* (OPA topdown/comparison.go, arithmetic.go, numbers.go, bits.go).
import type { Value, Num } from "../value.ts";
import {
  compare,
  decimalOf,
  fromDecimal,
  pow10,
  equals,
  isNumber,
  isSet,
  makeSet,
  normInt,
  numAdd,
  numMul,
  numNeg,
  plainNum,
  toBigInt,
  toNumber,
} from "../value.ts";
import type { BuiltinContext, BuiltinDef } from "./api.ts";
import { A, B, N, anyOf, fn, int, num, operandErr, plainErr, T, typeErr } from "./util.ts";

const cmp = (name: string, test: (c: number) => boolean): BuiltinDef =>
  fn(name, [A, A], B, (a) => test(compare(a[0]!, a[1]!)));

/** Number of a JS result, normalising -0 and integer-valued floats past 2^53 to exact integers. */
export function fromFloat(f: number): Num {
  if (!Number.isFinite(f)) throw plainErr("arithmetic result is not a finite number");
  if (Object.is(f, -0)) return 0;
  if (Number.isInteger(f) && !Number.isSafeInteger(f)) return normInt(BigInt(f));
  return f;
}

function divide(x: Num, y: Num): Num {
  const bx = toBigInt(x);
  const by = toBigInt(y);
  if (by === 0n || toNumber(y) === 0) throw plainErr("divide by zero");
  if (bx !== undefined && by !== undefined && bx % by === 0n) return normInt(bx / by);
  // OPA divides big.Floats: from the decimal operands, 40 significant digits then the nearest double
  // (0.3 / 0.1 is 3, not 2.9999999999999996); quotients past float64 stay exact integers
  const [dx, ex] = decimalOf(x);
  const [dy, ey] = decimalOf(y);
  const scale = 40 + Math.max(0, dy.toString().length - dx.toString().length);
  const q = (dx * pow10(scale)) / dy;
  if ((dx * pow10(scale)) % dy === 0n) return fromDecimal(q, ex - ey - scale);
  // inexact: the quotient is not an integer, so a double is the answer
  return Number(`${q}e${ex - ey - scale}`);
}

function rem(x: Num, y: Num): Num {
  const bx = toBigInt(x);
  const by = toBigInt(y);
  if (bx === undefined || by === undefined) {
    if (by === 0n) throw plainErr("modulo by zero");
    throw plainErr("modulo on floating-point number");
  }
  if (by === 0n) throw plainErr("modulo by zero");
  return normInt(bx % by);
}

function round(x: number | bigint): Num {
  if (typeof x === "bigint" || Number.isInteger(x)) return x;
  return fromFloat(x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));
}

function arith(name: string, f: (x: Num, y: Num) => Num): BuiltinDef {
  return fn(name, [N, N], N, (a) => f(num(a, 0), num(a, 1)));
}

function unary(name: string, f: (x: number | bigint) => Num): BuiltinDef {
  return fn(name, [N], N, (a) => f(plainNum(num(a, 0))));
}

function minus(a: Value[]): Value {
  const x = a[0]!;
  const y = a[1]!;
  if (isNumber(x) && isNumber(y)) return numAdd(x, numNeg(y));
  if (isSet(x) && isSet(y)) return makeSet(x.values().filter((v) => !y.has(v)));
  if (!isNumber(x) && !isSet(x)) throw typeErr(1, x, "number", "set");
  if (isNumber(x)) throw typeErr(2, y, "number");
  throw typeErr(2, y, "set");
}

function* rangeIter(start: bigint, end: bigint, step: bigint): Generator<Value> {
  if (start <= end) for (let i = start; i <= end; i += step) yield normInt(i);
  else for (let i = start; i >= end; i -= step) yield normInt(i);
}

const MAX_RANGE = 10_000_000n;
/** bits.lsh results are bounded so a hostile shift cannot allocate gigabytes. */
const MAX_SHIFT = 1n << 16n;

function intOf(a: Value[], i: number): bigint {
  const v = num(a, i);
  const b = toBigInt(v);
  if (b === undefined) throw operandErr(`operand ${i + 1} must be integer number but got floating-point number`);
  return b;
}

function range(a: Value[], step: bigint, ctx: BuiltinContext): Value {
  const start = intOf(a, 0);
  const end = intOf(a, 1);
  const count = (start > end ? start - end : end - start) / step + 1n;
  if (count > MAX_RANGE) throw plainErr(`range too large: ${count} elements (limit ${MAX_RANGE})`);
  const out: Value[] = [];
  for (const v of rangeIter(start, end, step)) {
    // large ranges stay within the evaluation's time budget
    if ((out.length & 0xffff) === 0xffff) ctx.checkBudget();
    out.push(v);
  }
  return out;
}

function bitsOp(name: string, f: (x: bigint, y: bigint) => bigint): BuiltinDef {
  return fn(name, [N, N], N, (a) => normInt(f(intOf(a, 0), intOf(a, 1))));
}

export const numberBuiltins: BuiltinDef[] = [
  fn("equal", [A, A], B, (a) => equals(a[0]!, a[1]!)),
  fn("neq", [A, A], B, (a) => !equals(a[0]!, a[1]!)),
  cmp("lt", (c) => c < 0),
  cmp("gt", (c) => c > 0),
  cmp("lte", (c) => c <= 0),
  cmp("gte", (c) => c >= 0),
  arith("plus", numAdd),
  fn("minus", [anyOf(N, T.set()), anyOf(N, T.set())], anyOf(N, T.set()), minus),
  arith("mul", numMul),
  arith("div", divide),
  arith("rem", rem),
  unary("abs", (x) => (typeof x === "bigint" ? (x < 0n ? -x : x) : Math.abs(x))),
  unary("round", round),
  unary("ceil", (x) => (typeof x === "bigint" ? x : fromFloat(Math.ceil(x)))),
  unary("floor", (x) => (typeof x === "bigint" ? x : fromFloat(Math.floor(x)))),
  fn("numbers.range", [N, N], T.array(N), (a, ctx) => range(a, 1n, ctx)),
  fn("numbers.range_step", [N, N, N], T.array(N), (a, ctx) => {
    const step = intOf(a, 2);
    if (step <= 0n) throw plainErr("step must be a positive integer");
    return range(a, step, ctx);
  }),
  bitsOp("bits.or", (x, y) => x | y),
  bitsOp("bits.and", (x, y) => x & y),
  bitsOp("bits.xor", (x, y) => x ^ y),
  bitsOp("bits.lsh", (x, y) => {
    if (y < 0n) throw operandErr("operand 2 must be an unsigned integer number but got a negative integer");
    if (y > MAX_SHIFT) throw plainErr(`shift too large: ${y} (limit ${MAX_SHIFT})`);
    return x << y;
  }),
  bitsOp("bits.rsh", (x, y) => {
    if (y < 0n) throw operandErr("operand 2 must be an unsigned integer number but got a negative integer");
    return x >> y;
  }),
  fn("bits.negate", [N], N, (a) => normInt(~intOf(a, 0))),
  fn("to_number", [anyOf(T.null, B, N, T.string)], N, (a) => {
    const v = a[0]!;
    if (v === null) return 0;
    if (typeof v === "boolean") return v ? 1 : 0;
    if (isNumber(v)) return v;
    if (typeof v === "string") {
      const t = v;
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
        if (/^[+-]?(inf|infinity|nan)$/i.test(t))
          throw operandErr(`operand 1 must be a finite number but got ${JSON.stringify(t)}`);
        throw plainErr(`strconv.ParseFloat: parsing ${JSON.stringify(t)}: invalid syntax`);
      }
      const s = t.startsWith("+") ? t.slice(1) : t;
      if (/^-?\d+$/.test(s)) return normInt(BigInt(s));
      const f = Number(s);
      // OPA validates with strconv.ParseFloat(s, 64), which refuses values past float64
      if (!Number.isFinite(f)) throw plainErr(`strconv.ParseFloat: parsing ${JSON.stringify(t)}: value out of range`);
      if (Number.isInteger(f) && /^-?\d+\.0*$/.test(s)) return normInt(BigInt(s.split(".")[0]!));
      return fromFloat(f);
    }
    throw typeErr(1, v, "null", "boolean", "number", "string");
  }),
  fn(
    "rand.intn",
    [T.string, N],
    N,
    (a, ctx) => {
      const s = a[0];
      if (typeof s !== "string") throw typeErr(1, s!, "string");
      const n = int(a, 1);
      if (n === 0) return 0;
      const m = Math.abs(n);
      const key = `rand.intn:${s}:${m}`;
      const hit = ctx.cache.get(key);
      if (hit !== undefined) return hit as number;
      const r = Math.floor(ctx.random() * m);
      ctx.cache.set(key, r);
      return r;
    },
    { nondeterministic: true },
  ),
];
