// Compiler: resolves names (locals to frame slots, rules and imports to data refs, calls to builtins or functions),
// reorders bodies for safety and reports unsafe variables, checks rule conflicts and recursion, and builds the rule
// tree (the index: rule lookup walks a map per path segment instead of scanning rules).
import type { Expr, Module, Rule, Term, With } from "./ast.ts";
import { RegoError, type Location } from "./errors.ts";
import { importPath, refName } from "./parser.ts";
import type { BuiltinDef, Type } from "./builtins/api.ts";
import { equals, fromJSON, RObject, type Value } from "./value.ts";

export type RuleKind = "complete" | "set" | "object" | "func";

export interface CRule {
  kind: RuleKind;
  path: string[]; // full ground path below data
  dyn: Term[]; // remaining (non-ground) head ref terms
  key?: Term; // set member
  value?: Term;
  args?: Term[];
  body: Expr[];
  nslots: number;
  isDefault: boolean;
  else?: CRule;
  loc: Location;
}

export interface Node {
  children: Map<string, Node>;
  rules: CRule[];
  defaultRule?: CRule;
  kind?: RuleKind;
  path: string[];
  /** rules whose ground prefix is below this node (so the node is virtual) */
  hasRules: boolean;
  arity?: number;
}

/** Builtins the evaluator implements itself (besides the registry). */
export const INTERNAL_CALLS: Record<string, number> = {
  eq: 2,
  assign: 2,
  "internal.member_2": 2,
  "internal.member_3": 3,
  equal: 2,
  neq: 2,
  lt: 2,
  gt: 2,
  lte: 2,
  gte: 2,
  print: -1,
  "internal.print": -1,
  "internal.template_string": -1,
};

export interface CompileOptions {
  builtins: Map<string, BuiltinDef>;
}

interface Scope {
  vars: Map<string, number>;
  parent?: Scope;
  /** body index of the expression declaring a var with `:=` / `some` (visible to closures only after it, as in OPA) */
  declAt?: Map<string, number>;
  /** index of the body expression being resolved (Infinity once the body is done) */
  cur?: number;
}

/** What OPA's rewriteLocalVars knows about a body before it runs: function args and the vars its head uses. */
interface DeclInfo {
  args?: Term[];
  /** vars the enclosing construct declares in this body's scope (`every k, v in ...`) */
  declared?: Term[];
  used?: Set<string>;
}

class SlotAlloc {
  n = 0;
  next(): number {
    return this.n++;
  }
}

export class Compiler {
  root: Node = newNode([]);
  errors: RegoError[] = [];
  /** package path string -> first-segment rule names in that package */
  private pkgRules = new Map<string, Set<string>>();

  constructor(
    readonly modules: Module[],
    readonly opts: CompileOptions,
  ) {}

  compile(): void {
    for (const m of this.modules) {
      const key = m.pkg.join(".");
      const set = this.pkgRules.get(key) ?? new Set();
      for (const r of m.rules) {
        const h = r.head.ref[0]!;
        if (h.t === "var") set.add(h.name);
      }
      this.pkgRules.set(key, set);
    }
    // every package is a document, even without rules (an empty package evaluates to {})
    for (const m of this.modules) {
      let n = this.root;
      n.hasRules = true;
      for (const seg of m.pkg) {
        let c = n.children.get(seg);
        if (!c) {
          c = newNode([...n.path, seg]);
          n.children.set(seg, c);
        }
        c.hasRules = true;
        n = c;
      }
    }
    // first register every rule path (so calls and refs can resolve), then compile bodies
    const pending: [Module, Rule, CRule][] = [];
    for (const m of this.modules) {
      for (const r of m.rules) {
        try {
          const cr = this.headOf(m, r);
          pending.push([m, r, cr]);
          this.insert(cr, r);
        } catch (e) {
          if (e instanceof RegoError) this.errors.push(e);
          else throw e;
        }
      }
    }
    this.checkExtentConflicts();
    for (const [m, r, cr] of pending) {
      try {
        this.compileRule(m, r, cr);
      } catch (e) {
        if (e instanceof RegoError) this.errors.push(e);
        else throw e;
      }
    }
    this.checkRecursion();
  }

  private headOf(m: Module, r: Rule): CRule {
    const ref = r.head.ref;
    const first = ref[0]!;
    if (first.t !== "var") throw new RegoError("rego_parse_error", "invalid rule head", r.loc);
    const path = [...m.pkg, first.name];
    let i = 1;
    for (; i < ref.length; i++) {
      const t = ref[i]!;
      if (t.t === "val" && typeof t.v === "string") path.push(t.v);
      else break;
    }
    const dyn = ref.slice(i);
    let kind: RuleKind;
    if (r.head.args) kind = "func";
    else if (r.head.contains) kind = "set";
    else if (dyn.length > 0) kind = "object";
    else kind = "complete";
    if (kind === "object" && !r.head.value) {
      // v1 `a.b[x] if ...` defines true-valued keys
    }
    return {
      kind,
      path,
      dyn,
      key: r.head.key,
      value: r.head.value,
      args: r.head.args,
      body: r.body,
      nslots: 0,
      isDefault: r.isDefault,
      loc: r.loc,
    };
  }

  private insert(cr: CRule, r: Rule): void {
    let n = this.root;
    for (const seg of cr.path) {
      n.hasRules = true;
      let c = n.children.get(seg);
      if (!c) {
        c = newNode([...n.path, seg]);
        n.children.set(seg, c);
      }
      n = c;
    }
    n.hasRules = true;
    if (n.kind && n.kind !== cr.kind) {
      const k = (x: RuleKind) => (x === "func" ? "function" : x === "set" ? "multi-value" : "single-value");
      if (k(n.kind) !== k(cr.kind) || cr.kind === "func" || n.kind === "func")
        throw new RegoError(
          "rego_type_error",
          `conflicting rules data.${cr.path.join(".")} found`,
          r.loc,
        );
    }
    if (cr.kind === "func") {
      const ar = cr.args!.length;
      if (n.arity !== undefined && n.arity !== ar)
        throw new RegoError("rego_type_error", `conflicting rules data.${cr.path.join(".")} found`, r.loc);
      n.arity = ar;
    }
    n.kind ??= cr.kind;
    if (cr.isDefault) {
      if (n.defaultRule)
        throw new RegoError("rego_type_error", `multiple default rules data.${cr.path.join(".")} found`, r.loc);
      n.defaultRule = cr;
    } else n.rules.push(cr);
  }

  // -------------------------------------------------------------------------------------------------------------
  // names

