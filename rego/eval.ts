// Top-down evaluator with backtracking, in continuation-passing style: every evaluation step calls its continuation
// once per solution; a continuation returns true to stop the search (halt), false to backtrack for more.
import type { Expr, Term } from "./ast.ts";
import type { BuiltinContext, BuiltinDef } from "./builtins/api.ts";
import { BuiltinError } from "./builtins/api.ts";
import type { CRule, Node } from "./compile.ts";
import { RegoBuiltinError, RegoError, type Location } from "./errors.ts";
import * as V from "./value.ts";
import type { Value } from "./value.ts";

// Module-local bindings: under tsx (CommonJS interop) every access to an imported binding is a getter call, which
// showed up as ~10% of evaluation time in profiles. Binding once here keeps the hot path free of them.
const compare = V.compare;
const equals = V.equals;
const isInteger = V.isInteger;
const RObject = V.RObject;
type RObject = V.RObject;
const RSet = V.RSet;
type RSet = V.RSet;
const toJSONString = V.toJSONString;
const toRegoString = V.toRegoString;
const BuiltinErrorClass = BuiltinError;

export type K = () => boolean;
export type VK = (v: Value) => boolean;
type Frame = (Value | undefined)[];

export interface Limits {
  maxSteps: number;
  maxMillis: number;
  maxDepth: number;
  maxCollection: number;
  /** JSON input/data documents larger than this many values are rejected (input_limit_error) */
  maxInputValues: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxSteps: 20_000_000,
  maxMillis: 5_000,
  maxDepth: 1_000,
  maxCollection: 1_000_000,
  maxInputValues: 2_000_000,
};

