// Aggregates, sets, arrays, objects and type checks (OPA topdown/aggregates.go, sets.go, array.go, object.go,
// subset.go, type.go, walk.go).
import type { Num, Value, RObject, RSet } from "../value.ts";
import {
  compare,
  numAdd,
  equals,
  isNumber,
  isObject,
  isSet,
  makeObject,
  makeSet,
  normInt,
  numMul,
  toBigInt,
  toNumber,
  typeName,
  RObject as RObjectClass,
} from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, ARR, B, N, OBJ, S, SET, T, anyOf, arr, fn, int, obj, operandErr, rel, set, typeErr } from "./util.ts";

export function elemErr(pos: number, composite: Value, got: Value, ...expected: string[]): Error {
  const tpe = typeName(composite);
  if (expected.length === 1)
    return operandErr(`operand ${pos} must be ${tpe} of ${expected[0]}s but got ${tpe} containing ${typeName(got)}`);
  return operandErr(
    `operand ${pos} must be ${tpe} of (any of) {${expected.join(", ")}} but got ${tpe} containing ${typeName(got)}`,
  );
}

function numbersOf(v: Value, pos: number): Value[] {
  const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
  if (!xs) throw typeErr(pos, v, "set", "array");
  for (const x of xs) if (!isNumber(x)) throw elemErr(pos, v, x, "number");
  return xs;
}

function sum(xs: Value[]): Value {
  let exact = true;
  let acc = 0n;
  for (const x of xs) {
    const b = toBigInt(x as number);
    if (b === undefined) {
      exact = false;
      break;
    }
    acc += b;
  }
  if (exact) return normInt(acc);
  // OPA adds big.Floats: decimal addition, so sum([0.1, 0.2]) is 0.3
  let r: Num = 0;
  for (const x of xs) r = numAdd(r, x as Num);
  return r;
}

function product(xs: Value[]): Value {
  let r: Value = 1;
  for (const x of xs) r = numMul(r as number, x as number);
  return r;
}

function objectSubset(sup: RObject, sub: RObject): boolean {
  for (const k of sub.keys()) {
    const sv = sup.get(k);
    const bv = sub.get(k)!;
    if (sv === undefined) return false;
    if (equals(sv, bv)) continue;
    if (isObject(sv) && isObject(bv)) {
      if (!objectSubset(sv, bv)) return false;
      continue;
    }
    if (isSet(sv) && isSet(bv)) {
      if (!setSubset(sv, bv)) return false;
      continue;
    }
    if (Array.isArray(sv) && Array.isArray(bv)) {
      if (!arraySubset(sv, bv)) return false;
      continue;
    }
    return false;
  }
  return true;
}
function setSubset(sup: RSet, sub: RSet): boolean {
  return sub.values().every((v) => sup.has(v));
}
function arraySubset(sup: Value[], sub: Value[]): boolean {
  if (sub.length > sup.length) return false;
  if (equals(sub, sup)) return true;
  let superCursor = 0;
  let subCursor = 0;
  for (;;) {
    if (subCursor === sub.length) return true;
    if (superCursor + subCursor === sup.length) return false;
    if (compare(sup[superCursor + subCursor]!, sub[subCursor]!) === 0) subCursor++;
    else {
      superCursor++;
      subCursor = 0;
    }
  }
}
function arraySetSubset(sup: Value[], sub: RSet): boolean {
  let unmatched = sub.size;
  for (const t of sup) {
    if (sub.has(t)) unmatched--;
    if (unmatched === 0) return true;
  }
  return false;
}

function mergeWithOverwrite(a: RObject, b: RObject): RObject {
  const out = new RObjectClass();
  a.forEachUnordered((v, k) => out.set(k, v));
  b.forEachUnordered((v, k) => {
    const orig = a.get(k);
    if (orig !== undefined && isObject(orig) && isObject(v)) out.set(k, mergeWithOverwrite(orig, v));
    else out.set(k, v);
  });
  return out;
}

function copyObj(o: RObject): RObject {
  const out = new RObjectClass();
  o.forEachUnordered((v, k) => out.set(k, isObject(v) ? copyObj(v) : v));
  return out;
}