  private compileRule(m: Module, r: Rule, cr: CRule): void {
    const slots = new SlotAlloc();
    const ctx: NameCtx = { m, slots, comp: this, meta: this.metadataFor(m, r, cr) };
    const scope: Scope = { vars: new Map() };
    const safe = new Set<number>();
    if (cr.args) {
      // template-string arguments are compared after the body ran (their vars are bound by the body)
      const checks: Expr[] = [];
      cr.args = cr.args.map((a, i) => {
        if (a.t !== "tmpl") return a;
        const v: Term = { t: "var", name: `$arg${i}`, loc: a.loc };
        const loc = a.loc ?? cr.loc;
        checks.push({ k: "term", term: { t: "call", op: "equal", args: [v, a], loc }, negated: false, with: [], loc });
        return v;
      });
      if (checks.length) cr.body = [...cr.body, ...checks];
      cr.args = cr.args.map((a) => declareAll(a, scope, ctx, safe));
    }
    // collect top-level vars of the body and the head (they share the body scope)
    collectScopeVars(cr.body, scope, ctx);
    const headTerms = [...cr.dyn, ...(cr.key ? [cr.key] : []), ...(cr.value ? [cr.value] : [])];
    for (const t of headTerms) collectTermVars(t, scope, ctx);
    const used = new Set<string>();
    for (const t of headTerms) deepVarNames(t, used);
    cr.body = this.compileBody(cr.body, scope, ctx, safe, true, { args: cr.args, used });
    cr.dyn = cr.dyn.map((t) => resolveTerm(t, scope, ctx));
    if (cr.key) cr.key = resolveTerm(cr.key, scope, ctx);
    if (cr.value) cr.value = resolveTerm(cr.value, scope, ctx);
    const bodySafe = new Set(safe);
    for (const e of cr.body) for (const v of exprOutputs(e, bodySafe)) bodySafe.add(v);
    for (const t of [...cr.dyn, ...(cr.key ? [cr.key] : []), ...(cr.value ? [cr.value] : [])]) {
      const un = [...termInputs(t, bodySafe)].filter((s) => !bodySafe.has(s));
      if (un.length) {
        throw new RegoError("rego_unsafe_var_error", `var ${slotName(ctx, un[0]!)} is unsafe`, t.loc ?? cr.loc);
      }
    }
    // else branches share the same head shape and slot frame size
    let cur = cr;
    let er = r.else;
    while (er) {
      const ecr: CRule = { ...cr, value: er.head.value, body: er.body, else: undefined, loc: er.loc };
      const escope: Scope = { vars: new Map(scope.vars) };
      const esafe = new Set(safe);
      collectScopeVars(ecr.body, escope, ctx);
      if (ecr.value) collectTermVars(ecr.value, escope, ctx);
      const eused = new Set<string>();
      if (ecr.value) deepVarNames(ecr.value, eused);
      ecr.body = this.compileBody(ecr.body, escope, ctx, esafe, true, { args: cr.args, used: eused });
      if (ecr.value) ecr.value = resolveTerm(ecr.value, escope, ctx);
      cur.else = ecr;
      cur = ecr;
      er = er.else;
    }
    cr.nslots = slots.n;
    for (let e = cr.else; e; e = e.else) e.nslots = slots.n;
  }

  /** Resolve names in a body and reorder it for safety. */
  compileBody(body: Expr[], scope: Scope, ctx: NameCtx, safe: Set<number>, _top: boolean, decl: DeclInfo = {}): Expr[] {
    checkDeclarations(body, scope, ctx, decl);
    const resolved: Expr[] = [];
    for (let i = 0; i < body.length; i++) {
      scope.cur = i;
      resolved.push(resolveExpr(body[i]!, scope, ctx));
    }
    scope.cur = Infinity;
    return reorder(resolved, safe, ctx);
  }

  /** rego.metadata.chain() / rule() for a rule: its own annotations, document-scope ones, then packages'. */
  private metadataFor(m: Module, r: Rule, cr: CRule): { chain: Value; rule: Value } | undefined {
    const anyAnn = this.modules.some((x) => x.annotations || x.rules.some((y) => y.annotations));
    if (!anyAnn) return undefined;
    const entry = (path: string[], ann?: Record<string, unknown>) => fromJSON(ann ? { path, annotations: ann } : { path });
    const rulePath = cr.path;
    const chain: Value[] = [];
    const own = r.annotations && r.annotations.scope === "rule" ? r.annotations : undefined;
    chain.push(entry(rulePath, own));
    for (const x of this.modules)
      for (const y of x.rules) {
        if (y.annotations?.scope !== "document") continue;
        const p = [...x.pkg, ...(y.head.ref[0]?.t === "var" ? [y.head.ref[0].name] : [])];
        if (p.join(".") === [...m.pkg, rulePath[m.pkg.length]].join(".")) chain.push(entry(rulePath, y.annotations));
      }
    for (let n = m.pkg.length; n >= 1; n--) {
      const pkg = m.pkg.slice(0, n);
      for (const x of this.modules) {
        if (!x.annotations || x.pkg.join(".") !== pkg.join(".")) continue;
        const scope = x.annotations.scope;
        if ((n === m.pkg.length && scope === "package") || scope === "subpackages") chain.push(entry(pkg, x.annotations));
      }
    }
    return { chain, rule: fromJSON(own ?? {}) };
  }

  /** Compile a query: returns resolved body, slot count, and the named query vars. */
  compileQuery(body: Expr[], pkg: string[] = []): { body: Expr[]; nslots: number; vars: Map<string, number> } {
    const slots = new SlotAlloc();
    const m: Module = { file: "query", pkg, pkgLoc: { file: "query", row: 1, col: 1 }, imports: [], rules: [], regoVersion: "v1", v1Rules: true };
    const ctx: NameCtx = { m, slots, comp: this, query: true };
    const scope: Scope = { vars: new Map() };
    collectScopeVars(body, scope, ctx);
    const out = this.compileBody(body, scope, ctx, new Set(), true, { used: new Set() });
    const vars = new Map<string, number>();
    for (const [k, v] of scope.vars) if (!k.startsWith("_") && !k.startsWith("$")) vars.set(k, v);
    return { body: out, nslots: slots.n, vars };
  }

  /** Full global name for a rule/package-level name in module m, or undefined when not global. */
  resolveGlobal(m: Module, name: string): Term[] | undefined {
    if (name === "input" || name === "data") return [];
    for (const imp of m.imports) {
      const p = importPath(imp);
      const parts = p.split(".");
      if (parts[0] !== "data" && parts[0] !== "input") continue;
      const alias = imp.alias ?? parts[parts.length - 1];
      if (alias === name) return refPathTerms(imp.path);
    }
    if (this.pkgRules.get(m.pkg.join("."))?.has(name)) {
      return [{ t: "var", name: "data" }, ...[...m.pkg, name].map((s) => ({ t: "val", v: s }) as Term)];
    }
    return undefined;
  }

  lookupNode(path: string[]): Node | undefined {
    let n: Node | undefined = this.root;
    for (const s of path) {
      n = n.children.get(s);
      if (!n) return undefined;
    }
    return n;
  }

  /**
   * OPA's checkRuleConflicts for rules inside another rule's extent: a package below a rule
   * (`package t.p conflicts with rule p defined at a.rego:2`) and a rule below a single-value, multi-value or
   * function rule with a ground ref (`rule data.t.q conflicts with [data.t.q.r]`).
   */
  private checkExtentConflicts(): void {
    for (const m of this.modules) {
      for (let n = 1; n < m.pkg.length; n++) {
        const parent = m.pkg.slice(0, n).join(".");
        for (const o of this.modules) {
          if (o.pkg.length !== n || o.pkg.join(".") !== parent) continue;
          for (const r of o.rules) {
            // a rule whose (ground) ref is the package path or a prefix of it
            const ref = r.head.ref;
            const ground = ref.every((t, i) => (i === 0 ? t.t === "var" : t.t === "val" && typeof t.v === "string"));
            if (!ground || r.head.args || n + ref.length > m.pkg.length) continue;
            const names = ref.map((t) => (t.t === "var" ? t.name : String((t as { v: unknown }).v)));
            if (names.every((x, i) => m.pkg[n + i] === x))
              this.errors.push(
                new RegoError(
                  "rego_type_error",
                  `package ${m.pkg.join(".")} conflicts with rule ${refText(r.head.ref)} defined at ${r.loc.file}:${r.loc.row}`,
                  m.pkgLoc,
                ),
              );
          }
        }
      }
    }
    const below = (n: Node, out: string[]) => {
      for (const c of n.children.values()) {
        if (c.rules.length || c.defaultRule) out.push("data." + c.path.join("."));
        below(c, out);
      }
    };
    const walk = (n: Node) => {
      const own = n.rules[0] ?? n.defaultRule;
      if (own && n.kind !== "object" && n.rules.every((r) => r.dyn.length === 0)) {
        const kids: string[] = [];
        below(n, kids);
        if (kids.length) {
          kids.sort();
          this.errors.push(new RegoError("rego_type_error", `rule data.${n.path.join(".")} conflicts with [${kids.join(" ")}]`, own.loc));
        }
      }
      for (const c of n.children.values()) walk(c);
    };
    walk(this.root);
  }