/** State shared by one query evaluation (across `with` scopes). It is also the builtins' context. */
export class Root implements BuiltinContext {
  steps = 0;
  depth = 0;
  deadline: number;
  printed: string[] = [];
  private bcache: Map<string, unknown> | undefined;
  private seed: number;
  /** memo of the last call per builtin (pure builtins called twice with identical arguments, e.g. json.marshal) */
  memo: Map<BuiltinDef, { args: Value[]; result: Value | undefined }> | undefined;
  /** coverage hook (`policy test --coverage`): called with each expression as it is evaluated and each rule head
   * whose body succeeded; undefined (the default) costs one property read per expression */
  cover: ((loc: Location) => void) | undefined = undefined;
  constructor(
    readonly strict: boolean,
    readonly nowNs: bigint,
    readonly builtins: Map<string, BuiltinDef>,
    readonly limits: Limits,
    seed: number,
  ) {
    this.deadline = Date.now() + limits.maxMillis;
    this.seed = seed >>> 0 || 0x9e3779b9;
  }
  get cache(): Map<string, unknown> {
    return (this.bcache ??= new Map());
  }
  random(): number {
    // mulberry32
    let t = (this.seed = (this.seed + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  checkBudget(): void {
    this.tick();
  }
  print(line: string): void {
    this.printed.push(line);
  }
  tick(): void {
    if (++this.steps > this.limits.maxSteps)
      throw new RegoError("eval_budget_error", `evaluation exceeded ${this.limits.maxSteps} steps`);
    if ((this.steps & 0xfff) === 0 && Date.now() > this.deadline)
      throw new RegoError("eval_cancel_error", `evaluation exceeded ${this.limits.maxMillis} ms`);
  }
}

const UNDEF = Symbol("undefined");
const IN_PROGRESS = Symbol("in progress");
type Cached = Value | typeof UNDEF | typeof IN_PROGRESS;

/** Per-`with`-scope evaluation context. */
export class Ctx {
  cache = new Map<Node, Cached>();
  nodeOverrides: Map<Node, Value> | undefined = undefined;
  mocks: Map<string, Term | Value> | undefined = undefined;
  constructor(
    readonly root: Root,
    readonly tree: Node,
    public input: Value | undefined,
    public data: Value,
  ) {}
  get bctx(): BuiltinContext {
    return this.root;
  }
  derive(): Ctx {
    const c = new Ctx(this.root, this.tree, this.input, this.data);
    c.nodeOverrides = this.nodeOverrides;
    c.mocks = this.mocks;
    return c;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// bodies and expressions

export function evalBody(body: Expr[], i: number, f: Frame, c: Ctx, k: K): boolean {
  if (i === body.length) return k();
  const e = body[i]!;
  if (i + 1 === body.length) return evalExpr(e, f, c, k);
  return evalExpr(e, f, c, () => evalBody(body, i + 1, f, c, k));
}

export function evalExpr(e: Expr, f: Frame, c: Ctx, k: K): boolean {
  c.root.tick();
  if (c.root.cover !== undefined) c.root.cover(e.loc);
  if (e.with.length) return evalWith(e, f, c, k);
  switch (e.k) {
    case "term":
      if (e.negated) {
        let found = false;
        try {
          evalTermExpr(e.term, f, c, () => {
            found = true;
            return true;
          });
        } catch (err) {
          throw addLoc(err, e.loc);
        }
        return found ? false : k();
      }
      return evalTermExpr(e.term, f, c, k, e.loc);
    case "some":
      return k();
    case "somein":
      return evalTerm(e.domain, f, c, (d) =>
        iterate(d, (key, val) => {
          c.root.tick();
          return unifyOpt(e.key, key, f, c, () => unify(e.value, val, f, c, k));
        }),
      );
    case "every": {
      let ok = false;
      evalTerm(e.domain, f, c, (d) => {
        ok = everyHolds(e, d, f, c);
        return true;
      });
      if (e.negated) return ok ? false : k();
      return ok ? k() : false;
    }
    case "not":
      return evalBody(e.body, 0, f, c, () => true) ? false : k();
    case "logic":
      if (e.op === "and") {
        for (const b of e.operands) if (!evalBody(b, 0, f, c, () => true)) return false;
        return k();
      }
      for (const b of e.operands) if (evalBody(b, 0, f, c, () => true)) return k();
      return false;
  }
}

function everyHolds(e: Expr & { k: "every" }, d: Value, f: Frame, c: Ctx): boolean {
  if (d === null || typeof d !== "object") return false;
  let all = true;
  iterate(d, (key, val) => {
    const ks = e.key?.t === "var" ? e.key.slot : undefined;
    const vs = e.value.t === "var" ? e.value.slot : undefined;
    if (ks !== undefined) f[ks] = key;
    if (vs !== undefined) f[vs] = val;
    const sat = evalBody(e.body, 0, f, c, () => true);
    if (ks !== undefined) f[ks] = undefined;
    if (vs !== undefined) f[vs] = undefined;
    if (!sat) {
      all = false;
      return true;
    }
    return false;
  });
  return all;
}

function addLoc(err: unknown, loc: Location): unknown {
  return err;
  void loc;
}

function evalTermExpr(t: Term, f: Frame, c: Ctx, k: K, loc?: Location): boolean {
  if ((t as { t: string }).t === "capture") {
    const cap = t as unknown as { inner: Term; idx: number; out: Value[]; check?: boolean };
    return evalTerm(cap.inner, f, c, (v) => {
      if (cap.check && v === false) return false;
      cap.out[cap.idx] = v;
      return k();
    });
  }
  if (t.t === "call") {
    const op = t.op;
    if (op === "eq" || op === "assign") return unifyTerms(t.args[0]!, t.args[1]!, f, c, k);
    return evalCall(t, f, c, (v) => (v === false ? false : k()), loc, true);
  }
  return evalTerm(t, f, c, (v) => (v === false ? false : k()));
}

function evalWith(e: Expr, f: Frame, c: Ctx, k: K): boolean {
  // evaluate every with value (first value of each), then the expression in a derived context
  const vals: (Value | undefined)[] = [];
  for (const w of e.with) {
    if (w.value.t === "call" && w.value.args.length === 0 && isFuncMockTarget(w)) {
      vals.push(undefined);
      continue;
    }
    let got: Value | undefined;
    evalTerm(w.value, f, c, (v) => {
      got = v;
      return true;
    });
    if (got === undefined) return false;
    vals.push(got);
  }
  const c2 = c.derive();
  for (let i = 0; i < e.with.length; i++) {
    const w = e.with[i]!;
    const t = w.target;
    if (t.t === "call" || isFuncRef(t, c)) {
      const name = t.t === "call" ? t.op : "data." + refStrings(t)!.join(".");
      c2.mocks = new Map(c2.mocks ?? []);
      c2.mocks.set(name, vals[i] === undefined ? w.value : vals[i]!);
      continue;
    }
    const isInput = t.t === "var" ? t.name === "input" : t.t === "ref" && t.head.t === "var" && t.head.name === "input";
    const path = t.t === "ref" ? refStrings(t) : [];
    if (!path) throw new RegoError("rego_compile_error", "with target must be a ground reference", w.loc);
    if (isInput) {
      c2.input = path.length === 0 ? vals[i]! : patch(c2.input, path, vals[i]!);
    } else {
      c2.data = patch(c2.data, path, vals[i]!);
      // override virtual documents on the path
      let n: Node | undefined = c.tree;
      let j = 0;
      for (; j < path.length && n; j++) {
        if (n.rules.length || n.defaultRule) break;
        n = n.children.get(path[j]!);
      }
      if (n && (n.rules.length || n.defaultRule || j === path.length)) {
        c2.nodeOverrides = new Map(c2.nodeOverrides ?? []);
        if (j === path.length) c2.nodeOverrides.set(n, vals[i]!);
        else {
          // the target is inside a rule's value: patch the rule's computed value lazily
          const base = evalNodeValue(n, c);
          c2.nodeOverrides.set(n, patch(base ?? new RObject(), path.slice(j), vals[i]!));
        }
      }
    }
  }
  const inner: Expr = { ...e, with: [] } as Expr;
  return evalExpr(inner, f, c2, k);
}

function isFuncMockTarget(w: { target: Term }): boolean {
  return w.target.t === "call" || w.target.t === "ref";
}

function isFuncRef(t: Term, c: Ctx): boolean {
  if (t.t !== "ref" || t.head.t !== "var" || t.head.name !== "data") return false;
  const p = refStrings(t);
  if (!p) return false;
  let n: Node | undefined = c.tree;
  for (const s of p) {
    n = n.children.get(s);
    if (!n) return false;
  }
  return n.kind === "func";
}

function refStrings(t: Term): string[] | undefined {
  if (t.t === "var") return [];
  if (t.t !== "ref") return undefined;
  const out: string[] = [];
  for (const p of t.path) {
    if (p.t !== "val" || typeof p.v !== "string") return undefined;
    out.push(p.v);
  }
  return out;
}

/** Copy-on-write set of a nested path inside an object value. */
function patch(base: Value | undefined, path: string[], v: Value): Value {
  if (path.length === 0) return v;
  const o = new RObject();
  if (base instanceof RObject) base.forEachUnordered((val, key) => o.set(key, val));
  const [h, ...rest] = path as [string, ...string[]];
  o.set(h, patch(o.get(h), rest, v));
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// terms

const NS = Symbol("not simple");

/**
 * Value of a term that needs no enumeration (literal, bound var, ref with a ground path), without allocating
 * continuations; NS when the general path must be taken.
 */
function fastValue(t: Term, f: Frame, c: Ctx): Value | undefined | typeof NS {
  switch (t.t) {
    case "val":
      return t.v;
    case "var":
      if (t.slot !== undefined) {
        const v = f[t.slot];
        return v === undefined ? NS : v;
      }
      return t.name === "input" ? c.input : NS;
    case "ref": {
      const h = t.head;
      if (h.t !== "var") return NS;
      let v: Value | undefined;
      const path = t.path;
      let i = 0;
      let baseDoc = false;
      if (h.slot !== undefined) {
        v = f[h.slot];
        if (v === undefined) return NS;
      } else if (h.name === "input") {
        v = c.input;
        if (v === undefined) return undefined;
      } else if (h.name === "data") {
        if (c.nodeOverrides) return NS;
        let node: Node | undefined = c.tree;
        let base: Value | undefined = c.data;
        for (; i < path.length; i++) {
          if (node.rules.length || node.defaultRule) break;
          const p = path[i]!;
          if (p.t !== "val" || typeof p.v !== "string") return NS;
          const child: Node | undefined = node.children.get(p.v);
          base = base === undefined ? undefined : getKey(base, p.v);
          if (!child) {
            node = undefined;
            i++;
            break;
          }
          node = child;
        }
        if (node) {
          if (node.rules.length || node.defaultRule) {
            if (node.kind === "func") return undefined;
            v = evalNodeValue(node, c);
          } else if (node.hasRules) return NS;
          else {
            v = base;
            baseDoc = true;
          }
        } else {
          v = base;
          baseDoc = true;
        }
        if (v === undefined) return undefined;
      } else return NS;
      for (; i < path.length; i++) {
        const p = path[i]!;
        let key: Value | undefined;
        if (p.t === "val") {
          key = p.v;
          // OPA indexes arrays only by integers written as such (xs[1.0] is undefined)
          if (p.raw !== undefined && Array.isArray(v)) return undefined;
        } else if (p.t === "var" && p.slot !== undefined) {
          key = f[p.slot];
          if (key === undefined) return NS;
        } else return NS;
        // numbers index data objects by their string form (data.x[2] is data.x["2"])
        if (baseDoc && typeof key === "number" && v instanceof RObject) key = String(key);
        v = getKey(v, key);
        if (v === undefined) return undefined;
      }
      return v;
    }
    default:
      return NS;
  }
}

/** Evaluate a term; calls k once per value (refs with unbound vars iterate). */
export function evalTerm(t: Term, f: Frame, c: Ctx, k: VK): boolean {
  switch (t.t) {
    case "val":
      return k(t.v);
    case "var": {
      if (t.slot !== undefined) {
        const v = f[t.slot];
        if (v === undefined) throw new RegoError("rego_unsafe_var_error", `var ${t.name} is unsafe`, t.loc);
        return k(v);
      }
      if (t.name === "input") return c.input === undefined ? false : k(c.input);
      if (t.name === "data") return evalData(c.tree, c.data, [], 0, f, c, k);
      throw new RegoError("rego_compile_error", `unresolved var ${t.name}`, t.loc);
    }
    case "ref": {
      const v = fastValue(t, f, c);
      if (v !== NS) return v === undefined ? false : k(v);
      return evalRef(t, f, c, k);
    }
    case "array":
      return evalItems(t.items, 0, new Array(t.items.length), f, c, (vs) => k(vs.slice()));
    case "set":
      return evalItems(t.items, 0, new Array(t.items.length), f, c, (vs) => {
        const s = new RSet();
        for (const v of vs) s.add(v);
        return k(s);
      });
    case "object": {
      const flat: Term[] = [];
      for (const [kk, vv] of t.items) flat.push(kk, vv);
      return evalItems(flat, 0, new Array(flat.length), f, c, (vs) => {
        const o = new RObject();
        for (let i = 0; i < vs.length; i += 2) o.set(vs[i]!, vs[i + 1]!);
        return k(o);
      });
    }
    case "call":
      return evalCall(t, f, c, k, t.loc, false);
    case "arraycomp": {
      const out: Value[] = [];
      evalBody(t.body, 0, f, c, () =>
        evalTerm(t.head, f, c, (v) => {
          out.push(v);
          if (out.length > c.root.limits.maxCollection) throw sizeError(c);
          return false;
        }),
      );
      return k(out);
    }
    case "setcomp": {
      const out = new RSet();
      evalBody(t.body, 0, f, c, () =>
        evalTerm(t.head, f, c, (v) => {
          out.add(v);
          if (out.size > c.root.limits.maxCollection) throw sizeError(c);
          return false;
        }),
      );
      return k(out);
    }
    case "objcomp": {
      const out = new RObject();
      evalBody(t.body, 0, f, c, () =>
        evalTerm(t.key, f, c, (kv) =>
          evalTerm(t.value, f, c, (vv) => {
            const prev = out.get(kv);
            if (prev !== undefined && !equals(prev, vv))
              throw new RegoError("eval_conflict_error", "object keys must be unique", t.loc);
            out.set(kv, vv);
            if (out.size > c.root.limits.maxCollection) throw sizeError(c);
            return false;
          }),
        ),
      );
      return k(out);
    }
    case "tmpl":
      return evalTemplate(t, f, c, k);
  }
}

function sizeError(c: Ctx): RegoError {
  return new RegoError("eval_budget_error", `collection exceeds ${c.root.limits.maxCollection} elements`);
}

function evalTemplate(t: Term & { t: "tmpl" }, f: Frame, c: Ctx, k: VK): boolean {
  const vals: string[] = [];
  const go = (i: number): boolean => {
    if (i === t.exprs.length) {
      let s = t.parts[0]!;
      for (let j = 0; j < vals.length; j++) s += vals[j]! + t.parts[j + 1]!;
      return k(s);
    }
    let got = false;
    let conflict = false;
    let first: Value | undefined;
    const see = (v: Value) => {
      if (got && !equals(first!, v)) conflict = true;
      if (!got) first = v;
      got = true;
      return conflict;
    };
    const withs = t.withs?.[i];
    if (withs && withs.length) {
      // evaluate `{x with ...}` as an expression capturing its value
      const out: Value[] = [];
      const cap = { t: "capture", inner: t.exprs[i]!, idx: 0, out } as unknown as Term;
      const e: Expr = { k: "term", term: cap, negated: false, with: withs, loc: t.loc ?? { file: "", row: 0, col: 0 } };
      evalExpr(e, f, c, () => see(out[0]!));
    } else evalTerm(t.exprs[i]!, f, c, see);
    if (conflict) throw new RegoError("eval_conflict_error", "template expression produced more than one value", t.loc);
    vals[i] = got ? templateString(first!) : "<undefined>";
    const r = go(i + 1);
    return r;
  };
  return go(0);
}

function templateString(v: Value): string {
  if (typeof v === "string") return v;
  return toRegoString(v);
}

function evalItems(items: Term[], i: number, out: Value[], f: Frame, c: Ctx, k: (vs: Value[]) => boolean, deferred?: number[]): boolean {
  if (i === items.length) {
    if (!deferred) return k(out);
    // vars that other items bound while iterating (e.g. `foo == input.foos[foo]`)
    for (const j of deferred) {
      const t = items[j] as Term & { t: "var" };
      const v = f[t.slot!];
      if (v === undefined) throw new RegoError("rego_unsafe_var_error", `var ${t.name} is unsafe`, t.loc);
      out[j] = v;
    }
    return k(out);
  }
  const t = items[i]!;
  const fv = fastValue(t, f, c);
  if (fv !== NS) {
    if (fv === undefined) return false;
    out[i] = fv;
    return evalItems(items, i + 1, out, f, c, k, deferred);
  }
  if (t.t === "var" && t.slot !== undefined && f[t.slot] === undefined) {
    return evalItems(items, i + 1, out, f, c, k, [...(deferred ?? []), i]);
  }
  return evalTerm(t, f, c, (v) => {
    out[i] = v;
    return evalItems(items, i + 1, out, f, c, k, deferred);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// refs and documents

function evalRef(t: Term & { t: "ref" }, f: Frame, c: Ctx, k: VK): boolean {
  const h = t.head;
  if (h.t === "var") {
    if (h.slot !== undefined) {
      const v = f[h.slot];
      if (v === undefined) throw new RegoError("rego_unsafe_var_error", `var ${h.name} is unsafe`, h.loc);
      return deref(v, t.path, 0, f, c, k);
    }
    if (h.name === "input") return c.input === undefined ? false : deref(c.input, t.path, 0, f, c, k);
    if (h.name === "data") return evalData(c.tree, c.data, t.path, 0, f, c, k);
  }
  return evalTerm(h, f, c, (v) => deref(v, t.path, 0, f, c, k));
}

export function getKey(v: Value, key: Value): Value | undefined {
  if (v instanceof RObject) return v.get(key);
  if (Array.isArray(v)) {
    if (typeof key === "number" && Number.isInteger(key) && key >= 0 && key < v.length) return v[key];
    return undefined;
  }
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

/** Call fn(key, value) for each element in OPA's order; stops when fn returns true. */
export function iterate(v: Value, fn: (key: Value, val: Value) => boolean): boolean {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (fn(i, v[i]!)) return true;
    return false;
  }
  if (v instanceof RObject) {
    for (const key of v.keys()) if (fn(key, v.get(key)!)) return true;
    return false;
  }
  if (v instanceof RSet) {
    for (const x of v.values()) if (fn(x, x)) return true;
  }
  return false;
}

function deref(v: Value, path: Term[], i: number, f: Frame, c: Ctx, k: VK, isData = false): boolean {
  if (i === path.length) return k(v);
  const p = path[i]!;
  if (p.t === "val") {
    if (p.raw !== undefined && Array.isArray(v)) return false; // xs[1.0] is undefined, as in OPA
    // numbers index base data objects by their string form (data.x[2] is data.x["2"])
    const key = isData && typeof p.v === "number" && v instanceof RObject ? String(p.v) : p.v;
    const x = getKey(v, key);
    return x === undefined ? false : deref(x, path, i + 1, f, c, k, isData);
  }
  if (p.t === "var" && p.slot !== undefined) {
    const b = f[p.slot];
    if (b !== undefined) {
      const x = getKey(v, b);
      return x === undefined ? false : deref(x, path, i + 1, f, c, k);
    }
    const s = p.slot;
    const r = iterate(v, (key, val) => {
      c.root.tick();
      f[s] = key;
      const r2 = deref(val, path, i + 1, f, c, k);
      f[s] = undefined;
      return r2;
    });
    return r;
  }
  if (hasUnbound(p, f)) {
    return iterate(v, (key, val) => unify(p, key, f, c, () => deref(val, path, i + 1, f, c, k)));
  }
  return evalTerm(p, f, c, (key) => {
    const x = getKey(v, key);
    return x === undefined ? false : deref(x, path, i + 1, f, c, k);
  });
}

function evalData(node: Node | undefined, base: Value | undefined, path: Term[], i: number, f: Frame, c: Ctx, k: VK): boolean {
  if (node) {
    const ov = c.nodeOverrides?.get(node);
    if (ov !== undefined) return deref(ov, path, i, f, c, k);
    if (node.rules.length || node.defaultRule) {
      if (node.kind === "func") return false;
      // partial set membership with a ground key: evaluate only that key
      const v = evalNodeValue(node, c);
      if (v === undefined) return false;
      return deref(v, path, i, f, c, k);
    }
    if (!node.hasRules) node = undefined;
  }
  if (!node) return base === undefined ? false : deref(base, path, i, f, c, k, true);
  if (i === path.length) {
    const v = fullValue(node, base, c);
    return v === undefined ? false : k(v);
  }
  const p = path[i]!;
  let key: Value | undefined;
  if (p.t === "val") key = p.v;
  else if (p.t === "var" && p.slot !== undefined) key = f[p.slot];
  else if (!hasUnbound(p, f)) {
    return evalTerm(p, f, c, (kv) => evalDataKey(node!, base, kv, path, i, f, c, k));
  }
  if (key !== undefined) return evalDataKey(node, base, key, path, i, f, c, k);
  // iterate over the union of virtual children and base keys
  const keys = new Set<Value>();
  for (const ck of node.children.keys()) keys.add(ck);
  if (base instanceof RObject) for (const bk of base.keys()) keys.add(bk);
  const sorted = [...keys].sort(compare);
  for (const kv of sorted) {
    const r = unify(p, kv, f, c, () => evalDataKey(node!, base, kv, path, i, f, c, k));
    if (r) return true;
  }
  return false;
}

function evalDataKey(node: Node, base: Value | undefined, key: Value, path: Term[], i: number, f: Frame, c: Ctx, k: VK): boolean {
  // numbers index data documents by their string form (data[2] is data["2"])
  if (typeof key === "number" && !Array.isArray(base)) key = String(key);
  const child = typeof key === "string" ? node.children.get(key) : undefined;
  const cb = base === undefined ? undefined : getKey(base, key);
  if (!child && cb === undefined) return false;
  return evalData(child, cb, path, i + 1, f, c, k);
}

/** Value of a node without rules: base data merged with the virtual documents below. */
function fullValue(node: Node, base: Value | undefined, c: Ctx): Value | undefined {
  const ov = c.nodeOverrides?.get(node);
  if (ov !== undefined) return ov;
  if (node.rules.length || node.defaultRule) return node.kind === "func" ? undefined : evalNodeValue(node, c);
  if (!node.hasRules) return base;
  const o = new RObject();
  built.add(o);
  if (base instanceof RObject) base.forEachUnordered((v, kk) => o.set(kk, v));
  for (const [ck, child] of node.children) {
    if (!child.hasRules && !c.nodeOverrides) continue;
    const bv = base instanceof RObject ? base.get(ck) : undefined;
    if (bv !== undefined && (child.rules.length || child.defaultRule)) continue; // base documents win over rules
    if (child.kind === "func") {
      // a function without arguments shows its value in the enclosing document, as in OPA
      if (child.arity === 0) {
        const fv = callFunction(child, [], c);
        if (fv !== undefined) o.set(ck, fv);
      }
      continue;
    }
    const v = fullValue(child, bv, c);
    if (v !== undefined) o.set(ck, v);
    else if (child.hasRules && !(child.rules.length || child.defaultRule)) o.set(ck, new RObject());
  }
  return o;
}

/** The value of a rule node (complete, set or object document); cached per context. */
export function evalNodeValue(node: Node, c: Ctx): Value | undefined {
  const cached = c.cache.get(node);
  if (cached !== undefined) {
    if (cached === IN_PROGRESS)
      throw new RegoError("rego_recursion_error", `rule data.${node.path.join(".")} is recursive`, node.rules[0]?.loc);
    return cached === UNDEF ? undefined : cached;
  }
  c.cache.set(node, IN_PROGRESS);
  let v: Value | undefined;
  try {
    switch (node.kind) {
      case "complete":
        v = evalComplete(node, c);
        break;
      case "set":
      case "object":
        v = evalMulti(node, c);
        break;
      default:
        v = undefined;
    }
  } catch (e) {
    c.cache.delete(node);
    noteRule(e, node);
    throw e;
  }
  c.cache.set(node, v === undefined ? UNDEF : v);
  return v;
}

function evalComplete(node: Node, c: Ctx): Value | undefined {
  let result: Value | undefined;
  let loc: Location | undefined;
  for (const rule of node.rules) {
    const v = evalRuleChain(rule, c, result, (r) => (loc = r));
    if (v !== undefined) result = v;
  }
  void loc;
  if (result === undefined && node.defaultRule) {
    const d = node.defaultRule;
    if (c.root.cover !== undefined) c.root.cover(d.loc);
    const f: Frame = new Array(d.nslots);
    evalTerm(d.value ?? { t: "val", v: true }, f, c, (v) => {
      result = v;
      return true;
    });
  }
  // children of a complete rule node (e.g. `a := 1` and `a.b := 2`) would be a conflict in OPA
  return result;
}

/** Evaluate one rule with its else chain; returns its value (checking conflicts against `prev`). */
function evalRuleChain(rule: CRule, c: Ctx, prev: Value | undefined, _setLoc: (l: Location) => void): Value | undefined {
  let result: Value | undefined = prev;
  for (let r: CRule | undefined = rule; r; r = r.else) {
    const f: Frame = new Array(r.nslots);
    let found = false;
    const cur = r;
    evalBody(r.body, 0, f, c, () => {
      found = true;
      if (c.root.cover !== undefined) c.root.cover(cur.loc);
      return evalTerm(cur.value ?? TRUE, f, c, (v) => {
        if (result !== undefined && !equals(result, v))
          throw new RegoError("eval_conflict_error", "complete rules must not produce multiple outputs", cur.loc);
        result = v;
        return false;
      });
    });
    if (found) return result;
  }
  return result;
}

const TRUE: Term = { t: "val", v: true };

function evalMulti(node: Node, c: Ctx): Value | undefined {
  const isSet = node.kind === "set";
  const out: RSet | RObject = isSet && node.rules.every((r) => r.dyn.length === 0) ? new RSet() : new RObject();
  if (out instanceof RObject) built.add(out);
  for (const rule of node.rules) {
    const f: Frame = new Array(rule.nslots);
    evalBody(rule.body, 0, f, c, () =>
      evalItems(rule.dyn, 0, new Array(rule.dyn.length), f, c, (keys) => {
        if (c.root.cover !== undefined) c.root.cover(rule.loc);
        if (out instanceof RSet) {
          return evalTerm(rule.key!, f, c, (v) => {
            (out as RSet).add(v);
            if ((out as RSet).size > c.root.limits.maxCollection) throw sizeError(c);
            return false;
          });
        }
        const leafTerm = isSet ? rule.key! : (rule.value ?? TRUE);
        return evalTerm(leafTerm, f, c, (v) => {
          insertPath(out as RObject, keys.slice(), v, isSet, rule.loc);
          return false;
        });
      }),
    );
  }
  // ground children below an object node (e.g. `p[x] := 1` and `p.q := 2`, or `p[q] contains r` and `p.b contains 1`)
  if (out instanceof RObject) {
    for (const [ck, child] of node.children) {
      const v = child.rules.length || child.defaultRule ? evalNodeValue(child, c) : fullValue(child, undefined, c);
      if (v === undefined) continue;
      const prev = out.get(ck);
      if (prev instanceof RSet && v instanceof RSet) {
        const u = new RSet();
        prev.forEachUnordered((x) => u.add(x));
        v.forEachUnordered((x) => u.add(x));
        out.set(ck, u);
      } else {
        const isDoc = !(child.rules.length || child.defaultRule) || child.kind === "object" || child.kind === "set";
        insertPath(out, [ck], v, false, node.rules[0]?.loc, isDoc);
      }
    }
  }
  if (!isSet && out.size === 0 && node.defaultRule) {
    // default on a ref-head object rule
  }
  return out;
}

/**
 * Objects built from rule paths (intermediate levels, multi-value documents, package documents). Values of rules are
 * not in this set: writing into them from another rule is a conflict, as in OPA.
 */
const built = new WeakSet<RObject>();

function copyBuilt(o: RObject): RObject {
  const m = new RObject();
  o.forEachUnordered((v, k) => m.set(k, v));
  built.add(m);
  return m;
}

function insertPath(o: RObject, keys: Value[], v: Value, setLeaf: boolean, loc?: Location, vIsDoc = false): void {
  let cur = o;
  for (let i = 0; i < keys.length - 1; i++) {
    const kk = keys[i]!;
    let nx = cur.get(kk);
    if (nx === undefined) {
      nx = new RObject();
      built.add(nx);
      cur.set(kk, nx);
    } else if (!(nx instanceof RObject) || !built.has(nx)) {
      throw new RegoError("eval_conflict_error", "object keys must be unique", loc);
    }
    cur = nx;
  }
  const last = keys[keys.length - 1]!;
  if (setLeaf) {
    let s = cur.get(last);
    if (s === undefined) {
      s = new RSet();
      cur.set(last, s);
    }
    if (!(s instanceof RSet)) throw new RegoError("eval_conflict_error", "object keys must be unique", loc);
    s.add(v);
    return;
  }
  const prev = cur.get(last);
  if (prev !== undefined && !equals(prev, v)) {
    if (prev instanceof RObject && v instanceof RObject && built.has(prev) && (vIsDoc || built.has(v))) {
      // two built documents meet (e.g. `p[x].a := 1` and `p.q.b := 2`): merge into a copy, never into a cached value
      const m = copyBuilt(prev);
      cur.set(last, m);
      v.forEachUnordered((vv, kk) => insertPath(m, [kk], vv, false, loc, vIsDoc || built.has(v)));
      return;
    }
    if (prev instanceof RSet && v instanceof RSet) {
      const u = new RSet();
      prev.forEachUnordered((x) => u.add(x));
      v.forEachUnordered((x) => u.add(x));
      cur.set(last, u);
      return;
    }
    throw new RegoError("eval_conflict_error", "object keys must be unique", loc);
  }
  cur.set(last, v);
}

// ---------------------------------------------------------------------------------------------------------------
// unification

export function hasUnbound(t: Term, f: Frame): boolean {
  switch (t.t) {
    case "var":
      return t.slot !== undefined && f[t.slot] === undefined;
    case "array":
      for (const x of t.items) if (hasUnbound(x, f)) return true;
      return false;
    case "object":
      for (const [, v] of t.items) if (hasUnbound(v, f)) return true;
      return false;
    default:
      return false;
  }
}

function unifyOpt(t: Term | undefined, v: Value, f: Frame, c: Ctx, k: K): boolean {
  return t ? unify(t, v, f, c, k) : k();
}

/** Unify a term (possibly with unbound vars) with a value. */
export function unify(t: Term, v: Value, f: Frame, c: Ctx, k: K): boolean {
  switch (t.t) {
    case "var": {
      if (t.slot === undefined) return evalTerm(t, f, c, (x) => (equals(x, v) ? k() : false));
      const b = f[t.slot];
      if (b !== undefined) return equals(b, v) ? k() : false;
      f[t.slot] = v;
      const r = k();
      f[t.slot] = undefined;
      return r;
    }
    case "val":
      return equals(t.v, v) ? k() : false;
    case "array":
      if (!Array.isArray(v) || v.length !== t.items.length) return false;
      if (!hasUnbound(t, f)) break;
      return unifyArray(t.items, v, 0, f, c, k);
    case "object": {
      if (!(v instanceof RObject) || v.size !== t.items.length) return false;
      if (!hasUnbound(t, f)) break;
      return unifyObject(t.items, v, 0, f, c, k);
    }
    default:
      break;
  }
  return evalTerm(t, f, c, (x) => (equals(x, v) ? k() : false));
}

function unifyArray(items: Term[], v: Value[], i: number, f: Frame, c: Ctx, k: K): boolean {
  if (i === items.length) return k();
  return unify(items[i]!, v[i]!, f, c, () => unifyArray(items, v, i + 1, f, c, k));
}

function unifyObject(items: [Term, Term][], v: RObject, i: number, f: Frame, c: Ctx, k: K): boolean {
  if (i === items.length) return k();
  const [kt, vt] = items[i]!;
  return evalTerm(kt, f, c, (key) => {
    const x = v.get(key);
    if (x === undefined) return false;
    return unify(vt, x, f, c, () => unifyObject(items, v, i + 1, f, c, k));
  });
}

/** `a = b` where either side may contain unbound vars. */
function unifyTerms(a: Term, b: Term, f: Frame, c: Ctx, k: K): boolean {
  const ua = hasUnbound(a, f);
  const ub = hasUnbound(b, f);
  if (!ua) return evalTerm(a, f, c, (v) => unify(b, v, f, c, k));
  if (!ub) return evalTerm(b, f, c, (v) => unify(a, v, f, c, k));
  if (a.t === "array" && b.t === "array") {
    if (a.items.length !== b.items.length) return false;
    const go = (i: number, pending: number[]): boolean => {
      if (i === a.items.length) {
        if (pending.length === 0) return k();
        // retry elements that were both unbound
        const still = pending.filter((j) => hasUnbound(a.items[j]!, f) && hasUnbound(b.items[j]!, f));
        if (still.length === pending.length) throw new RegoError("rego_unsafe_var_error", "unsafe unification", a.loc);
        const goP = (j: number): boolean =>
          j === pending.length ? k() : unifyTerms(a.items[pending[j]!]!, b.items[pending[j]!]!, f, c, () => goP(j + 1));
        return goP(0);
      }
      const x = a.items[i]!;
      const y = b.items[i]!;
      if (hasUnbound(x, f) && hasUnbound(y, f)) return go(i + 1, [...pending, i]);
      return unifyTerms(x, y, f, c, () => go(i + 1, pending));
    };
    return go(0, []);
  }
  if (a.t === "object" && b.t === "object") {
    if (a.items.length !== b.items.length) return false;
    // match keys (keys are ground)
    const go = (i: number): boolean => {
      if (i === a.items.length) return k();
      const [ka, va] = a.items[i]!;
      return evalTerm(ka, f, c, (key) => {
        for (const [kb, vb] of b.items) {
          let match = false;
          evalTerm(kb, f, c, (key2) => {
            match = equals(key, key2);
            return true;
          });
          if (match) return unifyTerms(va, vb, f, c, () => go(i + 1));
        }
        return false;
      });
    };
    return go(0);
  }
  if (a.t === "var" && b.t === "var") throw new RegoError("rego_unsafe_var_error", `var ${a.name} is unsafe`, a.loc);
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// calls

function evalCall(t: Term & { t: "call" }, f: Frame, c: Ctx, k: VK, loc: Location | undefined, exprLevel: boolean): boolean {
  const op = t.op;
  const args = t.args;
  const mock = c.mocks?.get(op);
  if (mock !== undefined) return evalMocked(t, mock, f, c, k);
  if (op.charCodeAt(0) === 100 && op.startsWith("data.")) return callUser(t, op, f, c, k);
  switch (op) {
    case "equal":
    case "neq":
    case "lt":
    case "gt":
    case "lte":
    case "gte":
      if (args.length === 2) {
        const a = fastValue(args[0]!, f, c);
        const b = fastValue(args[1]!, f, c);
        if (a !== NS && b !== NS) return a === undefined || b === undefined ? false : k(compareOp(op, a, b));
        return evalItems(args, 0, new Array(2), f, c, (vs) => k(compareOp(op, vs[0]!, vs[1]!)));
      }
      break;
    case "internal.member_2": {
      const a = fastValue(args[0]!, f, c);
      const b = fastValue(args[1]!, f, c);
      if (a !== NS && b !== NS) return a === undefined || b === undefined ? false : k(member(a, b));
      return evalTerm(args[0]!, f, c, (x) => evalTerm(args[1]!, f, c, (coll) => k(member(x, coll))));
    }
    case "internal.member_3":
      return evalTerm(args[0]!, f, c, (key) =>
        evalTerm(args[1]!, f, c, (x) => evalTerm(args[2]!, f, c, (coll) => {
          const got = getKey(coll, key);
          return k(got !== undefined && !(coll instanceof RSet && false) && equals(got, x));
        })),
      );
    case "print":
    case "internal.print":
      return evalPrint(args, f, c, () => k(true));
  }
  const def = c.root.builtins.get(op);
  if (!def) throw new RegoError("eval_builtin_error", `undefined function ${op}`, loc);
  const ar = def.decl.variadic ? args.length : def.decl.args.length;
  const vals = new Array<Value>(ar);
  void exprLevel;
  return evalItems(args.length === ar ? args : args.slice(0, ar), 0, vals, f, c, (vs) => {
    if (def.relation) {
      let res: Iterable<Value>;
      try {
        res = def.fn(vs, c.root);
        for (const r of res) {
          const stop = args.length > ar ? unify(args[ar]!, r, f, c, () => k(true)) : k(r);
          if (stop) return true;
        }
      } catch (e) {
        return builtinFailed(e, c, loc, def.name);
      }
      return false;
    }
    let r: Value | undefined;
    const root = c.root;
    const last = def.nondeterministic ? undefined : root.memo?.get(def);
    if (last && sameArgs(last.args, vs)) r = last.result;
    else {
      try {
        r = def.fn(vs, root);
      } catch (e) {
        return builtinFailed(e, c, loc, def.name);
      }
      if (!def.nondeterministic) (root.memo ??= new Map()).set(def, { args: vs.slice(), result: r });
    }
    if (r === undefined) return false;
    if (args.length > ar) return unify(args[ar]!, r, f, c, () => k(true));
    return k(r);
  });
}

/**
 * A builtin threw. Budget, cancel and other engine errors always propagate; a builtin's own failure makes the call
 * undefined (OPA's default) or, under strict builtin errors, raises RegoBuiltinError at the call's location. Only
 * reached on failure: the successful call path allocates nothing for this.
 */
function builtinFailed(e: unknown, c: Ctx, loc: Location | undefined, name: string): boolean {
  if (e instanceof RegoError) throw e;
  if (!c.root.strict) return false;
  const be =
    e instanceof BuiltinErrorClass
      ? e
      : new BuiltinError("eval_builtin_error", `${name}: ${(e as Error)?.message ?? String(e)}`);
  throw new RegoBuiltinError(be.code, be.message, loc, name);
}

/** Record the innermost rule or function an evaluation error left (error path only). */
function noteRule(e: unknown, node: Node): void {
  if (e instanceof RegoError && e.rule === undefined) e.rule = "data." + node.path.join(".");
}

function compareOp(op: string, a: Value, b: Value): boolean {
  switch (op) {
    case "equal":
      return equals(a, b);
    case "neq":
      return !equals(a, b);
    case "lt":
      return compare(a, b) < 0;
    case "gt":
      return compare(a, b) > 0;
    case "lte":
      return compare(a, b) <= 0;
    default:
      return compare(a, b) >= 0;
  }
}

function member(x: Value, coll: Value): boolean {
  if (coll instanceof RSet) return coll.has(x);
  if (Array.isArray(coll)) {
    for (const y of coll) if (equals(x, y)) return true;
    return false;
  }
  if (coll instanceof RObject) {
    let found = false;
    coll.forEachUnordered((v) => {
      if (!found && equals(v, x)) found = true;
    });
    return found;
  }
  return false;
}

function evalPrint(args: Term[], f: Frame, c: Ctx, k: K): boolean {
  const parts: string[] = [];
  for (const a of args) {
    let got: Value | undefined;
    try {
      evalTerm(a, f, c, (v) => {
        got = v;
        return true;
      });
    } catch (e) {
      // OPA evaluates print operands as comprehensions: under strict builtin errors their errors surface
      if (c.root.strict) throw e;
      got = undefined;
    }
    parts.push(got === undefined ? "<undefined>" : typeof got === "string" ? got : toJSONString(got));
  }
  c.root.printed.push(parts.join(" "));
  return k();
}

function evalMocked(t: Term & { t: "call" }, mock: Term | Value, f: Frame, c: Ctx, k: VK): boolean {
  if (isTerm(mock)) {
    // replacement function
    // arguments are evaluated in the caller's context; the replacement runs without function mocks (a mock never
    // calls another mock, as in OPA)
    const c2 = c.derive();
    c2.mocks = undefined;
    const op = (mock as { op: string }).op;
    const def = t.op.startsWith("data.") ? undefined : c.root.builtins.get(t.op);
    const ar = def ? (def.decl.variadic ? t.args.length : def.decl.args.length) : (nodeArity(t.op, c) ?? t.args.length);
    const ins = t.args.length > ar ? t.args.slice(0, ar) : t.args;
    return evalItems(ins, 0, new Array(ins.length), f, c, (vs) => {
      const repl = { t: "call", op, args: vs.map((v) => ({ t: "val", v }) as Term), loc: t.loc } as Term & { t: "call" };
      return evalCall(repl, f, c2, (r) => (t.args.length > ar ? unify(t.args[ar]!, r, f, c, () => k(true)) : k(r)), t.loc, false);
    });
  }
  // constant value: the call returns it regardless of arguments (arguments are still evaluated)
  const def = t.op.startsWith("data.") ? undefined : c.root.builtins.get(t.op);
  const ar = def ? def.decl.args.length : nodeArity(t.op, c);
  const ins = ar !== undefined && t.args.length > ar ? t.args.slice(0, ar) : t.args;
  return evalItems(ins, 0, new Array(ins.length), f, c, () => {
    if (ar !== undefined && t.args.length > ar) return unify(t.args[ar]!, mock as Value, f, c, () => k(true));
    return k(mock as Value);
  });
}

function isTerm(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof RObject) && !(x instanceof RSet) && "t" in x;
}

function nodeArity(op: string, c: Ctx): number | undefined {
  const n = lookupPath(c.tree, op.slice(5).split("."));
  return n?.arity;
}

function lookupPath(root: Node, path: string[]): Node | undefined {
  let n: Node | undefined = root;
  for (const s of path) {
    n = n.children.get(s);
    if (!n) return undefined;
  }
  return n;
}

function callUser(t: Term & { t: "call" }, op: string, f: Frame, c: Ctx, k: VK): boolean {
  let node = (t as { _node?: Node })._node;
  if (!node) {
    node = lookupPath(c.tree, op.slice(5).split("."));
    if (!node) throw new RegoError("eval_builtin_error", `undefined function ${op}`, t.loc);
    (t as { _node?: Node })._node = node;
  }
  const ar = node.arity ?? 0;
  const args = t.args;
  const n = node;
  return evalItems(args.length > ar ? args.slice(0, ar) : args, 0, new Array(ar), f, c, (vs) => {
    const r = callFunction(n, vs, c, t.loc);
    if (r === undefined) return false;
    if (args.length > ar) return unify(args[ar]!, r, f, c, () => k(true));
    return k(r);
  });
}

function callFunction(node: Node, vals: Value[], c: Ctx, loc?: Location): Value | undefined {
  const root = c.root;
  if (++root.depth > root.limits.maxDepth) {
    root.depth = 0;
    throw new RegoError("eval_budget_error", `function call depth exceeds ${root.limits.maxDepth}`, loc);
  }
  try {
    let result: Value | undefined;
    for (const rule of node.rules) {
      for (let r: CRule | undefined = rule; r; r = r.else) {
        const fr: Frame = new Array(r.nslots);
        let found = false;
        const cur = r;
        unifyArray(r.args!, vals, 0, fr, c, () =>
          evalBody(cur.body, 0, fr, c, () => {
            found = true;
            if (c.root.cover !== undefined) c.root.cover(cur.loc);
            return evalTerm(cur.value ?? TRUE, fr, c, (v) => {
              if (result !== undefined && !equals(result, v))
                throw new RegoError("eval_conflict_error", "functions must not produce multiple outputs for same inputs", cur.loc);
              result = v;
              return false;
            });
          }),
        );
        if (found) break;
      }
    }
    if (result === undefined && node.defaultRule) {
      const d = node.defaultRule;
      if (root.cover !== undefined) root.cover(d.loc);
      const fr: Frame = new Array(d.nslots);
      evalTerm(d.value ?? TRUE, fr, c, (v) => {
        result = v;
        return true;
      });
    }
    return result;
  } catch (e) {
    noteRule(e, node);
    throw e;
  } finally {
    root.depth--;
  }
}

export { isInteger };

function sameArgs(a: Value[], b: Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
