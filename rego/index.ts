// Public API of the Rego engine: compile modules once, prepare queries, evaluate many times.
import type { Expr, Module, Term } from "./ast.ts";
import { builtins as registry } from "./builtins/index.ts";
import type { BuiltinDef } from "./builtins/api.ts";
import { T } from "./builtins/api.ts";
import { Compiler, INTERNAL_CALLS, setArityLookup, type Node } from "./compile.ts";
import { RegoError, RegoErrors, type Location } from "./errors.ts";
import { Ctx, DEFAULT_LIMITS, evalBody, evalNodeValue, evalTerm, Root, type Limits } from "./eval.ts";
import { parseModule, parseQuery, type RegoVersion } from "./parser.ts";
import { FloatLit, fromJSON, RObject, RSet, type Value } from "./value.ts";

export { RegoError, RegoErrors, RegoBuiltinError, errorsToJSON } from "./errors.ts";
export type { Value } from "./value.ts";
export type { RegoVersion } from "./parser.ts";

export interface ModuleSource {
  path: string;
  source: string;
  /** per-module override of the compile-wide version */
  regoVersion?: RegoVersion;
}

export interface CompileOptions {
  regoVersion?: RegoVersion;
  strictBuiltinErrors?: boolean;
  /** extra or replacement builtins (tests, the sidecar) */
  builtins?: Map<string, BuiltinDef>;
  limits?: Partial<Limits>;
}

export interface EvalOptions {
  /** input document: a Value, or plain JSON (converted) */
  input?: unknown;
  /** base data document: a Value or plain JSON */
  data?: unknown;
  /** evaluation time (ns since epoch) for time.now_ns; default now */
  nowNs?: bigint;
  /** evaluation time as a Date (used when nowNs is not given) */
  now?: Date;
  /**
   * OPA's StrictBuiltinErrors: a failing builtin call throws RegoBuiltinError (wherever it happens: inside `not`,
   * comprehensions, `every`, functions, `with`, default and else rules, print arguments) instead of being undefined.
   * Default: the compile option, else false (OPA's default semantics).
   */
  strictBuiltinErrors?: boolean;
  seed?: number;
  /** collects print() output */
  print?: (line: string) => void;
  /** coverage hook: called with the location of each expression evaluated and each rule head that succeeded */
  cover?: (loc: Location) => void;
}

export interface ResultRow {
  bindings: Map<string, Value>;
  expressions: Value[];
}

/** Evaluation-internal builtins, declared so the compiler can check arity. */
const internalDecls: [string, number][] = [
  ["equal", 2],
  ["neq", 2],
  ["lt", 2],
  ["gt", 2],
  ["lte", 2],
  ["gte", 2],
];

function builtinTable(extra?: Map<string, BuiltinDef>): Map<string, BuiltinDef> {
  const m = new Map(registry);
  for (const [name, n] of internalDecls) {
    if (!m.has(name))
      m.set(name, { name, decl: { args: new Array(n).fill(T.any), result: T.boolean }, fn: () => undefined });
  }
  for (const name of ["print", "internal.print"]) {
    if (!m.has(name)) m.set(name, { name, decl: { args: [], variadic: T.any }, fn: () => true });
  }
  if (extra) for (const [k, v] of extra) m.set(k, v);
  return m;
}