function mergeInPlace(o: RObject, other: RObject, frozen: Set<Value>): void {
  other.forEachUnordered((v, k) => {
    const v2 = o.get(k);
    if (v2 === undefined) {
      o.set(k, isObject(v) ? copyObj(v) : v);
      return;
    }
    if (isObject(v) && isObject(v2)) {
      if (!frozen.has(v2)) mergeInPlace(v2, v, frozen);
    } else frozen.add(v2);
  });
}

function keysParam(v: Value): RSet {
  if (Array.isArray(v)) return makeSet(v);
  if (isSet(v)) return v;
  if (isObject(v)) return makeSet(v.keys());
  throw typeErr(2, v, "object", "set", "array");
}

/** ast.Value.Find: walk a path through objects (key), arrays (integer index) and sets (member). */
export function findPath(v: Value, path: Value[]): Value | undefined {
  let cur: Value = v;
  for (const p of path) {
    if (isObject(cur)) {
      const n = cur.get(p);
      if (n === undefined) return undefined;
      cur = n;
    } else if (Array.isArray(cur)) {
      if (!isNumber(p)) return undefined;
      const i = toNumber(p);
      if (!Number.isInteger(i) || i < 0 || i >= cur.length) return undefined;
      cur = cur[i]!;
    } else if (isSet(cur)) {
      if (!cur.has(p)) return undefined;
      cur = p;
    } else return undefined;
  }
  return cur;
}

function* walk(v: Value, path: Value[]): Generator<Value> {
  yield [path.slice(), v];
  if (Array.isArray(v))
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      yield* walk(v[i]!, path);
      path.pop();
    }
  else if (isObject(v))
    for (const k of v.keys()) {
      path.push(k);
      yield* walk(v.get(k)!, path);
      path.pop();
    }
  else if (isSet(v))
    for (const k of v.values()) {
      path.push(k);
      yield* walk(k, path);
      path.pop();
    }
}

function* walkNoPaths(v: Value): Generator<Value> {
  yield [null, v];
  if (Array.isArray(v)) for (const x of v) yield* walkNoPaths(x);
  else if (isObject(v)) for (const k of v.keys()) yield* walkNoPaths(v.get(k)!);
  else if (isSet(v)) for (const k of v.values()) yield* walkNoPaths(k);
}

const isType = (name: string, t: string) => fn(name, [A], B, (a) => typeName(a[0]!) === t);

