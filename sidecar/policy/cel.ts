// CEL for `custom` rules and soft_limits `measure` expressions (@bufbuild/cel). Every expression is parsed, statically
// checked and planned once at load; evaluation only binds variables. @bufbuild/cel 0.6's checker does not handle
// calls yet, so load-time checking is ours: known variables and functions, literal operand types, the result type,
// and bounds on size (length, AST nodes, comprehension nesting) that bound the cost of one evaluation.
import {
  celEnv,
  celFunc,
  celList,
  celMap,
  CelScalar,
  isCelError,
  mapType,
  objectType,
  parse,
  plan,
  type CelResult,
} from "@bufbuild/cel";
import { timestampFromDate, TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import type { Intent } from "../../protocol/index.ts";

/** Bounds that make one evaluation's cost linear in the intent's size (itself bounded by the request body limit):
 * comprehensions (all/exists/map/filter) may not nest, since nesting two over the same list is quadratic. */
export const CEL_LIMITS = { maxLength: 2048, maxNodes: 400, maxComprehensionDepth: 1 } as const;

const VARIABLES = {
  intent: mapType(CelScalar.STRING, CelScalar.DYN),
  agent: CelScalar.STRING,
  now: objectType(TimestampSchema),
};
/** `double(string)` as the CEL spec defines it: a conversion error for text that is not a number. @bufbuild/cel 0.6
 * uses JavaScript's Number(), which turns "lots" into NaN and "" into 0, so `double(x) > 50000.0` would quietly be
 * false and a hold rule would let the intent through. Functions given to celEnv override the standard overloads. */
const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const strictDouble = celFunc("double", [CelScalar.STRING], CelScalar.DOUBLE, (s: string) => {
  const n = DECIMAL.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n)) throw new Error(`double: cannot convert ${JSON.stringify(s.slice(0, 40))} to a number`);
  return n;
});
const env = celEnv({ variables: VARIABLES, funcs: [strictDouble] });

// Operators the planner handles itself, plus everything the standard library registers.
const KNOWN_FUNCS = new Set<string>([
  "_&&_",
  "_||_",
  "_?_:_",
  "_[_]",
  "@not_strictly_false",
  "not_strictly_false",
  "@in",
  "_in_",
]);
for (const f of env.funcs) KNOWN_FUNCS.add((f as { name: string }).name);

export class CelCompileError extends Error {
  /** 0-based character offset into the expression, when known. */
  readonly index: number;
  constructor(message: string, index = 0) {
    super(message);
    this.index = index;
  }
}

type T =
  | "bool"
  | "int"
  | "uint"
  | "double"
  | "string"
  | "bytes"
  | "null"
  | "list"
  | "map"
  | "timestamp"
  | "duration"
  | "type"
  | "dyn";

const FUNC_RESULT: Record<string, T> = {
  "_==_": "bool",
  "_!=_": "bool",
  "_<_": "bool",
  "_<=_": "bool",
  "_>_": "bool",
  "_>=_": "bool",
  "_&&_": "bool",
  "_||_": "bool",
  "!_": "bool",
  "@in": "bool",
  contains: "bool",
  startsWith: "bool",
  endsWith: "bool",
  matches: "bool",
  "@not_strictly_false": "bool",
  size: "int",
  int: "int",
  uint: "uint",
  double: "double",
  string: "string",
  bytes: "bytes",
  bool: "bool",
  timestamp: "timestamp",
  duration: "duration",
  type: "type",
  dyn: "dyn",
  getSeconds: "int",
  getMinutes: "int",
  getHours: "int",
  getMilliseconds: "int",
  getFullYear: "int",
  getMonth: "int",
  getDate: "int",
  getDayOfMonth: "int",
  getDayOfWeek: "int",
  getDayOfYear: "int",
};
const NUMERIC = new Set<T>(["int", "uint", "double"]);

interface Walk {
  nodes: number;
  offsets: Map<bigint, number>;
}

