// Calls builtins through the registry the evaluator uses.
import { builtins } from "../../../rego/builtins/index.ts";
import type { BuiltinContext } from "../../../rego/builtins/api.ts";
import { BuiltinError } from "../../../rego/builtins/api.ts";
import type { Value } from "../../../rego/value.ts";
import { fromJSON, toJSON } from "../../../rego/value.ts";

export function ctx(): BuiltinContext & { lines: string[] } {
  const lines: string[] = [];
  let seed = 42;
  return {
    strict: true,
    nowNs: 1700000000000000000n,
    random: () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31,
    cache: new Map(),
    checkBudget: () => {},
    print: (l: string) => lines.push(l),
    lines,
  };
}

export function call(name: string, ...args: Value[]): Value | undefined {
  const def = builtins.get(name);
  if (!def) throw new Error(`no builtin ${name}`);
  if (def.relation) return [...def.fn(args, ctx())];
  return def.fn(args, ctx());
}

/** Calls with plain JSON arguments and returns plain JSON. */
export function callJ(name: string, ...args: unknown[]): unknown {
  const r = call(name, ...args.map(fromJSON));
  return r === undefined ? undefined : toJSON(r);
}

export function callErr(name: string, ...args: unknown[]): BuiltinError {
  try {
    call(name, ...args.map((a) => fromJSON(a)));
  } catch (e) {
    if (e instanceof BuiltinError) return e;
    throw e;
  }
  throw new Error(`${name} did not fail`);
}