export class CompiledPolicy {
  readonly builtins: Map<string, BuiltinDef>;
  readonly limits: Limits;
  constructor(
    readonly compiler: Compiler,
    readonly modules: Module[],
    readonly opts: CompileOptions,
    builtins: Map<string, BuiltinDef>,
  ) {
    this.builtins = builtins;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  get tree(): Node {
    return this.compiler.root;
  }

  /** Prepare a query (e.g. `data.pkg.allow` or `x := data.pkg.p[_]`) for repeated evaluation. */
  prepare(query: string): PreparedQuery {
    let body: Expr[];
    try {
      body = parseQuery(query, this.opts.regoVersion ?? "v1");
    } catch (e) {
      if (e instanceof RegoError) throw new RegoErrors([e]);
      throw e;
    }
    withArity(this, () => undefined);
    const errsBefore = this.compiler.errors.length;
    let q: ReturnType<Compiler["compileQuery"]>;
    try {
      q = withArity(this, () => this.compiler.compileQuery(body));
    } catch (e) {
      if (e instanceof RegoError) {
        const extra = this.compiler.errors.splice(errsBefore);
        throw new RegoErrors([e, ...extra]);
      }
      throw e;
    }
    return new PreparedQuery(this, q.body, q.nslots, q.vars);
  }

  /** Root state for one evaluation. */
  newRoot(o: EvalOptions): Root {
    const nowNs = o.nowNs ?? BigInt(o.now ? o.now.getTime() : Date.now()) * 1_000_000n;
    const r = new Root(o.strictBuiltinErrors ?? this.opts.strictBuiltinErrors ?? false, nowNs, this.builtins, this.limits, o.seed ?? 0);
    if (o.cover) r.cover = o.cover;
    return r;
  }

  newCtx(o: EvalOptions): Ctx {
    const root = this.newRoot(o);
    const input = o.input === undefined ? undefined : toValue(o.input, this.limits.maxInputValues);
    const data = o.data === undefined ? new RObject() : toValue(o.data, this.limits.maxInputValues);
    return new Ctx(root, this.compiler.root, input, data);
  }

  /**
   * Evaluate one document by path (e.g. ["nemoclaw","network","allow"]) without a query: the cheap path the
   * sidecar uses for allow/deny/deny_reason. Returns undefined when the document is undefined.
   */
  evalPath(path: string[], o: EvalOptions = {}, ctx?: Ctx): Value | undefined {
    const c = ctx ?? guardStack(() => this.newCtx(o));
    let out: Value | undefined;
    const t: Term = { t: "ref", head: { t: "var", name: "data" }, path: path.map((s) => ({ t: "val", v: s }) as Term) };
    guardStack(() =>
      evalTerm(t, [], c, (v) => {
        out = v;
        return true;
      }),
    );
    flushPrint(c, o);
    return out;
  }

  /** allow / deny / deny_reason of a package in one evaluation (shared rule cache). */
  decide(pkg: string[], o: EvalOptions = {}): { allow: Value | undefined; deny: Value | undefined; deny_reason: Value | undefined } {
    const c = guardStack(() => this.newCtx(o));
    return {
      allow: this.evalPath([...pkg, "allow"], o, c),
      deny: this.evalPath([...pkg, "deny"], o, c),
      deny_reason: this.evalPath([...pkg, "deny_reason"], o, c),
    };
  }

  /** Names of every rule path (for `test_*` discovery). */
  rulePaths(): { path: string[]; node: Node }[] {
    const out: { path: string[]; node: Node }[] = [];
    const walk = (n: Node) => {
      if (n.rules.length || n.defaultRule) out.push({ path: n.path, node: n });
      for (const c of n.children.values()) walk(c);
    };
    walk(this.compiler.root);
    return out;
  }

  evalNode(node: Node, o: EvalOptions = {}): Value | undefined {
    const c = guardStack(() => this.newCtx(o));
    const v = guardStack(() => evalNodeValue(node, c));
    flushPrint(c, o);
    return v;
  }
}

/** Deeply nested input or data can exhaust the JS stack: report it as a budget error, never crash. */
function guardStack<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message))
      throw new RegoError("eval_budget_error", "evaluation exceeded the maximum nesting depth (input, data or recursion too deep)");
    throw e;
  }
}

function flushPrint(c: Ctx, o: EvalOptions): void {
  if (o.print) for (const l of c.root.printed) o.print(l);
  c.root.printed.length = 0;
}

/** Convert plain JSON input/data into Values, rejecting documents with more than `limit` values. */
function toValue(x: unknown, limit: number): Value {
  let budget = limit;
  const conv = (j: unknown): Value => {
    if (--budget < 0) throw new RegoError("input_limit_error", `document exceeds ${limit} values`);
    if (j === null || j === undefined) return null;
    const t = typeof j;
    if (t !== "object") return t === "bigint" || t === "number" ? fromJSON(j) : (j as Value);
    if (Array.isArray(j)) {
      const out: Value[] = new Array(j.length);
      for (let i = 0; i < j.length; i++) out[i] = conv(j[i]);
      return out;
    }
    if (j instanceof RObject || j instanceof RSet || j instanceof FloatLit) return j;
    const o = new RObject();
    for (const k in j as Record<string, unknown>) {
      if (Object.prototype.hasOwnProperty.call(j, k)) o.prim.set(k, conv((j as Record<string, unknown>)[k]));
    }
    return o;
  };
  return conv(x);
}

function withArity<T>(p: CompiledPolicy, fn: () => T): T {
  setArityLookup((op, isUser) => {
    if (isUser) {
      let n: Node | undefined = p.compiler.root;
      for (const s of op.slice(5).split(".")) {
        n = n?.children.get(s);
      }
      return n?.arity;
    }
    if (INTERNAL_CALLS[op] !== undefined && INTERNAL_CALLS[op]! >= 0 && op !== "eq" && op !== "assign") return INTERNAL_CALLS[op];
    const d = p.builtins.get(op);
    if (!d || d.decl.variadic) return undefined;
    return d.decl.args.length;
  });
  return fn();
}

