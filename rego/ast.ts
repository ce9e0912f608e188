// The Rego AST produced by the parser and annotated by the compiler.
import type { Location } from "./errors.ts";
import type { Value } from "./value.ts";

export type Term =
  | { t: "val"; v: Value; loc?: Location; raw?: string } // scalar literal; raw: a number's source text when not a plain integer (`1.0`, `1e3`)
  | { t: "var"; name: string; loc?: Location; slot?: number }
  | { t: "ref"; head: Term; path: Term[]; loc?: Location } // head[path0][path1]...; dot access is a string term
  | { t: "array"; items: Term[]; loc?: Location }
  | { t: "object"; items: [Term, Term][]; loc?: Location }
  | { t: "set"; items: Term[]; loc?: Location }
  | { t: "arraycomp"; head: Term; body: Expr[]; loc?: Location }
  | { t: "setcomp"; head: Term; body: Expr[]; loc?: Location }
  | { t: "objcomp"; key: Term; value: Term; body: Expr[]; loc?: Location }
  | { t: "call"; op: string; args: Term[]; loc?: Location; opRef?: Term } // op: dotted name (builtin or ref)
  | { t: "tmpl"; parts: string[]; exprs: Term[]; withs?: With[][]; loc?: Location };

export interface With {
  target: Term; // ref: input..., data..., or a function/builtin name
  value: Term;
  loc?: Location;
}

export type Expr =
  | { k: "term"; term: Term; negated: boolean; with: With[]; loc: Location } // a term or call expression
  | { k: "some"; vars: Term[]; loc: Location; negated: false; with: With[] } // some x, y
  | {
      k: "somein"; // some [k,] v in domain
      key?: Term;
      value: Term;
      domain: Term;
      loc: Location;
      negated: false;
      with: With[];
    }
  | {
      k: "every";
      key?: Term;
      value: Term;
      domain: Term;
      body: Expr[];
      loc: Location;
      negated: boolean;
      with: With[];
    }
  | { k: "not"; body: Expr[]; loc: Location; negated: true; with: With[] } // `not { body }` (future.keywords.not)
  | { k: "logic"; op: "and" | "or"; operands: Expr[][]; loc: Location; negated: false; with: With[] }; // a and b, a or b

export interface RuleHead {
  /** rule reference inside the package: first term is a var, rest are path terms (strings or vars/terms) */
  ref: Term[];
  args?: Term[]; // functions
  key?: Term; // `contains` key (partial set)
  value?: Term; // := / = value; undefined means `true` for complete rules
  assign: boolean; // := used
  contains: boolean;
  loc: Location;
}

export interface Rule {
  /** METADATA annotations written above the rule (normalised JSON) */
  annotations?: Record<string, unknown>;
  head: RuleHead;
  body: Expr[];
  isDefault: boolean;
  else?: Rule;
  loc: Location;
  module: Module;
}

export interface Import {
  path: Term; // ref
  alias?: string;
  loc: Location;
}

export interface Module {
  /** METADATA annotations written above the package */
  annotations?: Record<string, unknown>;
  file: string;
  pkg: string[]; // path below data
  pkgLoc: Location;
  imports: Import[];
  rules: Rule[];
  regoVersion: "v0" | "v1";
  /** v0 module importing rego.v1: v1 keyword rules apply */
  v1Rules: boolean;
}
