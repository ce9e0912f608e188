// Libraries some builtins need but most policies never call (graphql for graphql.*, @peculiar/x509 for crypto.x509.*):
// loaded on first need instead of when the engine is imported, so a daemon whose policy does not call them does not
// carry them (issue "Real packages and a lean runtime": idle RSS). The evaluator is synchronous, so a caller that can
// wait (the network block's compile) awaits `loadLibrariesFor(compiled)` after compiling; a builtin reached without
// that (the Rego test runner, `intent-sidecar policy eval`) loads its library synchronously from node_modules.
import { createRequire } from "node:module";
import type * as GraphQL from "graphql";
import type * as X509 from "@peculiar/x509";

export interface Libraries {
  graphql: typeof GraphQL;
  x509: typeof X509;
}
type Lib = keyof Libraries;

// Separate dynamic imports: esbuild puts each library in its own chunk, read only when awaited.
const loaders: { [K in Lib]: () => Promise<Libraries[K]> } = {
  graphql: () => import("graphql"),
  x509: async () => {
    await import("reflect-metadata"); // @peculiar/x509's dependency injection needs the Reflect metadata API first
    return import("@peculiar/x509");
  },
};
const specifiers: Record<Lib, string[]> = { graphql: ["graphql"], x509: ["reflect-metadata", "@peculiar/x509"] };

const loaded: Partial<Libraries> = {};
const pending = new Map<Lib, Promise<void>>();
const byBuiltin = new Map<string, Lib>();

/** Marks builtins (by OPA name) as needing a library. */
export function registerLazyBuiltins(lib: Lib, names: Iterable<string>): void {
  for (const n of names) byBuiltin.set(n, lib);
}

/** The library, for a builtin's body: loaded already, or loaded now synchronously from node_modules. */
export function library<K extends Lib>(lib: K): Libraries[K] {
  const have = loaded[lib];
  if (have) return have;
  const req = createRequire(import.meta.url);
  let mod: unknown;
  for (const s of specifiers[lib]) mod = req(s);
  loaded[lib] = mod as Libraries[K];
  return mod as Libraries[K];
}

export function libraryLoaded(lib: Lib): boolean {
  return loaded[lib] !== undefined;
}

/** Loads the libraries of the named builtins that need one (idempotent, concurrent calls share the load). */
export async function loadLibraries(builtinNames: Iterable<string>): Promise<void> {
  const libs = new Set<Lib>();
  for (const n of builtinNames) {
    const lib = byBuiltin.get(n);
    if (lib && !loaded[lib]) libs.add(lib);
  }
  await Promise.all(
    [...libs].map((lib) => {
      let p = pending.get(lib);
      if (!p) {
        p = loaders[lib]().then(
          (m) => {
            loaded[lib] ??= m as never;
          },
          (e: unknown) => {
            pending.delete(lib);
            throw e;
          },
        );
        pending.set(lib, p);
      }
      return p;
    }),
  );
}

/** The builtins a compiled policy calls (every `{ t: "call", op }` node in its modules). */
export function calledBuiltins(compiled: { modules: unknown }): Set<string> {
  const ops = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [compiled.modules];
  while (stack.length) {
    const x = stack.pop();
    if (x === null || typeof x !== "object" || seen.has(x)) continue;
    seen.add(x);
    if (Array.isArray(x)) {
      for (const y of x) stack.push(y);
      continue;
    }
    if (x instanceof Map) {
      for (const y of x.values()) stack.push(y);
      continue;
    }
    const o = x as { t?: unknown; op?: unknown };
    if (o.t === "call" && typeof o.op === "string") ops.add(o.op);
    for (const y of Object.values(o)) stack.push(y);
  }
  return ops;
}

/** Loads what a compiled policy's builtins need, so evaluation never loads a library on the request path. */
export async function loadLibrariesFor(compiled: { modules: unknown }): Promise<void> {
  const ops = [...calledBuiltins(compiled)].filter((n) => byBuiltin.has(n));
  if (ops.length) await loadLibraries(ops);
}

/** Loads every lazily loaded library: for the CLI's `policy test` / `policy eval`, where start-up latency does not
 * matter and, in the installed package, the libraries live in the bundle, not in node_modules. */
export async function loadAllLibraries(): Promise<void> {
  await loadLibraries(byBuiltin.keys());
}