  private checkRecursion(): void {
    // graph: rule node path -> referenced node paths (via data refs and calls)
    const nodes: Node[] = [];
    const walk = (n: Node) => {
      if (n.rules.length || n.defaultRule) nodes.push(n);
      for (const c of n.children.values()) walk(c);
    };
    walk(this.root);
    const key = (n: Node) => n.path.join(".");
    const edges = new Map<string, Set<string>>();
    const byKey = new Map<string, Node>();
    for (const n of nodes) byKey.set(key(n), n);
    for (const n of nodes) {
      const out = new Set<string>();
      const addAll = (x: Node) => {
        if (x.rules.length || x.defaultRule) out.add(key(x));
        for (const c of x.children.values()) addAll(c);
      };
      // a reference data.a[_].b depends on the rule nodes its pattern reaches (null = any key)
      const visitRef = (path: (string | null)[]) => {
        const walk = (cur: Node, i: number): void => {
          if (cur.rules.length || cur.defaultRule) {
            out.add(key(cur));
            return;
          }
          if (i === path.length) return addAll(cur);
          const seg = path[i];
          if (seg === null) {
            for (const c of cur.children.values()) walk(c, i + 1);
            return;
          }
          const c = cur.children.get(seg!);
          if (c) walk(c, i + 1);
        };
        walk(this.root, 0);
      };
      for (const r of [...n.rules, ...(n.defaultRule ? [n.defaultRule] : [])]) {
        for (let e: CRule | undefined = r; e; e = e.else) forEachDataRef(e, visitRef);
      }
      edges.set(key(n), out);
    }
    // DFS cycle detection
    const state = new Map<string, number>();
    const stack: string[] = [];
    const reported = new Set<string>();
    const dfs = (k: string) => {
      state.set(k, 1);
      stack.push(k);
      for (const d of edges.get(k) ?? []) {
        const s = state.get(d);
        if (s === 1) {
          const cyc = stack.slice(stack.indexOf(d));
          if (!reported.has(d)) {
            reported.add(d);
            const n = byKey.get(d)!;
            const r = n.rules[0] ?? n.defaultRule!;
            const names = [...cyc, d].map((p) => "data." + p);
            this.errors.push(
              new RegoError("rego_recursion_error", `rule data.${d} is recursive: ${names.join(" -> ")}`, r.loc),
            );
          }
        } else if (!s) dfs(d);
      }
      stack.pop();
      state.set(k, 2);
    };
    for (const n of nodes) if (!state.get(key(n))) dfs(key(n));
  }
}

function refText(ref: Term[]): string {
  return ref.map((t, i) => (t.t === "var" ? (i ? `[${t.name}]` : t.name) : t.t === "val" && typeof t.v === "string" ? (i ? "." : "") + t.v : `[${String((t as { v?: unknown }).v)}]`)).join("");
}

function newNode(path: string[]): Node {
  return { children: new Map(), rules: [], path, hasRules: false };
}

function refPathTerms(t: Term): Term[] {
  if (t.t === "var") return [{ t: "var", name: t.name }];
  if (t.t === "ref") return [t.head, ...t.path];
  return [t];
}

interface NameCtx {
  /** values of rego.metadata.chain() and rego.metadata.rule() for the rule being compiled */
  meta?: { chain: Value; rule: Value };
  m: Module;
  slots: SlotAlloc;
  comp: Compiler;
  query?: boolean;
  names?: Map<number, string>;
}

function slotName(ctx: NameCtx, s: number): string {
  return ctx.names?.get(s) ?? `$${s}`;
}

function newSlot(ctx: NameCtx, name: string): number {
  const s = ctx.slots.next();
  (ctx.names ??= new Map()).set(s, name);
  return s;
}

function lookup(scope: Scope | undefined, name: string): number | undefined {
  for (let s = scope; s; s = s.parent) {
    const v = s.vars.get(name);
    if (v === undefined) continue;
    // a closure does not see an enclosing body's `:=` / `some` var declared at or after the closure's expression:
    // `y := [x | x = 1]; x := 2` has two different x (OPA rewrites the later declaration to a fresh name)
    if (s !== scope && s.declAt && s.cur !== undefined) {
      const d = s.declAt.get(name);
      if (d !== undefined && d >= s.cur) continue;
    }
    return v;
  }
  return undefined;
}

/** Declare every var in a function arg pattern as a local. */
function declareAll(t: Term, scope: Scope, ctx: NameCtx, safe: Set<number>): Term {
  const go = (x: Term): Term => {
    switch (x.t) {
      case "var": {
        if (x.name === "_") {
          const s = newSlot(ctx, "_");
          safe.add(s);
          return { ...x, slot: s };
        }
        let s = scope.vars.get(x.name);
        if (s === undefined) {
          s = newSlot(ctx, x.name);
          scope.vars.set(x.name, s);
        }
        safe.add(s);
        return { ...x, slot: s };
      }
      case "array":
        return { ...x, items: x.items.map(go) };
      case "object":
        return { ...x, items: x.items.map(([k, v]) => [resolveTerm(k, scope, ctx), go(v)] as [Term, Term]) };
      case "set":
        return { ...x, items: x.items.map(go) };
      default:
        return resolveTerm(x, scope, ctx);
    }
  };
  return go(t);
}

/** Vars declared at this body level: by `some`, `:=`, `some in`, and free vars (not global). */
function collectScopeVars(body: Expr[], scope: Scope, ctx: NameCtx): void {
  let at = 0;
  const declare = (name: string) => {
    if (name === "_") return;
    if (!scope.vars.has(name)) {
      scope.vars.set(name, newSlot(ctx, name));
      (scope.declAt ??= new Map()).set(name, at);
    }
  };
  const declTerm = (t: Term) => {
    walkVarsShallow(t, (name) => declare(name), true);
  };
  const assigned = new Set<string>();
  for (; at < body.length; at++) {
    const e = body[at]!;
    if (e.k === "some") for (const v of e.vars) if (v.t === "var") declare(v.name);
    if (e.k === "somein") {
      if (e.key) declTerm(e.key);
      declTerm(e.value);
    }
    if (e.k === "term" && e.term.t === "call" && e.term.op === "assign") {
      walkVarsShallow(
        e.term.args[0]!,
        (name) => {
          if (name === "_") return;
          if (assigned.has(name)) throw new RegoError("rego_compile_error", `var ${name} assigned above`, e.loc);
          assigned.add(name);
        },
        true,
      );
      declTerm(e.term.args[0]!);
    }
  }
  for (const e of body) {
    if (e.k === "term") collectTermVars(e.term, scope, ctx);
    if (e.k === "somein") collectTermVars(e.domain, scope, ctx);
    if (e.k === "every") collectTermVars(e.domain, scope, ctx);
    for (const w of e.with) collectTermVars(w.value, scope, ctx);
  }
}

/** Free vars in a term at this level (not inside nested bodies), declared unless global or already visible. */
function collectTermVars(t: Term, scope: Scope, ctx: NameCtx): void {
  walkVarsShallow(t, (name) => {
    if (name === "_" || lookup(scope, name) !== undefined) return;
    if (ctx.comp.resolveGlobal(ctx.m, name)) return;
    scope.vars.set(name, newSlot(ctx, name));
  }, false);
}

/** Visit var names in a term without entering comprehension bodies or call operators. */
function walkVarsShallow(t: Term, fn: (name: string) => void, patternOnly: boolean): void {
  switch (t.t) {
    case "var":
      fn(t.name);
      return;
    case "ref":
      if (patternOnly) return;
      walkVarsShallow(t.head, fn, false);
      for (const p of t.path) walkVarsShallow(p, fn, false);
      return;
    case "array":
    case "set":
      for (const x of t.items) walkVarsShallow(x, fn, patternOnly);
      return;
    case "object":
      for (const [k, v] of t.items) {
        if (!patternOnly) walkVarsShallow(k, fn, false);
        walkVarsShallow(v, fn, patternOnly);
      }
      return;
    case "call":
      if (patternOnly) return;
      for (const a of t.args) walkVarsShallow(a, fn, false);
      return;
    case "tmpl":
      if (patternOnly) return;
      for (const a of t.exprs) walkVarsShallow(a, fn, false);
      return;
    default:
      return;
  }
}

