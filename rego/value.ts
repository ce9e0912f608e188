// Runtime values of the Rego engine, shared by the evaluator and the builtins.
//
// Representation (chosen so JSON input converts cheaply and string keys look up fast):
//   null            -> null
//   boolean         -> true / false
//   number          -> JS number (any float, and integers within ±2^53-1)
//                      or bigint (integers outside the safe range; always normalised, see normInt)
//   string          -> JS string
//   array           -> Value[]   (plain JS array; treat as immutable once built)
//   object          -> RObject   (any Value as key; string/number/boolean/null keys in a Map, composite keys apart)
//   set             -> RSet
// `undefined` (the JS value) means "undefined" in the Rego sense and is never stored inside a value.
//
// Objects and sets iterate in OPA's order: sorted by key/element with `compare`. The sorted view is cached and
// invalidated on mutation. Values are mutable only while being built; never mutate a value you did not create.

export type Prim = null | boolean | number | bigint | string;
export type Value = Prim | FloatLit | Value[] | RObject | RSet;
/**
 * A number literal whose text OPA keeps (ast.Number is the literal's text): `1.0`, `0.0`, `-0`, `1e21`, `1.50`,
 * `2e308`. It equals and orders as its value `n`; JSON output, json.marshal and `sprintf` (Go's float64, not int)
 * use the text. Arithmetic results are plain numbers again, as OPA's are. As object keys and set elements it is
 * stored as its value.
 */
export class FloatLit {
  constructor(
    readonly n: number | bigint,
    readonly text: string,
  ) {}
}

/** The FloatLit for a literal's text when OPA would print it differently from its value; else the value. */
export function literalNumber(text: string): Num | undefined {
  const n = numFromString(text);
  if (n === undefined || typeof n === "object") return n;
  if (text === "-0") return new FloatLit(0, "-0");
  return numToString(n) === text ? n : new FloatLit(n, text);
}
export type Num = number | bigint | FloatLit;

/** OPA's type names, as used in error messages and `type_name`. */
export type TypeName = "null" | "boolean" | "number" | "string" | "array" | "object" | "set";

// ---------------------------------------------------------------------------------------------------------------
// Numbers

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Keep a bigint only when it does not fit a JS number exactly; this makes each integer have one representation. */
export function normInt(b: bigint): Num {
  return b <= MAX_SAFE && b >= MIN_SAFE ? Number(b) : b;
}

export function isNumber(v: unknown): v is Num {
  const t = typeof v;
  return t === "number" || t === "bigint" || v instanceof FloatLit;
}

/** The plain value of a number (a FloatLit's value). */
export function plainNum(n: Num): number | bigint {
  return typeof n === "object" ? n.n : n;
}

/** True for integral numbers (1, 1.0, 2^70). */
export function isInteger(n: Num): boolean {
  if (typeof n === "object") return false; // OPA's Number.Int() fails on "1.0"
  return typeof n === "bigint" || Number.isInteger(n);
}

/** Parse a Rego/JSON number literal. Integers of any size stay exact; other numbers become doubles. */
export function numFromString(s: string): Num | undefined {
  const t = s.trim();
  if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  if (/^-?\d+$/.test(t)) {
    if (t.length < 16) return Number(t);
    return normInt(BigInt(t));
  }
  // integral values written with an exponent or ".0" that exceed 2^53 (e.g. 1e30) stay exact when small enough;
  // values beyond float64 (1e400) too: OPA keeps them (never +Inf, which JSON cannot carry)
  const n = Number(t);
  if (!Number.isFinite(n) || (Number.isInteger(n) && Math.abs(n) > Number.MAX_SAFE_INTEGER)) {
    const exact = exactIntegerFromDecimal(t);
    if (exact !== undefined) return normInt(exact);
  }
  return n;
}

