// Shared helpers for builtin implementations: definition shorthands and OPA-style operand checks.
import type { Value, Num, RObject, RSet } from "../value.ts";
import { isNumber, isObject, isSet, typeName, toSafeInt, isInteger, toBigInt } from "../value.ts";
import type { BuiltinContext, BuiltinDef, Type, FunctionBuiltin, RelationBuiltin } from "./api.ts";
import { BuiltinError, operandTypeError, builtinError, T } from "./api.ts";

export { T, BuiltinError, builtinError, operandTypeError };

export type Impl = (args: Value[], ctx: BuiltinContext, name: string) => Value | undefined;

/** Define a function builtin. The implementation receives its own name for error messages. */
export function fn(
  name: string,
  args: Type[],
  result: Type | undefined,
  impl: Impl,
  extra: Partial<FunctionBuiltin> = {},
): BuiltinDef {
  return {
    name,
    decl: { args, result },
    fn: (a: Value[], ctx: BuiltinContext) => {
      try {
        return impl(a, ctx, name);
      } catch (e) {
        throw convertError(name, e);
      }
    },
    ...extra,
  } as FunctionBuiltin;
}

export function rel(
  name: string,
  args: Type[],
  result: Type | undefined,
  impl: (args: Value[], ctx: BuiltinContext, name: string) => Iterable<Value>,
): BuiltinDef {
  return {
    name,
    relation: true,
    decl: { args, result },
    fn: (a: Value[], ctx: BuiltinContext) => {
      try {
        return impl(a, ctx, name);
      } catch (e) {
        throw convertError(name, e);
      }
    },
  } as RelationBuiltin;
}

/** Plain Errors thrown by libraries become `<name>: <message>` builtin errors; operand errors become type errors. */
function convertError(name: string, e: unknown): BuiltinError {
  if (e instanceof BuiltinError) return e;
  if (e instanceof OperandError) return new BuiltinError("eval_type_error", `${name}: ${e.message}`);
  if (e instanceof Error) return builtinError(name, e.message);
  return builtinError(name, String(e));
}

/** An operand error raised from nested helpers that do not know the builtin's name. */
export class OperandError extends Error {}

export function typeErr(pos: number, got: Value, ...expected: string[]): OperandError {
  const exp = expected.length === 1 ? expected[0]! : `one of {${expected.join(", ")}}`;
  return new OperandError(`operand ${pos} must be ${exp} but got ${typeName(got)}`);
}

/** An operand error without a position prefix (OPA's builtins.ErrOperand / NewOperandErr): eval_type_error. */
export function operandErr(msg: string): OperandError {
  return new OperandError(msg);
}

/** Any other failure: eval_builtin_error with the builtin's name prefixed. */
export function plainErr(msg: string): Error {
  return new Error(msg);
}

export function num(args: Value[], i: number): Num {
  const v = args[i]!;
  if (!isNumber(v)) throw typeErr(i + 1, v, "number");
  return v;
}
export function str(args: Value[], i: number): string {
  const v = args[i]!;
  if (typeof v !== "string") throw typeErr(i + 1, v, "string");
  return v;
}
export function bool(args: Value[], i: number): boolean {
  const v = args[i]!;
  if (typeof v !== "boolean") throw typeErr(i + 1, v, "boolean");
  return v;
}
export function arr(args: Value[], i: number): Value[] {
  const v = args[i]!;
  if (!Array.isArray(v)) throw typeErr(i + 1, v, "array");
  return v;
}
export function obj(args: Value[], i: number): RObject {
  const v = args[i]!;
  if (!isObject(v)) throw typeErr(i + 1, v, "object");
  return v;
}
export function set(args: Value[], i: number): RSet {
  const v = args[i]!;
  if (!isSet(v)) throw typeErr(i + 1, v, "set");
  return v;
}

/** OPA's IntOperand: a number that is an integer that fits an int. */
export function int(args: Value[], i: number): number {
  const v = args[i]!;
  if (!isNumber(v)) throw typeErr(i + 1, v, "number");
  const n = toSafeInt(v);
  if (n === undefined) throw new OperandError(`operand ${i + 1} must be integer number but got floating-point number`);
  return n;
}

/** Elements of an array or set (OPA's many "array or set" operands). */
export function collection(args: Value[], i: number, ...expected: string[]): Value[] {
  const v = args[i]!;
  if (Array.isArray(v)) return v;
  if (isSet(v)) return v.values();
  throw typeErr(i + 1, v, ...(expected.length ? expected : ["array", "set"]));
}

export function isInt(n: Num): boolean {
  return isInteger(n);
}
export { toBigInt };

/** Map of definitions by name. */
export function registry(defs: BuiltinDef[]): Map<string, BuiltinDef> {
  return new Map(defs.map((d) => [d.name, d]));
}

/** Type shorthands. */
export const A = T.any;
export const N = T.number;
export const S = T.string;
export const B = T.boolean;
export const ARR = T.array();
export const OBJ = T.object();
export const SET = T.set();
export const anyOf = T.anyOf;