function resolveExpr(e: Expr, scope: Scope, ctx: NameCtx): Expr {
  const withs: With[] = e.with.map((w) => {
    const target = resolveWithTarget(w.target, ctx);
    if (target.t === "ref" && target.head.t === "var" && target.head.name === "data") {
      // OPA's validateWith: a target below a rule would replace part of a virtual document
      let n: Node | undefined = ctx.comp.root;
      for (let i = 0; i < target.path.length - 1 && n; i++) {
        const p = target.path[i]!;
        if (p.t !== "val" || typeof p.v !== "string") break;
        n = n.children.get(p.v);
        if (n && (n.rules.length || n.defaultRule))
          throw new RegoError("rego_compile_error", "with keyword cannot partially replace virtual document(s)", w.target.loc ?? w.loc ?? e.loc);
      }
    }
    const isFnTarget =
      target.t === "call" ||
      (target.t === "ref" && ctx.comp.lookupNode(dataPath(target) ?? [])?.kind === "func");
    if (isFnTarget) {
      const fnName = functionNameOf(w.value, ctx);
      if (fnName) return { target, value: { t: "call", op: fnName, args: [], loc: w.value.loc } as Term, loc: w.loc };
    }
    return { target, value: resolveTerm(w.value, scope, ctx), loc: w.loc };
  });
  switch (e.k) {
    case "term":
      return { ...e, term: resolveTerm(e.term, scope, ctx, true), with: withs };
    case "some":
      return { ...e, vars: e.vars.map((v) => resolveTerm(v, scope, ctx)), with: withs };
    case "somein":
      // OPA rewrites `some x in xs` to `x = xs[_]`; a ref into a scalar has no type, so unification fails
      if (e.domain.t === "val") throw new RegoError("rego_type_error", "match error\n\tleft  : ???\n\tright : ???", e.loc);
      return {
        ...e,
        key: e.key ? resolveTerm(e.key, scope, ctx) : undefined,
        value: resolveTerm(e.value, scope, ctx),
        domain: resolveTerm(e.domain, scope, ctx),
        with: withs,
      };
    case "every": {
      const ownStart = ctx.slots.n;
      const inner: Scope = { vars: new Map(), parent: scope };
      const safe = new Set<number>();
      const declare = (t: Term | undefined): Term | undefined => {
        if (!t) return undefined;
        if (t.t !== "var") throw new RegoError("rego_compile_error", "every: key and value must be vars", e.loc);
        const s = newSlot(ctx, t.name);
        if (t.name !== "_") inner.vars.set(t.name, s);
        safe.add(s);
        return { ...t, slot: s };
      };
      const domain = resolveTerm(e.domain, scope, ctx);
      // OPA: `every k, v in xs { ... }` declares k and v; one the body never uses is "declared var k unused"
      const bodyNames = new Set<string>();
      for (const x of e.body) deepExprVarNames(x, bodyNames);
      const unused = [e.key, e.value].filter((t): t is Term & { t: "var" } => !!t && t.t === "var" && t.name !== "_" && !bodyNames.has(t.name));
      if (unused.length) {
        const errs = unused.map((t) => new RegoError("rego_compile_error", `declared var ${t.name} unused`, e.body[0]?.loc ?? e.loc));
        // the compiler appends the thrown error after those pushed here: keep OPA's order (k before v)
        for (const x of errs.slice(0, -1)) ctx.comp.errors.push(x);
        throw errs[errs.length - 1];
      }
      const key = declare(e.key);
      const value = declare(e.value)!;
      collectScopeVars(e.body, inner, ctx);
      for (const v of outerSlots(scope)) safe.add(v);
      const body = ctx.comp.compileBody(e.body, inner, ctx, safe, false, { declared: [e.key, e.value].filter((t): t is Term => !!t) });
      return { ...e, key, value, domain, body, with: withs, own: [ownStart, ctx.slots.n] } as Expr;
    }
    case "not":
    case "logic": {
      const ownStart = ctx.slots.n;
      const sub = (b: Expr[]): Expr[] => {
        const inner: Scope = { vars: new Map(), parent: scope };
        collectScopeVars(b, inner, ctx);
        return ctx.comp.compileBody(b, inner, ctx, new Set(outerSlots(scope)), false);
      };
      if (e.k === "not") return { ...e, body: sub(e.body), with: withs, own: [ownStart, ctx.slots.n] } as Expr;
      const operands = e.operands.map(sub);
      return { ...e, operands, with: withs, own: [ownStart, ctx.slots.n] } as Expr;
    }
  }
}

function outerSlots(scope: Scope | undefined): number[] {
  const out: number[] = [];
  for (let s = scope; s; s = s.parent) for (const v of s.vars.values()) out.push(v);
  return out;
}

function resolveWithTarget(t: Term, ctx: NameCtx): Term {
  // targets are input..., data..., or a function name (builtin or user function, possibly via import alias)
  const name = refName(t);
  if (name === undefined) {
    if (t.t === "ref" && t.head.t === "var" && (t.head.name === "input" || t.head.name === "data")) return t;
    throw new RegoError("rego_compile_error", "with keyword target must reference existing input, data, or a function", t.loc);
  }
  const first = name.split(".")[0]!;
  if (first === "input" || first === "data") return t;
  const g = ctx.comp.resolveGlobal(ctx.m, first);
  if (g && g.length) {
    const rest = t.t === "ref" ? t.path : [];
    return { t: "ref", head: g[0]!, path: [...g.slice(1), ...rest], loc: t.loc };
  }
  return { t: "call", op: name, args: [], loc: t.loc };
}