export class PreparedQuery {
  constructor(
    readonly policy: CompiledPolicy,
    readonly body: Expr[],
    readonly nslots: number,
    readonly vars: Map<string, number>,
  ) {}

  private check: boolean | undefined = undefined;

  /** Evaluate: one row per solution (bindings of the query's named vars and the value of each expression). */
  eval(o: EvalOptions = {}): ResultRow[] {
    const c = guardStack(() => this.policy.newCtx(o));
    const f: (Value | undefined)[] = new Array(this.nslots);
    const rows: ResultRow[] = [];
    const exprVals: Value[] = new Array(this.body.length);
    // OPA's rewriteQueryToCaptureValue: with several expressions or iteration, a captured `false` fails the query
    const check = (this.check ??= this.body.length > 1 || this.body.some(exprIterates));
    const body = this.body.map((e, i) => captureExpr(e, i, exprVals, check, this.policy));
    try {
      guardStack(() => evalBody(body, 0, f, c, () => {
        const bindings = new Map<string, Value>();
        for (const [name, slot] of this.vars) {
          const v = f[slot];
          if (v !== undefined) bindings.set(name, v);
        }
        rows.push({ bindings, expressions: exprVals.slice() });
        return false;
      }));
    } finally {
      flushPrint(c, o);
    }
    return rows;
  }
}

/**
 * Query expressions record their value like OPA's captured query terms: a term's value, and a function call's
 * result (`1 + 2` is 3, `1 == 2` is false); assignments, unifications, `some`, `every`, `not` and calls given their
 * output argument are `true`. A captured `false` fails the query only when `check` (several expressions, or one
 * that iterates), as in OPA.
 */
function captureExpr(e: Expr, i: number, out: Value[], check: boolean, policy: CompiledPolicy): Expr {
  if (e.k !== "term" || e.negated) {
    return wrapTrue(e, i, out);
  }
  const t = e.term;
  if (t.t === "call") {
    const ar = capturedArity(t.op, policy);
    if (ar === undefined || ar !== t.args.length) return wrapTrue(e, i, out);
  }
  return { ...e, k: "term", term: { t: "capture", inner: t, idx: i, out, check } as unknown as Term } as Expr;
}

/** Arity of a call whose result a query captures; undefined for eq/assign, print and variadic builtins. */
function capturedArity(op: string, policy: CompiledPolicy): number | undefined {
  if (op === "eq" || op === "assign" || op === "print" || op === "internal.print") return undefined;
  if (op.startsWith("data.")) {
    let n: Node | undefined = policy.compiler.root;
    for (const s of op.slice(5).split(".")) n = n?.children.get(s);
    return n?.kind === "func" ? n.arity : undefined;
  }
  const internal = INTERNAL_CALLS[op];
  if (internal !== undefined) return internal >= 0 ? internal : undefined;
  const d = policy.builtins.get(op);
  if (!d || d.decl.variadic) return undefined;
  return d.decl.args.length;
}

/** OPA's `iteration`: a ref with a variable in its path, or a relation (walk), outside comprehensions. */
function exprIterates(e: Expr): boolean {
  const term = (t: Term): boolean => {
    switch (t.t) {
      case "ref":
        return t.path.some((p) => p.t === "var") || term(t.head) || t.path.some(term);
      case "call":
        return t.op === "walk" || t.args.some(term);
      case "array":
      case "set":
        return t.items.some(term);
      case "object":
        return t.items.some(([k, v]) => term(k) || term(v));
      default:
        return false;
    }
  };
  switch (e.k) {
    case "term":
      return term(e.term);
    case "somein":
      return true;
    default:
      return false;
  }
}

function wrapTrue(e: Expr, i: number, out: Value[]): Expr {
  out[i] = true;
  return e;
}

/** Compile modules. Throws RegoErrors with every parse/compile error. */
export function compile(modules: ModuleSource[], opts: CompileOptions = {}): CompiledPolicy {
  const errs: RegoError[] = [];
  const parsed: Module[] = [];
  for (const m of modules) {
    const { module, errors } = parseModule(m.source, m.path, m.regoVersion ?? opts.regoVersion ?? "v1");
    errs.push(...errors);
    if (module) parsed.push(module);
  }
  if (errs.length) throw new RegoErrors(errs);
  const bt = builtinTable(opts.builtins);
  const comp = new Compiler(parsed, { builtins: bt });
  const policy = new CompiledPolicy(comp, parsed, opts, bt);
  withArity(policy, () => comp.compile());
  if (comp.errors.length) throw new RegoErrors(comp.errors);
  return policy;
}

export { parseModule, parseQuery } from "./parser.ts";
export { runTests, type TestResult } from "./testing.ts";
export { coverageReport, formatCoverage, CoverageTracer, type CoverageReport } from "./coverage.ts";