/** "1.5e3" -> 1500n when the decimal is an integer exactly; undefined otherwise. */
function exactIntegerFromDecimal(t: string): bigint | undefined {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return undefined;
  const [, sign, ip = "", fp = "", ex = "0"] = m;
  let digits = ip + fp;
  let exp = Number(ex) - fp.length;
  if (exp > 4000) return undefined;
  if (exp < 0) {
    const cut = digits.slice(digits.length + exp);
    if (/[^0]/.test(cut)) return undefined;
    digits = digits.slice(0, digits.length + exp);
    exp = 0;
  }
  const b = BigInt((digits || "0") + "0".repeat(exp));
  return sign === "-" ? -b : b;
}

/** Number formatting like OPA's JSON output: integers without exponent, floats in shortest round-trip form. */
export function numToString(n: Num): string {
  if (typeof n === "object") return n.text;
  if (typeof n === "bigint") return n.toString();
  if (Number.isInteger(n) && Math.abs(n) >= 1e21) return BigInt(n).toString();
  return String(n);
}

/** Exact bigint of an integral number; undefined for non-integers. */
export function toBigInt(n: Num): bigint | undefined {
  if (typeof n === "object") return undefined; // a float-written literal is not an integer operand in OPA
  if (typeof n === "bigint") return n;
  return Number.isInteger(n) ? BigInt(n) : undefined;
}

/** Nearest double (may lose precision for huge bigints). */
export function toNumber(n: Num): number {
  if (typeof n === "object") return Number(n.n);
  return typeof n === "bigint" ? Number(n) : n;
}

