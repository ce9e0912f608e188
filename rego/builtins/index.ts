// The builtin registry: every builtin the engine knows, by OPA's name.
import type { Value } from "../value.ts";
import { isSet, makeObject, makeSet, toRegoString } from "../value.ts";
import { ipString, parseIP } from "./lib/ip.ts";
import type { BuiltinDef } from "./api.ts";
import { B, OBJ, S, T, fn, obj, operandErr, plainErr, str } from "./util.ts";
import { numberBuiltins } from "./numbers.ts";
import { collectionBuiltins } from "./collections.ts";
import { stringBuiltins } from "./strings.ts";
import { regexBuiltins } from "./regex.ts";
import { timeBuiltins } from "./time.ts";
import { encodingBuiltins } from "./encoding.ts";
import { extraBuiltins } from "./extra.ts";

const HTTP_SEND_KEYS = new Set([
  "method",
  "url",
  "body",
  "enable_redirect",
  "force_json_decode",
  "force_yaml_decode",
  "headers",
  "raw_body",
  "tls_use_system_certs",
  "tls_ca_cert",
  "tls_ca_cert_file",
  "tls_ca_cert_env_variable",
  "tls_client_cert",
  "tls_client_cert_file",
  "tls_client_cert_env_variable",
  "tls_client_key",
  "tls_client_key_file",
  "tls_client_key_env_variable",
  "tls_insecure_skip_verify",
  "tls_server_name",
  "timeout",
  "cache",
  "force_cache",
  "force_cache_duration_seconds",
  "raise_error",
  "caching_mode",
  "max_retry_attempts",
  "cache_ignored_headers",
]);

const NO_NETWORK = "not available in intent-sidecar (no network from policy evaluation)";

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
  // No runtime is configured inside the engine; OPA returns an empty object then.
  fn("opa.runtime", [], OBJ, () => makeObject([])),
  fn("test.sleep", [S], T.null, () => null),
  fn(
    "http.send",
    [T.object()],
    T.object(),
    (a) => {
      // Validate like OPA (so policies see the same type errors), then refuse: no network from policy evaluation.
      const req = obj(a, 0);
      const keys = req.keys();
      const invalid = keys.filter((k) => typeof k !== "string" || !HTTP_SEND_KEYS.has(k));
      if (invalid.length)
        throw operandErr(`operand 1 invalid request parameters(s): ${toRegoString(makeSet(invalid))}`);
      const missing = ["method", "url"].filter((k) => req.get(k) === undefined);
      if (missing.length)
        throw operandErr(`operand 1 missing required request parameters(s): ${toRegoString(makeSet(missing))}`);
      throw plainErr(NO_NETWORK);
    },
    { nondeterministic: true },
  ),
  fn(
    "net.lookup_ip_addr",
    [S],
    T.set(S),
    (a) => {
      // IP literals and localhost resolve without DNS (as Go's resolver does); anything else needs the network.
      const name = str(a, 0);
      const addr = parseIP(name);
      if (addr) return makeSet([ipString(addr)]);
      if (/^(.+\.)?localhost\.?$/i.test(name)) return makeSet(["127.0.0.1", "::1"]);
      throw plainErr(NO_NETWORK);
    },
    { nondeterministic: true },
  ),
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
