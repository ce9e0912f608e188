// The builtin function interface between the evaluator (rego/eval*) and the builtin implementations
// (rego/builtins/*). The registry is `builtins: Map<string, BuiltinDef>` exported from rego/builtins/index.ts.
// Names are OPA's dotted names ("time.clock", "regex.match"); operators are builtins too ("equal", "plus", ...).
import type { Value } from "../value.ts";
import { typeName } from "../value.ts";

// ---------------------------------------------------------------------------------------------------------------
// Types used by the compiler's type checks (a small subset of OPA's types package)

export type Type =
  | { kind: "any"; of?: Type[] } // any value, or any of the listed types
  | { kind: "null" }
  | { kind: "boolean" }
  | { kind: "number" }
  | { kind: "string" }
  | { kind: "array"; of: Type } // array with elements of a type
  | { kind: "set"; of: Type }
  | { kind: "object"; key: Type; value: Type };

export const T = {
  any: { kind: "any" } as Type,
  null: { kind: "null" } as Type,
  boolean: { kind: "boolean" } as Type,
  number: { kind: "number" } as Type,
  string: { kind: "string" } as Type,
  array: (of: Type = { kind: "any" }): Type => ({ kind: "array", of }),
  set: (of: Type = { kind: "any" }): Type => ({ kind: "set", of }),
  object: (key: Type = { kind: "any" }, value: Type = { kind: "any" }): Type => ({ kind: "object", key, value }),
  anyOf: (...of: Type[]): Type => ({ kind: "any", of }),
};

/** Declared signature. `variadic` means the last arg type repeats (e.g. print). */
export interface BuiltinDecl {
  args: Type[];
  result?: Type; // omitted for relations' element or for builtins with no useful output type
  variadic?: Type;
}

// ---------------------------------------------------------------------------------------------------------------
// Context passed to every call

export interface BuiltinContext {
  /** strict builtin errors: errors are reported by the caller instead of making the call undefined */
  readonly strict: boolean;
  /** evaluation time in ns since epoch, stable for one query evaluation (time.now_ns) */
  readonly nowNs: bigint;
  /** seeded RNG for rand.intn / uuid.rfc4122 etc.: uniform in [0, 1), deterministic per seed */
  random(): number;
  /** per-query cache (e.g. rand.intn memoises per (str, n), regex compiled patterns); keyed by builtin-chosen string */
  readonly cache: Map<string, unknown>;
  /** call in long loops; throws a budget error (step/time limit exceeded or cancelled) */
  checkBudget(): void;
  /** output of print(): one line per call (the evaluator collects or discards) */
  print(line: string): void;
}

// ---------------------------------------------------------------------------------------------------------------
// Definitions

interface BuiltinBase {
  /** OPA's name, dotted, e.g. "time.clock" */
  name: string;
  decl: BuiltinDecl;
  /** result may differ between calls with equal arguments (time.now_ns, rand.intn, http.send) */
  nondeterministic?: boolean;
  /** deprecated builtins still callable under v0 (e.g. "re_match", "set_diff"); v1 rejects them at compile time */
  deprecated?: boolean;
}

/** A function: one output or undefined. Throw BuiltinError to fail. */
export interface FunctionBuiltin extends BuiltinBase {
  relation?: false;
  fn(args: Value[], ctx: BuiltinContext): Value | undefined;
}

/** A relation (e.g. walk): zero or more outputs, each bound in turn. */
export interface RelationBuiltin extends BuiltinBase {
  relation: true;
  fn(args: Value[], ctx: BuiltinContext): Iterable<Value>;
}

export type BuiltinDef = FunctionBuiltin | RelationBuiltin;

/** Arity is the number of declared arguments; the result is the extra last operand in Rego (`f(a, b, out)`). */
export function arity(def: BuiltinDef): number {
  return def.decl.args.length;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

export type BuiltinErrorCode = "eval_type_error" | "eval_builtin_error";

/**
 * A builtin failure. `message` is the full OPA message including the builtin's name, e.g.
 * "plus: operand 1 must be number but got string". Non-strict evaluation turns this into an undefined result.
 */
export class BuiltinError extends Error {
  constructor(
    readonly code: BuiltinErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "BuiltinError";
  }
}

/**
 * OPA's operand type error: `<name>: operand <pos> must be <expected> but got <actual>`.
 * pos is 1-based; expected is e.g. "number", "string", "one of {array, set}".
 */
export function operandTypeError(name: string, pos: number, expected: string, got: Value): BuiltinError {
  return new BuiltinError("eval_type_error", `${name}: operand ${pos} must be ${expected} but got ${typeName(got)}`);
}

/** Any other builtin failure: `<name>: <detail>` with code eval_builtin_error. */
export function builtinError(name: string, detail: string): BuiltinError {
  return new BuiltinError("eval_builtin_error", `${name}: ${detail}`);
}