/** A JS number that is an integer within the safe range; undefined otherwise (use for indexes, counts). */
export function toSafeInt(n: Num): number | undefined {
  if (typeof n === "bigint" || typeof n === "object") return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Build a number from a JS number or bigint, normalising integers. */
export function num(n: number | bigint | FloatLit): Num {
  if (typeof n === "object") return n;
  if (typeof n === "bigint") return normInt(n);
  if (Object.is(n, -0)) return 0;
  return n;
}

// Arithmetic. Integers are exact. With a non-integer operand OPA computes with big.Float (64-bit mantissa) from
// the operands' decimal text, so `0.1 * 3` is 0.3 and `2.5 * 1e308` is a (huge) number, not +Inf: here the
// operands' shortest decimal forms are combined exactly and the result rounded to the nearest double (results
// past float64, always integral, stay exact). Division and modulo live in the builtins.

/** [digits, exp10] with value = digits * 10^exp10, from a number's shortest round-trip decimal form. */
export function decimalOf(n: Num): [bigint, number] {
  if (typeof n === "object") return decimalOf(n.n);
  if (typeof n === "bigint") return [n, 0];
  if (Number.isInteger(n) && Number.isSafeInteger(n)) return [BigInt(n), 0];
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (!m) return [0n, 0]; // NaN/Infinity never reach here (values are finite)
  const frac = m[3] ?? "";
  const d = BigInt(m[1] + m[2] + frac);
  return [d, Number(m[4] ?? 0) - frac.length];
}

const POW10: bigint[] = [];
export function pow10(e: number): bigint {
  if (e < 64) return (POW10[e] ??= 10n ** BigInt(e));
  return 10n ** BigInt(e);
}

/** The number digits * 10^exp10: an exact integer when integral, else the nearest double. */
export function fromDecimal(d: bigint, e: number): Num {
  if (d === 0n) return 0;
  if (e >= 0) return e > 4000 ? (d < 0n ? -Infinity : Infinity) : normInt(d * pow10(e));
  const p = pow10(-e);
  if (d % p === 0n) return normInt(d / p);
  return Number(`${d}e${e}`);
}

function decAdd(a: Num, b: Num): Num {
  const [da, ea] = decimalOf(a);
  const [db, eb] = decimalOf(b);
  const e = Math.min(ea, eb);
  return fromDecimal(da * pow10(ea - e) + db * pow10(eb - e), e);
}

export function numAdd(a: Num, b: Num): Num {
  if (typeof a === "number" && typeof b === "number") {
    const r = a + b;
    if (Number.isInteger(a) && Number.isInteger(b)) {
      if (Number.isSafeInteger(r)) return r === 0 ? 0 : r;
    } else return decAdd(a, b);
  }
  const x = toBigInt(a), y = toBigInt(b);
  if (x !== undefined && y !== undefined) return normInt(x + y);
  return decAdd(a, b);
}
export function numSub(a: Num, b: Num): Num {
  return numAdd(a, numNeg(b));
}
export function numNeg(a: Num): Num {
  if (typeof a === "object") a = a.n;
  return typeof a === "bigint" ? normInt(-a) : a === 0 ? 0 : -a;
}
export function numMul(a: Num, b: Num): Num {
  if (typeof a === "number" && typeof b === "number" && Number.isInteger(a) && Number.isInteger(b)) {
    const r = a * b;
    if (Number.isSafeInteger(r)) return r === 0 ? 0 : r;
  }
  const x = toBigInt(a), y = toBigInt(b);
  if (x !== undefined && y !== undefined) return normInt(x * y);
  const [da, ea] = decimalOf(a);
  const [db, eb] = decimalOf(b);
  return fromDecimal(da * db, ea + eb);
}

// ---------------------------------------------------------------------------------------------------------------
// Objects and sets

/** Map key for a value: primitives are their own key; composites get a canonical string (kept in a separate map). */
function isPrim(v: Value): v is Prim {
  return v === null || typeof v !== "object";
}

export class RObject {
  /** primitive key -> value */
  readonly prim = new Map<Prim, Value>();
  /** canonical key string -> [key, value] for array/object/set keys */
  comp: Map<string, [Value, Value]> | undefined = undefined;
  private sortedKeys: Value[] | undefined = undefined;

  get size(): number {
    return this.prim.size + (this.comp ? this.comp.size : 0);
  }

  get(k: Value): Value | undefined {
    if (typeof k === "string") return this.prim.get(k);
    if (k === null || typeof k !== "object") return this.prim.get(k);
    if (k instanceof FloatLit) return this.prim.get(k.n);
    if (!this.comp) return undefined;
    return this.comp.get(canonicalKey(k))?.[1];
  }

  has(k: Value): boolean {
    return this.get(k) !== undefined;
  }

  /** Insert or replace; only while building. */
  set(k: Value, v: Value): this {
    this.sortedKeys = undefined;
    if (k instanceof FloatLit) k = k.n; // keys are stored by value (OPA's equal keys)
    if (isPrim(k)) {
      this.prim.set(k, v);
    } else {
      (this.comp ??= new Map()).set(canonicalKey(k), [k, v]);
    }
    return this;
  }

  delete(k: Value): void {
    this.sortedKeys = undefined;
    if (k instanceof FloatLit) k = k.n;
    if (isPrim(k)) this.prim.delete(k);
    else this.comp?.delete(canonicalKey(k));
  }

  /** Keys in OPA's order (sorted by `compare`). Cached; do not mutate the returned array. */
  keys(): Value[] {
    if (this.sortedKeys) return this.sortedKeys;
    const ks: Value[] = [...this.prim.keys()];
    if (this.comp) for (const [k] of this.comp.values()) ks.push(k);
    ks.sort(compare);
    this.sortedKeys = ks;
    return ks;
  }

  /** [key, value] pairs in OPA's order. */
  entries(): [Value, Value][] {
    return this.keys().map((k) => [k, this.get(k) as Value]);
  }

  /** Iterate in insertion order (cheaper when order does not matter). */
  forEachUnordered(fn: (v: Value, k: Value) => void): void {
    this.prim.forEach(fn);
    if (this.comp) for (const [k, v] of this.comp.values()) fn(v, k);
  }
}

export class RSet {
  readonly prim = new Set<Prim>();
  comp: Map<string, Value> | undefined = undefined;
  private sorted: Value[] | undefined = undefined;

  get size(): number {
    return this.prim.size + (this.comp ? this.comp.size : 0);
  }

  has(v: Value): boolean {
    if (isPrim(v)) return this.prim.has(v);
    if (v instanceof FloatLit) return this.prim.has(v.n);
    return this.comp !== undefined && this.comp.has(canonicalKey(v));
  }

  /** Add a member; only while building. Returns true when it was new. */
  add(v: Value): boolean {
    if (v instanceof FloatLit) v = v.n; // members are stored by value (OPA's equal elements)
    if (isPrim(v)) {
      if (this.prim.has(v)) return false;
      this.prim.add(v);
    } else {
      const k = canonicalKey(v);
      this.comp ??= new Map();
      if (this.comp.has(k)) return false;
      this.comp.set(k, v);
    }
    this.sorted = undefined;
    return true;
  }

  delete(v: Value): void {
    this.sorted = undefined;
    if (v instanceof FloatLit) v = v.n;
    if (isPrim(v)) this.prim.delete(v);
    else this.comp?.delete(canonicalKey(v));
  }

  /** Members in OPA's order. Cached; do not mutate the returned array. */
  values(): Value[] {
    if (this.sorted) return this.sorted;
    const vs: Value[] = [...this.prim];
    if (this.comp) for (const v of this.comp.values()) vs.push(v);
    vs.sort(compare);
    this.sorted = vs;
    return vs;
  }

  forEachUnordered(fn: (v: Value) => void): void {
    this.prim.forEach(fn);
    if (this.comp) this.comp.forEach(fn);
  }
}

export function makeObject(entries: Iterable<readonly [Value, Value]>): RObject {
  const o = new RObject();
  for (const [k, v] of entries) o.set(k, v);
  return o;
}

export function makeSet(values: Iterable<Value>): RSet {
  const s = new RSet();
  for (const v of values) s.add(v);
  return s;
}

export function isArray(v: Value | undefined): v is Value[] {
  return Array.isArray(v);
}
export function isObject(v: Value | undefined): v is RObject {
  return v instanceof RObject;
}
export function isSet(v: Value | undefined): v is RSet {
  return v instanceof RSet;
}
export function isString(v: Value | undefined): v is string {
  return typeof v === "string";
}

// ---------------------------------------------------------------------------------------------------------------
// Type names and ordering

export function typeName(v: Value): TypeName {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return "boolean";
    case "number":
    case "bigint":
      return "number";
    case "string":
      return "string";
  }
  if (Array.isArray(v)) return "array";
  if (v instanceof RObject) return "object";
  if (v instanceof FloatLit) return "number";
  return "set";
}