function resolveTerm(t: Term, scope: Scope, ctx: NameCtx, exprLevel = false): Term {
  switch (t.t) {
    case "val":
      return t;
    case "var": {
      if (t.name === "_") return { ...t, slot: newSlot(ctx, "_") };
      const s = lookup(scope, t.name);
      if (s !== undefined) return { ...t, slot: s };
      const g = ctx.comp.resolveGlobal(ctx.m, t.name);
      if (g) {
        if (g.length <= 1) return { t: "var", name: g.length ? (g[0] as { name: string }).name : t.name, loc: t.loc };
        return { t: "ref", head: g[0]!, path: g.slice(1), loc: t.loc };
      }
      // free var not collected (e.g. inside a nested term): declare now
      const ns = newSlot(ctx, t.name);
      scope.vars.set(t.name, ns);
      return { ...t, slot: ns };
    }
    case "ref": {
      checkLiteralRef(t);
      const head = resolveTerm(t.head, scope, ctx);
      const path = t.path.map((p) => resolveTerm(p, scope, ctx));
      if (head.t === "ref") return { t: "ref", head: head.head, path: [...head.path, ...path], loc: t.loc };
      return { ...t, head, path };
    }
    case "array":
      return { ...t, items: t.items.map((x) => resolveTerm(x, scope, ctx)) };
    case "set":
      return { ...t, items: t.items.map((x) => resolveTerm(x, scope, ctx)) };
    case "object":
      return { ...t, items: t.items.map(([k, v]) => [resolveTerm(k, scope, ctx), resolveTerm(v, scope, ctx)] as [Term, Term]) };
    case "tmpl": {
      if (!t.withs) return { ...t, exprs: t.exprs.map((x) => resolveTerm(x, scope, ctx)) };
      const withs: With[][] = [];
      const exprs = t.exprs.map((x, i) => {
        const loc = x.loc ?? t.loc ?? { file: ctx.m.file, row: 1, col: 1 };
        const e = resolveExpr({ k: "term", term: x, negated: false, with: t.withs![i] ?? [], loc }, scope, ctx);
        withs.push(e.with);
        return (e as Expr & { k: "term" }).term;
      });
      return { ...t, exprs, withs };
    }
    case "arraycomp":
    case "setcomp":
    case "objcomp": {
      const ownStart = ctx.slots.n;
      const inner: Scope = { vars: new Map(), parent: scope };
      collectScopeVars(t.body, inner, ctx);
      if (t.t === "objcomp") {
        collectTermVars(t.key, inner, ctx);
        collectTermVars(t.value, inner, ctx);
      } else collectTermVars(t.head, inner, ctx);
      const safe = new Set(outerSlots(scope));
      const used = new Set<string>();
      if (t.t === "objcomp") {
        deepVarNames(t.key, used);
        deepVarNames(t.value, used);
      } else deepVarNames(t.head, used);
      const body = ctx.comp.compileBody(t.body, inner, ctx, safe, false, { used });
      // head vars must be bound by the body
      const bodySafe = new Set(safe);
      for (const e of body) for (const v of exprOutputs(e, bodySafe)) bodySafe.add(v);
      const check = (h: Term) => {
        const un = [...termInputs(h, bodySafe)].filter((s) => !bodySafe.has(s));
        if (un.length) throw new RegoError("rego_unsafe_var_error", `var ${slotName(ctx, un[0]!)} is unsafe`, h.loc ?? t.loc);
        return h;
      };
      if (t.t === "objcomp") {
        const key = check(resolveTerm(t.key, inner, ctx));
        const value = check(resolveTerm(t.value, inner, ctx));
        return { ...t, key, value, body, own: [ownStart, ctx.slots.n] } as unknown as Term;
      }
      const head = check(resolveTerm(t.head, inner, ctx));
      return { ...t, head, body, own: [ownStart, ctx.slots.n] } as unknown as Term;
    }
    case "call": {
      if ((t.op === "rego.metadata.chain" || t.op === "rego.metadata.rule") && t.args.length === 0) {
        const v = ctx.meta ? (t.op === "rego.metadata.chain" ? ctx.meta.chain : ctx.meta.rule) : t.op === "rego.metadata.chain" ? [] : new RObject();
        return { t: "val", v, loc: t.loc };
      }
      // OPA's checkVoidCalls: print returns no value, so it can only be a whole expression
      if (t.op === "print" && !exprLevel) throw new RegoError("rego_type_error", `${termText(t)} used as value`, t.loc);
      const args = t.args.map((a) => resolveTerm(a, scope, ctx));
      const op = resolveCallName(t, ctx);
      return { ...t, op, args };
    }
  }
}

/** Resolve a call operator to "data.pkg.f" (user function) or a builtin name. */
function resolveCallName(t: Term & { t: "call" }, ctx: NameCtx): string {
  const name = t.op;
  if (INTERNAL_CALLS[name] !== undefined) return name;
  const parts = name.split(".");
  const first = parts[0]!;
  const g = first === "data" ? [] : ctx.comp.resolveGlobal(ctx.m, first);
  let full: string[] | undefined;
  if (first === "data") full = parts.slice(1);
  else if (g && g.length > 1) {
    const gp = g.slice(1).map((x) => (x as { v: string }).v);
    if ((g[0] as { name: string }).name === "data") full = [...gp, ...parts.slice(1)];
  }
  if (full) {
    const node = ctx.comp.lookupNode(full);
    if (node && node.kind === "func") return "data." + full.join(".");
    if (node && (node.rules.length || node.defaultRule))
      throw new RegoError("rego_type_error", `undefined function data.${full.join(".")}`, t.loc);
    if (!ctx.comp.opts.builtins.has(name))
      throw new RegoError("rego_type_error", `undefined function data.${full.join(".")}`, t.loc);
  }
  const def = ctx.comp.opts.builtins.get(name);
  if (!def) throw new RegoError("rego_type_error", `undefined function ${name}`, t.loc);
  const n = t.args.length;
  const ar = def.decl.args.length;
  if (!def.decl.variadic && n !== ar && n !== ar + 1) {
    throw new RegoError("rego_type_error", `${name}: arity mismatch\n\thave: (${n} args)\n\twant: (${ar} args)`, t.loc);
  }
  if (!def.decl.variadic) checkLiteralArgs(name, def, t);
  return name;
}

/** Kind of a literal argument term, when it is known at compile time. */
function literalKind(t: Term): string | undefined {
  switch (t.t) {
    case "val":
      return t.v === null ? "null" : typeof t.v === "boolean" ? "boolean" : typeof t.v === "string" ? "string" : "number";
    case "array":
    case "arraycomp":
      return "array";
    case "set":
    case "setcomp":
      return "set";
    case "object":
    case "objcomp":
      return "object";
    default:
      return undefined;
  }
}

function typeAccepts(ty: Type, kind: string): boolean {
  if (ty.kind === "any") return !ty.of || ty.of.length === 0 || ty.of.some((x) => typeAccepts(x, kind));
  return ty.kind === kind;
}

function typeString(ty: Type): string {
  switch (ty.kind) {
    case "any":
      return ty.of && ty.of.length ? `any<${ty.of.map(typeString).join(", ")}>` : "any";
    case "array":
      return `array[${typeString(ty.of)}]`;
    case "set":
      return `set[${typeString(ty.of)}]`;
    case "object":
      return `object[${typeString(ty.key)}: ${typeString(ty.value)}]`;
    default:
      return ty.kind;
  }
}

/** OPA reports calls whose literal arguments can never match the declared types at compile time. */
function checkLiteralArgs(name: string, def: BuiltinDef, t: Term & { t: "call" }): void {
  const decl = def.decl.args;
  let bad = false;
  for (let i = 0; i < decl.length && i < t.args.length; i++) {
    const k = literalKind(t.args[i]!);
    if (k && !typeAccepts(decl[i]!, k)) bad = true;
  }
  if (!bad) return;
  const have = decl.map((_, i) => literalKind(t.args[i]!) ?? "any").join(", ");
  const want = decl.map(typeString).join(", ");
  throw new RegoError("rego_type_error", `${name}: invalid argument(s)\n\thave: (${have})\n\twant: (${want})`, t.loc);
}


// ---------------------------------------------------------------------------------------------------------------
// Declarations, as OPA's rewriteLocalVars checks them (before names are resolved)

/** Every var name in a term, including inside comprehension bodies. */
function deepVarNames(t: Term | undefined, out: Set<string>): void {
  if (!t) return;
  switch (t.t) {
    case "var":
      out.add(t.name);
      return;
    case "ref":
      deepVarNames(t.head, out);
      for (const p of t.path) deepVarNames(p, out);
      return;
    case "array":
    case "set":
      for (const x of t.items) deepVarNames(x, out);
      return;
    case "object":
      for (const [k, v] of t.items) {
        deepVarNames(k, out);
        deepVarNames(v, out);
      }
      return;
    case "call":
      for (const a of t.args) deepVarNames(a, out);
      return;
    case "tmpl":
      for (const a of t.exprs) deepVarNames(a, out);
      for (const ws of t.withs ?? []) for (const w of ws) deepVarNames(w.value, out);
      return;
    case "arraycomp":
    case "setcomp":
      deepVarNames(t.head, out);
      for (const e of t.body) deepExprVarNames(e, out);
      return;
    case "objcomp":
      deepVarNames(t.key, out);
      deepVarNames(t.value, out);
      for (const e of t.body) deepExprVarNames(e, out);
      return;
    default:
      return;
  }
}

function deepExprVarNames(e: Expr, out: Set<string>): void {
  switch (e.k) {
    case "term":
      deepVarNames(e.term, out);
      break;
    case "some":
      for (const v of e.vars) deepVarNames(v, out);
      break;
    case "somein":
      deepVarNames(e.key, out);
      deepVarNames(e.value, out);
      deepVarNames(e.domain, out);
      break;
    case "every":
      deepVarNames(e.key, out);
      deepVarNames(e.value, out);
      deepVarNames(e.domain, out);
      for (const x of e.body) deepExprVarNames(x, out);
      break;
    case "not":
      for (const x of e.body) deepExprVarNames(x, out);
      break;
    case "logic":
      for (const b of e.operands) for (const x of b) deepExprVarNames(x, out);
      break;
  }
  for (const w of e.with) deepVarNames(w.value, out);
}