function typeOf(e: Expr, scope: Set<string>, depth: number, w: Walk): T {
  if (++w.nodes > CEL_LIMITS.maxNodes)
    throw new CelCompileError(`is too complex (more than ${CEL_LIMITS.maxNodes} nodes); split it into several rules`);
  const at = w.offsets.get(e.id) ?? 0;
  const k = e.exprKind;
  switch (k.case) {
    case "constExpr": {
      const c = k.value.constantKind.case;
      return c === "boolValue"
        ? "bool"
        : c === "int64Value"
          ? "int"
          : c === "uint64Value"
            ? "uint"
            : c === "doubleValue"
              ? "double"
              : c === "stringValue"
                ? "string"
                : c === "bytesValue"
                  ? "bytes"
                  : c === "nullValue"
                    ? "null"
                    : "dyn";
    }
    case "identExpr": {
      const n = k.value.name;
      if (scope.has(n)) return "dyn";
      if (n === "intent") return "map";
      if (n === "agent") return "string";
      if (n === "now") return "timestamp";
      if (["int", "uint", "double", "string", "bool", "bytes", "list", "map", "null_type", "type"].includes(n))
        return "type";
      throw new CelCompileError(`undeclared reference to "${n}"; the variables are intent, agent and now`, at);
    }
    case "selectExpr": {
      const t = typeOf(k.value.operand!, scope, depth, w);
      if (t !== "map" && t !== "dyn")
        throw new CelCompileError(`cannot select field "${k.value.field}" from a ${t}`, at);
      return k.value.testOnly ? "bool" : "dyn";
    }
    case "listExpr":
      for (const el of k.value.elements) typeOf(el, scope, depth, w);
      return "list";
    case "structExpr":
      for (const en of k.value.entries) {
        if (en.keyKind.case === "mapKey") typeOf(en.keyKind.value, scope, depth, w);
        if (en.value) typeOf(en.value, scope, depth, w);
      }
      return "map";
    case "comprehensionExpr": {
      const c = k.value;
      if (depth + 1 > CEL_LIMITS.maxComprehensionDepth) {
        throw new CelCompileError(
          `nests comprehensions (all/exists/map/filter inside another); their cost grows with the square of the input, so split the rule`,
          at,
        );
      }
      typeOf(c.iterRange!, scope, depth, w);
      const inner = new Set(scope);
      for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) inner.add(v);
      typeOf(c.accuInit!, inner, depth + 1, w);
      typeOf(c.loopCondition!, inner, depth + 1, w);
      typeOf(c.loopStep!, inner, depth + 1, w);
      return typeOf(c.result!, inner, depth + 1, w);
    }
    case "callExpr": {
      const fn = k.value.function;
      if (!KNOWN_FUNCS.has(fn)) throw new CelCompileError(`unknown function "${fn}"`, at);
      const args = k.value.args.map((a) => typeOf(a, scope, depth, w));
      if (k.value.target) args.unshift(typeOf(k.value.target, scope, depth, w));
      if (args.length === 2 && ["_+_", "_-_", "_*_", "_/_", "_%_", "_<_", "_<=_", "_>_", "_>=_"].includes(fn)) {
        const [a, b] = args as [T, T];
        const ok =
          a === "dyn" ||
          b === "dyn" ||
          a === b ||
          (NUMERIC.has(a) && NUMERIC.has(b) && !["_+_", "_-_", "_*_", "_/_", "_%_"].includes(fn)) ||
          (fn === "_+_" && ((a === "timestamp" && b === "duration") || (a === "duration" && b === "timestamp"))) ||
          (fn === "_-_" && a === "timestamp" && b === "duration");
        if (!ok)
          throw new CelCompileError(
            `no matching overload for ${fn.replace(/_/g, " ").trim()} applied to (${a}, ${b}); convert with int(), double() or string()`,
            at,
          );
        if (fn === "_-_" && a === "timestamp" && b === "timestamp") return "duration";
        if (["_<_", "_<=_", "_>_", "_>=_"].includes(fn)) return "bool";
        return a === "dyn" ? (b === "dyn" ? "dyn" : b) : a;
      }
      if ((fn === "_&&_" || fn === "_||_" || fn === "!_") && args.some((t) => t !== "bool" && t !== "dyn")) {
        throw new CelCompileError(
          `${fn === "!_" ? "!" : fn.slice(1, 3)} needs boolean operands, got (${args.join(", ")})`,
          at,
        );
      }
      if (fn === "_?_:_") return args[1] === args[2] ? args[1]! : "dyn";
      return FUNC_RESULT[fn] ?? "dyn";
    }
    default:
      throw new CelCompileError("unsupported expression", at);
  }
}