function typeRank(v: Value): number {
  if (v === null) return 0;
  switch (typeof v) {
    case "boolean":
      return 1;
    case "number":
    case "bigint":
      return 2;
    case "string":
      return 3;
  }
  if (Array.isArray(v)) return 4;
  if (v instanceof RObject) return 5;
  if (v instanceof FloatLit) return 2;
  return 6;
}

/** Strings compare by Unicode code point (Go compares UTF-8 bytes, which orders the same way). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // surrogate halves (0xD800-0xDFFF) encode code points above every BMP char
      const sx = x >= 0xd800 && x <= 0xdfff;
      const sy = y >= 0xd800 && y <= 0xdfff;
      if (sx !== sy) return sx ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** OPA's total order: null < boolean < number < string < array < object < set (ast/compare.go). */
export function compare(a: Value, b: Value): number {
  if (a === b) return 0;
  const ta = typeof a;
  if (ta === "string" && typeof b === "string") return compareStrings(a as string, b);
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2: {
      const x = plainNum(a as Num);
      const y = plainNum(b as Num);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 3:
      return compareStrings(a as string, b as string);
    case 4: {
      const x = a as Value[];
      const y = b as Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length - y.length < 0 ? -1 : x.length > y.length ? 1 : 0;
    }
    case 5: {
      const x = a as RObject;
      const y = b as RObject;
      const kx = x.keys();
      const ky = y.keys();
      const n = Math.min(kx.length, ky.length);
      for (let i = 0; i < n; i++) {
        const c = compare(kx[i]!, ky[i]!);
        if (c !== 0) return c;
        const d = compare(x.get(kx[i]!)!, y.get(ky[i]!)!);
        if (d !== 0) return d;
      }
      return kx.length < ky.length ? -1 : kx.length > ky.length ? 1 : 0;
    }
    default: {
      const x = (a as RSet).values();
      const y = (b as RSet).values();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i]!, y[i]!);
        if (c !== 0) return c;
      }
      return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
    }
  }
}