export const collectionBuiltins: BuiltinDef[] = [
  // aggregates
  fn("count", [anyOf(ARR, OBJ, SET, S)], N, (a) => {
    const v = a[0]!;
    if (typeof v === "string") {
      let n = 0;
      for (const _ of v) n++;
      return n;
    }
    if (Array.isArray(v)) return v.length;
    if (isObject(v) || isSet(v)) return v.size;
    throw typeErr(1, v, "array", "object", "set", "string");
  }),
  fn("sum", [anyOf(SET, ARR)], N, (a) => sum(numbersOf(a[0]!, 1))),
  fn("product", [anyOf(SET, ARR)], N, (a) => product(numbersOf(a[0]!, 1))),
  fn("max", [anyOf(SET, ARR)], A, (a) => {
    const v = a[0]!;
    const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
    if (!xs) throw typeErr(1, v, "set", "array");
    if (xs.length === 0) return undefined;
    let m: Value = xs[0] as Value;
    for (const x of xs) if (compare(m, x) <= 0) m = x;
    return m;
  }),
  fn("min", [anyOf(SET, ARR)], A, (a) => {
    const v = a[0]!;
    const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
    if (!xs) throw typeErr(1, v, "set", "array");
    if (xs.length === 0) return undefined;
    let m: Value = xs[0] as Value;
    for (const x of xs) if (compare(m, x) >= 0) m = x;
    return m;
  }),
  fn("sort", [anyOf(ARR, SET)], ARR, (a) => {
    const v = a[0]!;
    if (Array.isArray(v)) return [...v].sort(compare);
    if (isSet(v)) return [...v.values()];
    throw typeErr(1, v, "set", "array");
  }),
  fn(
    "all",
    [anyOf(SET, ARR)],
    B,
    (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return v.every((x) => x === true);
      if (isSet(v)) return v.values().every((x) => x === true);
      throw typeErr(1, v, "array", "set");
    },
    { deprecated: true },
  ),
  fn(
    "any",
    [anyOf(SET, ARR)],
    B,
    (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return v.some((x) => x === true);
      if (isSet(v)) return v.has(true);
      throw typeErr(1, v, "array", "set");
    },
    { deprecated: true },
  ),
  fn("internal.member_2", [A, A], B, (a) => {
    const [x, c] = a as [Value, Value];
    if (isSet(c)) return c.has(x);
    if (Array.isArray(c)) return c.some((e) => equals(e, x));
    if (isObject(c)) {
      let f = false;
      c.forEachUnordered((v) => {
        if (!f && equals(v, x)) f = true;
      });
      return f;
    }
    return false;
  }),
  fn("internal.member_3", [A, A, A], B, (a) => {
    const [k, v, c] = a as [Value, Value, Value];
    if (isSet(c)) return c.has(k) && equals(k, v);
    if (isObject(c)) {
      const g = c.get(k);
      return g !== undefined && equals(g, v);
    }
    if (Array.isArray(c)) {
      if (!isNumber(k)) return false;
      const i = toNumber(k);
      return Number.isInteger(i) && i >= 0 && i < c.length && equals(c[i]!, v);
    }
    return false;
  }),

  // sets
  fn("and", [SET, SET], SET, (a) => {
    const x = set(a, 0);
    const y = set(a, 1);
    const [small, big] = x.size <= y.size ? [x, y] : [y, x];
    return makeSet(small.values().filter((v) => big.has(v)));
  }),
  fn("or", [SET, SET], SET, (a) => {
    const x = set(a, 0);
    const y = set(a, 1);
    return makeSet([...x.values(), ...y.values()]);
  }),
  fn("intersection", [T.set(SET)], SET, (a) => {
    const s = set(a, 0);
    const sets = s.values();
    for (const x of sets) if (!isSet(x)) throw elemErr(1, s, x, "set");
    if (sets.length === 0) return makeSet([]);
    let acc = sets[0] as RSet;
    for (const x of sets.slice(1)) acc = makeSet(acc.values().filter((v) => (x as RSet).has(v)));
    return acc;
  }),
  fn("union", [T.set(SET)], SET, (a) => {
    const s = set(a, 0);
    const out = makeSet([]);
    for (const x of s.values()) {
      if (!isSet(x)) throw elemErr(1, s, x, "set");
      x.forEachUnordered((v) => out.add(v));
    }
    return out;
  }),
  fn(
    "set_diff",
    [SET, SET],
    SET,
    (a) => {
      const x = set(a, 0);
      const y = set(a, 1);
      return makeSet(x.values().filter((v) => !y.has(v)));
    },
    { deprecated: true },
  ),

  // arrays
  fn("array.concat", [ARR, ARR], ARR, (a) => [...arr(a, 0), ...arr(a, 1)]),
  fn("array.slice", [ARR, N, N], ARR, (a) => {
    const xs = arr(a, 0);
    let start = int(a, 1);
    let stop = int(a, 2);
    if (start < 0) start = 0;
    if (stop > xs.length) stop = xs.length;
    if (start >= stop) return [];
    return xs.slice(start, stop);
  }),
  fn("array.reverse", [ARR], ARR, (a) => [...arr(a, 0)].reverse()),
  fn("array.flatten", [ARR], ARR, (a) => {
    const out: Value[] = [];
    for (const x of arr(a, 0)) {
      if (Array.isArray(x)) out.push(...x);
      else out.push(x);
    }
    return out;
  }),

  // objects
  fn("object.union", [OBJ, OBJ], OBJ, (a) => {
    const x = obj(a, 0);
    const y = obj(a, 1);
    if (equals(x, y)) return x;
    return mergeWithOverwrite(x, y);
  }),
  fn("object.union_n", [T.array(OBJ)], OBJ, (a) => {
    const xs = arr(a, 0);
    const result = new RObjectClass();
    const frozen = new Set<Value>();
    for (let i = xs.length - 1; i >= 0; i--) {
      const o = xs[i]!;
      if (!isObject(o)) throw elemErr(1, xs, o, "object");
      mergeInPlace(result, o, frozen);
    }
    return result;
  }),
  fn("object.remove", [OBJ, anyOf(ARR, SET, OBJ)], OBJ, (a) => {
    const o = obj(a, 0);
    const ks = keysParam(a[1]!);
    return makeObject(o.entries().filter(([k]) => !ks.has(k)));
  }),
  fn("object.filter", [OBJ, anyOf(ARR, SET, OBJ)], OBJ, (a) => {
    const o = obj(a, 0);
    const ks = keysParam(a[1]!);
    return makeObject(o.entries().filter(([k]) => ks.has(k)));
  }),
  fn("object.get", [OBJ, A, A], A, (a) => {
    const o = obj(a, 0);
    const key = a[1]!;
    // a stored null is a value (OPA returns it), only a missing key gives the default
    if (!Array.isArray(key)) {
      const v = o.get(key);
      return v === undefined ? a[2]! : v;
    }
    if (key.length === 0) return o;
    const v = findPath(o, key);
    return v === undefined ? a[2]! : v;
  }),
  fn("object.keys", [OBJ], SET, (a) => makeSet(obj(a, 0).keys())),
  fn("object.subset", [anyOf(OBJ, SET, ARR), anyOf(OBJ, SET, ARR)], B, (a) => {
    const [sup, sub] = a as [Value, Value];
    if (isObject(sup) && isObject(sub)) return objectSubset(sup, sub);
    if (isSet(sup) && isSet(sub)) return setSubset(sup, sub);
    if (Array.isArray(sup) && Array.isArray(sub)) return arraySubset(sup, sub);
    if (Array.isArray(sup) && isSet(sub)) return arraySetSubset(sup, sub);
    throw operandErr("both arguments object.subset must be of the same type or array and set");
  }),

  // types
  isType("is_number", "number"),
  isType("is_string", "string"),
  isType("is_boolean", "boolean"),
  isType("is_array", "array"),
  isType("is_set", "set"),
  isType("is_object", "object"),
  isType("is_null", "null"),
  fn("type_name", [A], S, (a) => typeName(a[0]!)),

  // walk
  rel("walk", [A], T.array(A), (a) => walk(a[0]!, [])),
  rel("internal.walk_no_paths", [A], T.array(A), (a) => walkNoPaths(a[0]!)),

  // casts (v0 only)
  fn(
    "cast_array",
    [A],
    ARR,
    (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return v;
      if (isSet(v)) return [...v.values()];
      throw typeErr(1, v, "array", "set");
    },
    { deprecated: true },
  ),
  fn(
    "cast_set",
    [A],
    SET,
    (a) => {
      const v = a[0]!;
      if (Array.isArray(v)) return makeSet(v);
      if (isSet(v)) return v;
      throw typeErr(1, v, "array", "set");
    },
    { deprecated: true },
  ),
  fn(
    "cast_string",
    [A],
    S,
    (a) => {
      const v = a[0]!;
      if (typeof v !== "string") throw typeErr(1, v, "string");
      return v;
    },
    { deprecated: true },
  ),
  fn(
    "cast_boolean",
    [A],
    B,
    (a) => {
      const v = a[0]!;
      if (typeof v !== "boolean") throw typeErr(1, v, "boolean");
      return v;
    },
    { deprecated: true },
  ),
  fn(
    "cast_null",
    [A],
    T.null,
    (a) => {
      const v = a[0]!;
      if (v !== null) throw typeErr(1, v, "null");
      return null;
    },
    { deprecated: true },
  ),
  fn(
    "cast_object",
    [A],
    OBJ,
    (a) => {
      const v = a[0]!;
      if (!isObject(v)) throw typeErr(1, v, "object");
      return v;
    },
    { deprecated: true },
  ),
];