export type CelBindings = { intent: unknown; agent: string; now: ReturnType<typeof timestampFromDate> };
export type CelProgram = (bindings: CelBindings) => CelResult;

/** Parses, checks and plans an expression whose result must be `want`. Throws CelCompileError with an offset. */
export function compileCel(source: string, want: "bool" | "number"): CelProgram {
  if (source.length > CEL_LIMITS.maxLength)
    throw new CelCompileError(`is ${source.length} characters; the limit is ${CEL_LIMITS.maxLength}`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /^<input>:(\d+):(\d+):\s*(.*)$/s.exec(msg);
    const index = m ? lineColToIndex(source, Number(m[1]), Number(m[2])) : 0;
    throw new CelCompileError(`CEL syntax error: ${m ? m[3] : msg}`, index);
  }
  const offsets = new Map<bigint, number>();
  const info = (parsed as { sourceInfo?: { positions?: Record<string, number> } }).sourceInfo;
  for (const [id, off] of Object.entries(info?.positions ?? {})) offsets.set(BigInt(id), off);
  const t = typeOf(parsed.expr, new Set(), 0, { nodes: 0, offsets });
  if (want === "bool" && t !== "bool" && t !== "dyn")
    throw new CelCompileError(`must be a boolean expression, but gives ${t}`);
  if (want === "number" && !NUMERIC.has(t) && t !== "dyn")
    throw new CelCompileError(`must give a number, but gives ${t}; wrap it in double(...)`);
  return plan(env, parsed) as unknown as CelProgram;
}

function lineColToIndex(src: string, line: number, col: number): number {
  const lines = src.split("\n");
  let idx = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) idx += lines[i]!.length + 1;
  return Math.max(0, idx + col - 1);
}

/** A JSON object seen as a CEL map, converting each member on first access and caching it. @bufbuild/cel would
 * otherwise rebuild a Map of every object on every access (`intent.params.x` twice = two conversions of `intent`
 * and of `params`); converting eagerly instead would cost the whole intent even when a rule reads one field. */
class LazyRecord implements ReadonlyMap<string, unknown> {
  private readonly cache = new Map<string, unknown>();
  constructor(private readonly obj: Record<string, unknown>) {}
  get(key: unknown): unknown {
    if (typeof key !== "string" || !Object.hasOwn(this.obj, key)) return undefined;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = lazyCel(this.obj[key]);
      this.cache.set(key, v);
    }
    return v;
  }
  has(key: unknown): boolean {
    return typeof key === "string" && Object.hasOwn(this.obj, key);
  }
  get size(): number {
    return Object.keys(this.obj).length;
  }
  keys(): MapIterator<string> {
    return Object.keys(this.obj)[Symbol.iterator]() as MapIterator<string>;
  }
  *entries(): MapIterator<[string, unknown]> {
    for (const k of Object.keys(this.obj)) yield [k, this.get(k)];
  }
  *values(): MapIterator<unknown> {
    for (const k of Object.keys(this.obj)) yield this.get(k);
  }
  forEach(cb: (value: unknown, key: string, map: ReadonlyMap<string, unknown>) => void, thisArg?: unknown): void {
    for (const k of Object.keys(this.obj)) cb.call(thisArg, this.get(k), k, this);
  }
  [Symbol.iterator](): MapIterator<[string, unknown]> {
    return this.entries();
  }
}