export function equals(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== "object" || a === null || b === null || typeof b !== "object") {
    // number vs bigint never happens for equal values thanks to normInt, so === suffices for primitives
    // a float-written literal equals its value (cheap when neither is one: the usual primitive mismatch)
    if (ta === "object") return a instanceof FloatLit && a.n === b;
    return b !== null && typeof b === "object" && b instanceof FloatLit && a === b.n;
  }
  if (a instanceof FloatLit) return b instanceof FloatLit && a.n === b.n; // b is an object here
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equals(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a instanceof RObject) {
    if (!(b instanceof RObject) || a.size !== b.size) return false;
    for (const [k, v] of a.prim) {
      const w = b.prim.get(k);
      if (w === undefined || !equals(v, w)) return false;
    }
    if (a.comp) {
      for (const [ck, [, v]] of a.comp) {
        const w = b.comp?.get(ck);
        if (w === undefined || !equals(v, w[1])) return false;
      }
    }
    return true;
  }
  const sa = a as RSet;
  if (!(b instanceof RSet) || sa.size !== b.size) return false;
  for (const v of sa.prim) if (!b.prim.has(v)) return false;
  if (sa.comp) for (const ck of sa.comp.keys()) if (!b.comp?.has(ck)) return false;
  return true;
}

/** Canonical string of a value: equal values give equal strings (used for composite keys and hashing). */
export function canonicalKey(v: Value): string {
  if (v === null) return "n";
  switch (typeof v) {
    case "boolean":
      return v ? "t" : "f";
    case "number":
      return "#" + String(v);
    case "bigint":
      return "#" + v.toString();
    case "string":
      return JSON.stringify(v);
  }
  if (v instanceof FloatLit) return "#" + v.n.toString();
  if (Array.isArray(v)) return "[" + v.map(canonicalKey).join(",") + "]";
  if (v instanceof RObject) return "{" + v.keys().map((k) => canonicalKey(k) + ":" + canonicalKey(v.get(k)!)).join(",") + "}";
  return "<" + (v as RSet).values().map(canonicalKey).join(",") + ">";
}

// ---------------------------------------------------------------------------------------------------------------
// JSON conversion

/** Convert parsed JSON (JSON.parse output, or YAML output) into a Value. bigint leaves are accepted. */
export function fromJSON(j: unknown): Value {
  if (j === null || j === undefined) return null;
  switch (typeof j) {
    case "string":
    case "boolean":
      return j;
    case "number":
      return Object.is(j, -0) ? 0 : j;
    case "bigint":
      return normInt(j);
  }
  if (Array.isArray(j)) {
    const out: Value[] = new Array(j.length);
    for (let i = 0; i < j.length; i++) out[i] = fromJSON(j[i]);
    return out;
  }
  if (j instanceof RObject || j instanceof RSet) return j;
  const o = new RObject();
  for (const k in j as Record<string, unknown>) {
    if (Object.prototype.hasOwnProperty.call(j, k)) o.prim.set(k, fromJSON((j as Record<string, unknown>)[k]));
  }
  return o;
}

/**
 * Convert a Value to plain JSON-compatible JS like OPA's JSON output: sets become arrays in sorted order, object
 * keys that are not strings are JSON-encoded into strings, objects' keys are emitted sorted. bigints are kept as
 * bigint (use toJSONString for text).
 */
export function toJSON(v: Value): unknown {
  if (v === null || typeof v !== "object") return v;
  if (v instanceof FloatLit) return v.n;
  if (Array.isArray(v)) return v.map(toJSON);
  if (v instanceof RObject) {
    const out: Record<string, unknown> = {};
    for (const k of v.keys()) out[typeof k === "string" ? k : toJSONString(k)] = toJSON(v.get(k)!);
    return out;
  }
  return (v as RSet).values().map(toJSON);
}

/** Compact JSON text of a value (exact for big integers), keys in OPA's order. */
export function toJSONString(v: Value, indent?: string): string {
  return writeJSON(v, indent ?? "", "");
}