const SEEN = 1, ASSIGNED = 2, DECLARED = 3, ARG = 4;

/**
 * OPA's declaration rules for one body, in source order: a var may be declared (`:=`, `some`) only once and not
 * after it was referenced (`var x referenced above`, `var x assigned above`, `var x declared above`,
 * `arg x redeclared`), and a var declared with `some` must be used (`declared var x unused`).
 */
function checkDeclarations(body: Expr[], scope: Scope, ctx: NameCtx, decl: DeclInfo): void {
  const occ = new Map<string, number>();
  for (const a of decl.args ?? []) deepVarNames(a, { add: (n: string) => n !== "_" && occ.set(n, ARG) } as unknown as Set<string>);
  for (const d of decl.declared ?? []) if (d.t === "var" && d.name !== "_") occ.set(d.name, DECLARED);
  const fail = (msg: string, loc: Location): never => {
    throw new RegoError("rego_compile_error", msg, loc);
  };
  const declare = (name: string, kind: number, loc: Location) => {
    if (name === "_") return;
    const o = occ.get(name);
    if (o === SEEN) fail(`var ${name} referenced above`, loc);
    if (o === ASSIGNED) fail(`var ${name} assigned above`, loc);
    if (o === DECLARED) fail(`var ${name} declared above`, loc);
    if (o === ARG) fail(`arg ${name} redeclared`, loc);
    occ.set(name, kind);
  };
  const see = (t: Term) =>
    walkVarsShallow(
      t,
      (name) => {
        if (name === "_" || occ.has(name)) return;
        // names of rules, imports, input/data, and vars of enclosing bodies are not new vars of this body
        if (scope.parent && lookup(scope.parent, name) !== undefined) return;
        if (ctx.comp.resolveGlobal(ctx.m, name)) return;
        occ.set(name, SEEN);
      },
      false,
    );
  const someDecl = new Map<string, Expr>();
  for (const e of body) {
    switch (e.k) {
      case "some":
        for (const v of e.vars) if (v.t === "var") {
          declare(v.name, DECLARED, v.loc ?? e.loc);
          if (v.name !== "_") someDecl.set(v.name, e);
        }
        break;
      case "somein":
        for (const p of [e.key, e.value]) if (p) walkVarsShallow(p, (n) => declare(n, DECLARED, p.loc ?? e.loc), true);
        see(e.domain);
        break;
      case "every":
        see(e.domain);
        break;
      case "term":
        if (e.term.t === "call" && e.term.op === "assign" && e.term.args.length === 2) {
          see(e.term.args[1]!);
          for (const w of e.with) see(w.value);
          const lhs = e.term.args[0]!;
          walkVarsShallow(lhs, (n) => declare(n, ASSIGNED, e.loc), true);
          continue;
        }
        see(e.term);
        break;
      default:
        break;
    }
    for (const w of e.with) see(w.value);
  }
  if (someDecl.size === 0) return;
  const usedNames = new Set(decl.used ?? []);
  for (const e of body) if (e.k !== "some") deepExprVarNames(e, usedNames);
  for (const [name, e] of someDecl) if (!usedNames.has(name)) fail(`declared var ${name} unused`, e.loc);
}

/**
 * OPA's type checker on refs into literals (`[1, 2][1.0]`, `[1, 2][5]`, `{"a": 1}.b`): an array index must be an
 * integer written as one and in range, an object key must exist when every key is a literal.
 */
function checkLiteralRef(t: Term & { t: "ref" }): void {
  let cur: Term = t.head;
  if (cur.t !== "array" && cur.t !== "object" && cur.t !== "arraycomp") return;
  const fail = (): never => {
    throw new RegoError("rego_type_error", `undefined ref: ${termText(t)}`, t.loc ?? t.head.loc);
  };
  for (const p of t.path) {
    if (p.t !== "val") return;
    if (cur.t === "array" || cur.t === "arraycomp") {
      const i = p.v;
      if (typeof i !== "number" || p.raw !== undefined || !Number.isInteger(i)) fail();
      if (cur.t === "arraycomp") return;
      if ((i as number) < 0 || (i as number) >= cur.items.length) fail();
      cur = cur.items[i as number]!;
    } else if (cur.t === "object") {
      if (!cur.items.every(([k]) => k.t === "val")) return;
      const hit: [Term, Term] | undefined = cur.items.find(([k]) => equals((k as { v: Value }).v, p.v));
      if (!hit) fail();
      cur = hit![1];
    } else if (cur.t === "val") fail();
    else return;
  }
}

