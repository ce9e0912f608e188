// The builtin registry: every builtin the engine knows, by OPA's name.
import type { Value } from "../value.ts";
import { isSet, makeObject, makeSet, toRegoString } from "../value.ts";
import { ipString, parseIP } from "./lib/ip.ts";
import type { BuiltinDef } from "./api.ts";
import { A, B, OBJ, S, T, fn, plainErr, str } from "./util.ts";
import { numberBuiltins } from "./numbers.ts";
import { collectionBuiltins } from "./collections.ts";
import { stringBuiltins } from "./strings.ts";
import { regexBuiltins } from "./regex.ts";
import { timeBuiltins } from "./time.ts";
import { encodingBuiltins } from "./encoding.ts";
import { extraBuiltins } from "./extra.ts";

const NO_NETWORK = "not available in intent-sidecar (no network from policy evaluation)";

function unavailable(name: string, args: number): BuiltinDef {
  return fn(name, Array.from({ length: args }, () => A), A, () => {
    throw plainErr(NO_NETWORK);
  }, { nondeterministic: true });
}

function printArg(v: Value): string[] {
  if (!isSet(v)) return [typeof v === "string" ? v : toRegoString(v)];
  const vs = v.values();
  if (vs.length === 0) return ["<undefined>"];
  return vs.map((x) => (typeof x === "string" ? x : toRegoString(x)));
}

const runtimeBuiltins: BuiltinDef[] = [
  {
    name: "print",
    decl: { args: [], variadic: T.any },
    fn(args, ctx) {
      // Each operand is the set of values of one print argument (the compiler wraps them); print the cross product.
      const cols = args.map(printArg);
      const emit = (i: number, acc: string[]) => {
        if (i === cols.length) {
          ctx.print(acc.join(" "));
          return;
        }
        for (const s of cols[i]!) emit(i + 1, [...acc, s]);
      };
      emit(0, []);
      return true;
    },
  },
  fn("trace", [S], B, (a) => {
    str(a, 0);
    return true;
  }),
  fn("opa.runtime", [], OBJ, () => makeObject([["env", makeObject([])], ["version", "1.8.0-intent-sidecar"]])),
  fn("test.sleep", [S], T.null, () => null),
  unavailable("http.send", 1),
  fn("net.lookup_ip_addr", [S], T.set(S), (a) => {
    // IP literals and localhost resolve without DNS (as Go's resolver does); anything else needs the network.
    const name = str(a, 0);
    const addr = parseIP(name);
    if (addr) return makeSet([ipString(addr)]);
    if (/^(.+\.)?localhost\.?$/i.test(name)) return makeSet(["127.0.0.1", "::1"]);
    throw plainErr(NO_NETWORK);
  }, { nondeterministic: true }),
];

const all: BuiltinDef[] = [
  ...numberBuiltins,
  ...collectionBuiltins,
  ...stringBuiltins,
  ...regexBuiltins,
  ...timeBuiltins,
  ...encodingBuiltins,
  ...extraBuiltins,
  ...runtimeBuiltins,
];

export const builtins: Map<string, BuiltinDef> = new Map(all.map((d) => [d.name, d]));