function lazyCel(v: unknown): unknown {
  if (Array.isArray(v)) return celList(v.map(lazyCel) as never);
  if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype)
    return celMap(new LazyRecord(v as Record<string, unknown>) as never);
  return v;
}

/** Bindings for one evaluation: the intent as a map (agent, action, params, context), the agent, and `now`. */
export function celBindings(intent: Intent, now: Date): CelBindings {
  return {
    // `cost` only when declared, so `has(intent.cost)` tells whether the agent priced the action
    intent: lazyCel(
      intent.cost === undefined
        ? { agent: intent.agent, action: intent.action, params: intent.params, context: intent.context }
        : { agent: intent.agent, action: intent.action, params: intent.params, context: intent.context, cost: intent.cost },
    ),
    agent: intent.agent,
    now: timestampFromDate(now),
  };
}

export function celErrorMessage(r: unknown): string | undefined {
  return isCelError(r) ? r.message : undefined;
}

/** Evaluates a boolean program: true/false, or an error string (non-bool results are errors). */
export function evalBool(p: CelProgram, b: CelBindings): boolean | { error: string } {
  let r: CelResult;
  try {
    r = p(b);
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (isCelError(r)) return { error: r.message };
  if (typeof r !== "boolean") return { error: `expression gave ${typeof r}, not a boolean` };
  return r;
}

/** soft_limits `measure`: `count` (always 1) or a CEL expression giving a number. Validated at load; throws
 * CelCompileError. The returned function throws if the expression fails or gives a non-finite number. */
export function compileMeasure(expr: string): (intent: Intent, env: { now: Date }) => number {
  if (expr.trim() === "count") return () => 1;
  const p = compileCel(expr, "number");
  return (intent, env) => {
    const r = p(celBindings(intent, env.now));
    if (isCelError(r)) throw new Error(`measure failed: ${r.message}`);
    const n =
      typeof r === "bigint"
        ? Number(r)
        : typeof r === "number"
          ? r
          : typeof r === "object" && r && "value" in r
            ? Number((r as { value: bigint }).value)
            : NaN;
    if (!Number.isFinite(n)) throw new Error(`measure gave ${String(r)}, not a finite number`);
    return n;
  };
}

/** When a `when` gate only compares the action (`intent.action == "x"`, `intent.action in ["x", "y"]`, or `||` of
 * those), the set of actions it admits, so the rule can be skipped without a CEL evaluation. Otherwise undefined. */
export function actionGate(source: string): Set<string> | undefined {
  let expr: Expr;
  try {
    expr = parse(source).expr;
  } catch {
    return undefined;
  }
  const isAction = (e: Expr | undefined) =>
    e?.exprKind.case === "selectExpr" &&
    !e.exprKind.value.testOnly &&
    e.exprKind.value.field === "action" &&
    e.exprKind.value.operand?.exprKind.case === "identExpr" &&
    e.exprKind.value.operand.exprKind.value.name === "intent";
  const str = (e: Expr | undefined) =>
    e?.exprKind.case === "constExpr" && e.exprKind.value.constantKind.case === "stringValue"
      ? e.exprKind.value.constantKind.value
      : undefined;
  const walk = (e: Expr): string[] | undefined => {
    if (e.exprKind.case !== "callExpr") return undefined;
    const { function: fn, args } = e.exprKind.value;
    if (fn === "_==_" && args.length === 2) {
      const [a, b] = args as [Expr, Expr];
      const s = isAction(a) ? str(b) : isAction(b) ? str(a) : undefined;
      return s === undefined ? undefined : [s];
    }
    if (fn === "@in" && args.length === 2 && isAction(args[0]) && args[1]!.exprKind.case === "listExpr") {
      const xs = args[1]!.exprKind.value.elements.map(str);
      return xs.every((x) => x !== undefined) ? (xs as string[]) : undefined;
    }
    if (fn === "_||_") {
      const parts = args.map(walk);
      return parts.every((p) => p !== undefined) ? (parts.flat() as string[]) : undefined;
    }
    return undefined;
  };
  const r = walk(expr);
  return r ? new Set(r) : undefined;
}