/** `print(...)` rendered for OPA's "used as value" error. */
function termText(t: Term): string {
  switch (t.t) {
    case "val":
      return typeof t.v === "string" ? JSON.stringify(t.v) : (t.raw ?? String(t.v));
    case "var":
      return t.name;
    case "ref":
      return termText(t.head) + t.path.map((p) => (p.t === "val" && typeof p.v === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p.v) ? "." + p.v : `[${termText(p)}]`)).join("");
    case "array":
      return `[${t.items.map(termText).join(", ")}]`;
    case "set":
      return t.items.length ? `{${t.items.map(termText).join(", ")}}` : "set()";
    case "object":
      return `{${t.items.map(([k, v]) => `${termText(k)}: ${termText(v)}`).join(", ")}}`;
    case "call":
      return `${t.op}(${t.args.map(termText).join(", ")})`;
    default:
      return "...";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Safety: which slots an expression needs bound (inputs) and which it can bind (outputs)

function addTermSlots(t: Term, out: Set<number>): void {
  switch (t.t) {
    case "var":
      if (t.slot !== undefined && t.name !== "_") out.add(t.slot);
      return;
    case "ref":
      addTermSlots(t.head, out);
      for (const p of t.path) addTermSlots(p, out);
      return;
    case "array":
    case "set":
      for (const x of t.items) addTermSlots(x, out);
      return;
    case "object":
      for (const [k, v] of t.items) {
        addTermSlots(k, out);
        addTermSlots(v, out);
      }
      return;
    case "call":
      for (const a of t.args) addTermSlots(a, out);
      return;
    case "tmpl":
      for (const a of t.exprs) addTermSlots(a, out);
      return;
    case "arraycomp":
    case "setcomp":
    case "objcomp":
      for (const s of closureSlots(t)) out.add(s);
      return;
    default:
      return;
  }
}

/** Slots used inside a comprehension/every body that belong to outer scopes. */
function closureSlots(t: Term): Set<number> {
  const used = new Set<number>();
  const own = new Set<number>();
  const visitBody = (body: Expr[]) => {
    for (const e of body) {
      visitExpr(e);
    }
  };
  const visitExpr = (e: Expr) => {
    switch (e.k) {
      case "term":
        visitTerm(e.term);
        break;
      case "some":
        for (const v of e.vars) if (v.t === "var" && v.slot !== undefined) own.add(v.slot);
        break;
      case "somein":
        if (e.key) visitTerm(e.key);
        visitTerm(e.value);
        visitTerm(e.domain);
        break;
      case "every":
        if (e.key?.t === "var" && e.key.slot !== undefined) own.add(e.key.slot);
        if (e.value.t === "var" && e.value.slot !== undefined) own.add(e.value.slot);
        visitTerm(e.domain);
        visitBody(e.body);
        break;
      default:
        break;
    }
    for (const w of e.with) visitTerm(w.value);
  };
  const visitTerm = (x: Term) => addAllSlots(x, used, visitBody);
  if (t.t === "objcomp") {
    visitTerm(t.key);
    visitTerm(t.value);
  } else if (t.t === "arraycomp" || t.t === "setcomp") visitTerm(t.head);
  if (t.t === "arraycomp" || t.t === "setcomp" || t.t === "objcomp") {
    // slots first seen inside the body were allocated after the body started; we approximate "own" as slots
    // declared by the nested scope, which the compiler records on the term
    visitBody(t.body);
    const range = (t as { own?: [number, number] }).own;
    if (range) for (let s = range[0]; s < range[1]; s++) own.add(s);
  }
  for (const s of own) used.delete(s);
  return used;
}

function addAllSlots(t: Term, out: Set<number>, visitBody: (b: Expr[]) => void): void {
  switch (t.t) {
    case "var":
      if (t.slot !== undefined && t.name !== "_") out.add(t.slot);
      return;
    case "ref":
      addAllSlots(t.head, out, visitBody);
      for (const p of t.path) addAllSlots(p, out, visitBody);
      return;
    case "array":
    case "set":
      for (const x of t.items) addAllSlots(x, out, visitBody);
      return;
    case "object":
      for (const [k, v] of t.items) {
        addAllSlots(k, out, visitBody);
        addAllSlots(v, out, visitBody);
      }
      return;
    case "call":
      for (const a of t.args) addAllSlots(a, out, visitBody);
      return;
    case "tmpl":
      for (const a of t.exprs) addAllSlots(a, out, visitBody);
      return;
    case "arraycomp":
    case "setcomp":
      addAllSlots(t.head, out, visitBody);
      visitBody(t.body);
      return;
    case "objcomp":
      addAllSlots(t.key, out, visitBody);
      addAllSlots(t.value, out, visitBody);
      visitBody(t.body);
      return;
    default:
      return;
  }
}

/** Slots a term needs bound to be evaluated (ref path vars and pattern vars are outputs, not inputs). */
export function termInputs(t: Term, safe: Set<number>): Set<number> {
  const out = new Set<number>();
  const go = (x: Term) => {
    switch (x.t) {
      case "var":
        if (x.slot !== undefined && x.name !== "_") out.add(x.slot);
        return;
      case "ref":
        go(x.head);
        for (const p of x.path) {
          if (p.t === "var") continue; // iteration var: output
          if (p.t === "array" || p.t === "object") {
            // pattern: vars are outputs, but refs/calls inside are inputs
            patternInputs(p, out, safe);
            continue;
          }
          go(p);
        }
        return;
      case "array":
      case "set":
        for (const i of x.items) go(i);
        return;
      case "object":
        for (const [k, v] of x.items) {
          go(k);
          go(v);
        }
        return;
      case "call":
        for (const a of x.args) go(a);
        return;
      case "tmpl":
        for (const a of x.exprs) go(a);
        return;
      case "arraycomp":
      case "setcomp":
      case "objcomp":
        for (const s of closureSlots(x)) out.add(s);
        return;
      default:
        return;
    }
  };
  go(t);
  return out;
}

function patternInputs(p: Term, out: Set<number>, safe: Set<number>): void {
  switch (p.t) {
    case "var":
      return;
    case "array":
    case "set":
      for (const i of p.items) patternInputs(i, out, safe);
      return;
    case "object":
      for (const [k, v] of p.items) {
        for (const s of termInputs(k, safe)) out.add(s);
        patternInputs(v, out, safe);
      }
      return;
    default:
      for (const s of termInputs(p, safe)) out.add(s);
  }
}

/** Vars a term can bind: ref path vars (iteration) anywhere in it, excluding comprehension bodies. */
function termOutputs(t: Term, out: Set<number>): void {
  switch (t.t) {
    case "ref":
      termOutputs(t.head, out);
      for (const p of t.path) {
        if (p.t === "var" && p.slot !== undefined) out.add(p.slot);
        else if (p.t === "array" || p.t === "object") addTermSlots(p, out);
        else termOutputs(p, out);
      }
      return;
    case "array":
    case "set":
      for (const i of t.items) termOutputs(i, out);
      return;
    case "object":
      for (const [k, v] of t.items) {
        termOutputs(k, out);
        termOutputs(v, out);
      }
      return;
    case "call":
      for (const a of t.args) termOutputs(a, out);
      return;
    case "tmpl":
      for (const a of t.exprs) termOutputs(a, out);
      return;
    default:
      return;
  }
}

/** Slots in unification positions of a pattern term (vars, and vars inside array/object literal values). */
function patternVars(t: Term, out: Set<number>): void {
  switch (t.t) {
    case "var":
      if (t.slot !== undefined) out.add(t.slot);
      return;
    case "array":
      for (const i of t.items) patternVars(i, out);
      return;
    case "object":
      for (const [, v] of t.items) patternVars(v, out);
      return;
    default:
      return;
  }
}

/** Which unbound slots the expression needs; empty means it can run now. */
function exprNeeds(e: Expr, safe: Set<number>): number[] {
  const need = new Set<number>();
  const addInputs = (t: Term) => {
    for (const s of termInputs(t, safe)) if (!safe.has(s)) need.add(s);
  };
  for (const w of e.with) addInputs(w.value);
  switch (e.k) {
    case "some":
      break;
    case "somein":
      addInputs(e.domain);
      if (e.key) for (const s of termInputs(e.key, safe)) if (!safe.has(s) && !isPatternVar(e.key, s)) need.add(s);
      for (const s of termInputs(e.value, safe)) if (!safe.has(s) && !isPatternVar(e.value, s)) need.add(s);
      break;
    case "every": {
      addInputs(e.domain);
      const cs = closureOfBody(e.body, e);
      for (const s of cs) if (!safe.has(s)) need.add(s);
      break;
    }
    case "term": {
      const t = e.term;
      if (e.negated) {
        const all = new Set<number>();
        termOutputsOrInputs(t, all, safe);
        for (const s of all) if (!safe.has(s)) need.add(s);
        break;
      }
      if (t.t === "call" && (t.op === "eq" || t.op === "assign")) {
        const [a, b] = t.args as [Term, Term];
        const ia = [...termInputs(a, safe)].filter((s) => !safe.has(s));
        const ib = [...termInputs(b, safe)].filter((s) => !safe.has(s));
        const pa = new Set<number>();
        patternVars(a, pa);
        const pb = new Set<number>();
        patternVars(b, pb);
        // a side is ready when all its inputs are safe; then the other side's pattern vars get bound
        const aReady = ia.length === 0;
        const bReady = ib.length === 0;
        if (aReady && bReady) break;
        if (aReady && ib.every((s) => pb.has(s))) break;
        if (bReady && ia.every((s) => pa.has(s))) break;
        // both patterns (e.g. [x, 1] = [2, y]): allowed when every unsafe var is a pattern var on some side and
        // the other side's corresponding element is ready; approximate: all unsafe are pattern vars
        if (a.t === "array" && b.t === "array" && ia.every((s) => pa.has(s)) && ib.every((s) => pb.has(s))) {
          if (arrayPairsResolvable(a, b, safe)) break;
        }
        if (a.t === "object" && b.t === "object" && ia.every((s) => pa.has(s)) && ib.every((s) => pb.has(s))) break;
        for (const s of ia) need.add(s);
        for (const s of ib) need.add(s);
        // prefer reporting the side that cannot be a pattern
        break;
      }
      if (t.t === "call") {
        // vars bound by refs inside the call's arguments (e.g. `foo == input.foos[foo]`) count as bound
        const outs = new Set<number>();
        termOutputs(t, outs);
        const addInputs = (x: Term) => {
          for (const s of termInputs(x, safe)) if (!safe.has(s) && !outs.has(s)) need.add(s);
        };
        // output argument: last arg beyond declared arity
        const isUser = t.op.startsWith("data.");
        const n = t.args.length;
        const ar = callArity(t.op, e, isUser);
        const ins = ar !== undefined && n === ar + 1 ? t.args.slice(0, ar) : t.args;
        for (const a of ins) addInputs(a);
        if (ar !== undefined && n === ar + 1) {
          const last = t.args[n - 1]!;
          for (const s of termInputs(last, safe)) if (!safe.has(s) && !isPatternVar(last, s)) need.add(s);
        }
        break;
      }
      addInputs(t);
      break;
    }
    case "not":
    case "logic": {
      const bodies = e.k === "not" ? [e.body] : e.operands;
      const fake = { t: "arraycomp", head: { t: "val", v: null }, body: bodies.flat(), own: (e as { own?: [number, number] }).own } as Term;
      for (const s of closureSlots(fake)) if (!safe.has(s)) need.add(s);
      break;
    }
  }
  return [...need];
}

function arrayPairsResolvable(a: Term & { t: "array" }, b: Term & { t: "array" }, safe: Set<number>): boolean {
  if (a.items.length !== b.items.length) return false;
  for (let i = 0; i < a.items.length; i++) {
    const x = a.items[i]!;
    const y = b.items[i]!;
    const ix = [...termInputs(x, safe)].filter((s) => !safe.has(s));
    const iy = [...termInputs(y, safe)].filter((s) => !safe.has(s));
    if (ix.length && iy.length) {
      if (x.t === "array" && y.t === "array" && arrayPairsResolvable(x, y, safe)) continue;
      return false;
    }
  }
  return true;
}

let arityLookup: (op: string, isUser: boolean) => number | undefined = () => undefined;
export function setArityLookup(f: (op: string, isUser: boolean) => number | undefined): void {
  arityLookup = f;
}
function callArity(op: string, _e: Expr, isUser: boolean): number | undefined {
  return arityLookup(op, isUser);
}

function isPatternVar(t: Term, s: number): boolean {
  const ps = new Set<number>();
  patternVars(t, ps);
  return ps.has(s);
}

function termOutputsOrInputs(t: Term, out: Set<number>, safe: Set<number>): void {
  for (const s of termInputs(t, safe)) out.add(s);
  const o = new Set<number>();
  termOutputs(t, o);
  for (const s of o) {
    const n = (t as { _wild?: Set<number> })._wild;
    void n;
    out.add(s);
  }
}

function closureOfBody(body: Expr[], e: Expr & { k: "every" }): Set<number> {
  const fake = { t: "arraycomp", head: { t: "val", v: null }, body, own: (e as { own?: [number, number] }).own } as Term;
  const cs = closureSlots(fake);
  if (e.key?.t === "var" && e.key.slot !== undefined) cs.delete(e.key.slot);
  if (e.value.t === "var" && e.value.slot !== undefined) cs.delete(e.value.slot);
  return cs;
}

/** Slots an expression binds once it ran (given the safe set before it). */
export function exprOutputs(e: Expr, safe: Set<number>): Set<number> {
  const out = new Set<number>();
  switch (e.k) {
    case "somein":
      if (e.key) addTermSlots(e.key, out);
      addTermSlots(e.value, out);
      termOutputs(e.domain, out);
      break;
    case "term":
      if (e.negated) break;
      if (e.term.t === "call" && (e.term.op === "eq" || e.term.op === "assign")) {
        addTermSlots(e.term.args[0]!, out);
        addTermSlots(e.term.args[1]!, out);
        // vars inside comprehensions are not bound by the expression
        break;
      }
      if (e.term.t === "call") {
        const t = e.term;
        const ar = callArity(t.op, e, t.op.startsWith("data."));
        if (ar !== undefined && t.args.length === ar + 1) addTermSlots(t.args[ar]!, out);
      }
      termOutputs(e.term, out);
      break;
    default:
      break;
  }
  for (const s of safe) out.delete(s);
  return out;
}

/** OPA-style reordering: repeatedly take, in order, every expression whose inputs are safe. */
function reorder(body: Expr[], safeIn: Set<number>, ctx: NameCtx): Expr[] {
  const safe = new Set(safeIn);
  const out: Expr[] = [];
  const done = new Array(body.length).fill(false);
  for (;;) {
    const before = out.length;
    for (let i = 0; i < body.length; i++) {
      if (done[i]) continue;
      const e = body[i]!;
      if (exprNeeds(e, safe).length === 0) {
        done[i] = true;
        out.push(e);
        for (const s of exprOutputs(e, safe)) safe.add(s);
      }
    }
    if (out.length === body.length) return out;
    if (out.length === before) break;
  }
  // report unsafe vars of the first stuck expression
  const errs: RegoError[] = [];
  for (let i = 0; i < body.length; i++) {
    if (done[i]) continue;
    const e = body[i]!;
    const need = exprNeeds(e, safe);
    for (const s of need) {
      const name = slotName(ctx, s);
      if (name === "_") continue;
      errs.push(new RegoError("rego_unsafe_var_error", `var ${name} is unsafe`, e.loc));
    }
  }
  if (errs.length === 0) throw new RegoError("rego_unsafe_var_error", "expression is unsafe", body[0]!.loc);
  for (const e of errs.slice(1)) ctx.comp.errors.push(e);
  throw errs[0];
}

/** Visit every data path pattern referenced by a rule (for recursion checks); null marks a non-ground key. */
function forEachDataRef(r: CRule, fn: (path: (string | null)[]) => void): void {
  const term = (t: Term | undefined): void => {
    if (!t) return;
    switch (t.t) {
      case "ref":
        if (t.head.t === "var" && t.head.name === "data" && t.head.slot === undefined) {
          const p: (string | null)[] = [];
          for (const x of t.path) {
            if (x.t === "val" && (typeof x.v === "string" || typeof x.v === "number")) p.push(String(x.v));
            else p.push(null);
          }
          fn(p);
        } else term(t.head);
        t.path.forEach(term);
        return;
      case "var":
        if (t.name === "data" && t.slot === undefined) fn([]);
        return;
      case "array":
      case "set":
        t.items.forEach(term);
        return;
      case "object":
        for (const [k, v] of t.items) {
          term(k);
          term(v);
        }
        return;
      case "call":
        if (t.op.startsWith("data.")) fn(t.op.slice(5).split("."));
        t.args.forEach(term);
        return;
      case "tmpl":
        t.exprs.forEach(term);
        return;
      case "arraycomp":
      case "setcomp":
        term(t.head);
        body(t.body);
        return;
      case "objcomp":
        term(t.key);
        term(t.value);
        body(t.body);
        return;
      default:
        return;
    }
  };
  const body = (b: Expr[]) => {
    for (const e of b) {
      if (e.k === "term") term(e.term);
      else if (e.k === "somein") {
        term(e.domain);
        term(e.key);
        term(e.value);
      } else if (e.k === "every") {
        term(e.domain);
        body(e.body);
      }
      // refs in with targets and values count, as in OPA's rule graph: a rule replacing itself is recursive
      for (const w of e.with) {
        term(w.target);
        term(w.value);
      }
    }
  };
  body(r.body);
  r.dyn.forEach(term);
  term(r.key);
  term(r.value);
  r.args?.forEach(term);
}

/** ["a","b"] for a ref data.a.b with string parts. */
export function dataPath(t: Term): string[] | undefined {
  if (t.t !== "ref" || t.head.t !== "var" || t.head.name !== "data") return undefined;
  const out: string[] = [];
  for (const p of t.path) {
    if (p.t !== "val" || typeof p.v !== "string") return undefined;
    out.push(p.v);
  }
  return out;
}

/** When a `with` value names a function (builtin or user), its resolved call name. */
function functionNameOf(v: Term, ctx: NameCtx): string | undefined {
  const name = refName(v);
  if (!name) return undefined;
  const parts = name.split(".");
  const first = parts[0]!;
  let full: string[] | undefined;
  if (first === "data") full = parts.slice(1);
  else {
    const g = ctx.comp.resolveGlobal(ctx.m, first);
    if (g && g.length > 1 && (g[0] as { name: string }).name === "data")
      full = [...g.slice(1).map((x) => (x as { v: string }).v), ...parts.slice(1)];
  }
  if (full && ctx.comp.lookupNode(full)?.kind === "func") return "data." + full.join(".");
  if (ctx.comp.opts.builtins.has(name) || INTERNAL_CALLS[name] !== undefined) return name;
  return undefined;
}