function writeJSON(v: Value, indent: string, cur: string): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
    case "bigint":
      return numToString(v);
    case "string":
      return JSON.stringify(v);
  }
  if (v instanceof FloatLit) return v.text;
  const inner = cur + indent;
  const nl = indent ? "\n" : "";
  const sep = indent ? ": " : ":";
  let parts: string[];
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    parts = v.map((x) => inner + writeJSON(x, indent, inner));
    return "[" + nl + parts.join("," + nl) + nl + cur + "]";
  }
  if (v instanceof RObject) {
    if (v.size === 0) return "{}";
    const ks = v.keys();
    if (!v.comp && ks.every((k) => typeof k === "string")) {
      // common case: string keys, already in order
      let out = "{" + nl;
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i] as string;
        if (i) out += "," + nl;
        out += inner + JSON.stringify(k) + sep + writeJSON(v.prim.get(k)!, indent, inner);
      }
      return out + nl + cur + "}";
    }
    // output keys are strings; non-string keys are encoded, and the encoded strings then sort like Go's map keys
    const pairs = ks.map((k) => [typeof k === "string" ? k : toJSONString(k), v.get(k)!] as const);
    pairs.sort((p, q) => compareStrings(p[0], q[0]));
    parts = pairs.map(([k, x]) => inner + JSON.stringify(k) + sep + writeJSON(x, indent, inner));
    return "{" + nl + parts.join("," + nl) + nl + cur + "}";
  }
  const vs = (v as RSet).values();
  if (vs.length === 0) return "[]";
  parts = vs.map((x) => inner + writeJSON(x, indent, inner));
  return "[" + nl + parts.join("," + nl) + nl + cur + "]";
}

/** Parse JSON text into a Value without losing big integers. */
export function parseJSON(text: string): Value {
  // JSON.parse loses integers past 2^53; use a reviver with the source text when the runtime offers it,
  // otherwise re-scan only when the text has long digit runs.
  if (!/\d{16,}/.test(text)) return fromJSON(JSON.parse(text));
  return fromJSON(parseJSONExact(text));
}

function parseJSONExact(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  const val = (): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[i] === "}") {
        i++;
        return o;
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ":") throw new SyntaxError("invalid JSON: expected ':'");
        o[k] = val();
        ws();
        const d = text[i++];
        if (d === "}") return o;
        if (d !== ",") throw new SyntaxError("invalid JSON: expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return a;
      }
      for (;;) {
        a.push(val());
        ws();
        const d = text[i++];
        if (d === "]") return a;
        if (d !== ",") throw new SyntaxError("invalid JSON: expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) return (i += 4), true;
    if (text.startsWith("false", i)) return (i += 5), false;
    if (text.startsWith("null", i)) return (i += 4), null;
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 4096));
    if (!m) throw new SyntaxError(`invalid JSON at offset ${i}`);
    i += m[0].length;
    const n = numFromString(m[0]);
    return n;
  };
  const str = (): string => {
    if (text[i] !== '"') throw new SyntaxError(`invalid JSON: expected string at offset ${i}`);
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
    const s = JSON.parse(text.slice(i, j + 1)) as string;
    i = j + 1;
    return s;
  };
  const out = val();
  ws();
  if (i !== text.length) throw new SyntaxError(`invalid JSON: trailing data at offset ${i}`);
  return out;
}

/** Rego term syntax of a value (as `print` and `sprintf("%v")` show it): sets as {1, 2}, empty set as set(). */
export function toRegoString(v: Value): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
    case "bigint":
      return numToString(v);
    case "string":
      return JSON.stringify(v);
  }
  if (v instanceof FloatLit) return v.text;
  if (Array.isArray(v)) return "[" + v.map(toRegoString).join(", ") + "]";
  if (v instanceof RObject) return "{" + v.keys().map((k) => toRegoString(k) + ": " + toRegoString(v.get(k)!)).join(", ") + "}";
  const vs = (v as RSet).values();
  return vs.length === 0 ? "set()" : "{" + vs.map(toRegoString).join(", ") + "}";
}
