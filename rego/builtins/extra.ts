// Builtin families beyond the operators: units, net, semver, crypto hashes/HMAC, uuid, uri, graph.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Value } from "../value.ts";
import { canonicalKey, isObject, isSet, makeObject, makeSet, normInt } from "../value.ts";
import type { BuiltinContext, BuiltinDef } from "./api.ts";
import { A, B, N, OBJ, S, T, anyOf, fn, plainErr, str, typeErr } from "./util.ts";
import { netBuiltins } from "./net.ts";
import { jwtBuiltins } from "./jwt.ts";
import { graphqlBuiltins } from "./graphql.ts";
import { awsBuiltins } from "./aws.ts";
import { x509Builtins } from "./x509.ts";
import { jsonSchemaBuiltins } from "./jsonschema.ts";
import { parseModuleBuiltins } from "./parsemodule.ts";
import { parseBytes, parseUnits } from "./lib/units.ts";
import { compareSemver, parseSemver } from "./lib/semver.ts";
import { parseUUID, uuidV4 } from "./lib/uuid.ts";
import { parseURI } from "./lib/uri.ts";

function unitsResult(r: bigint | string): Value {
  return typeof r === "bigint" ? normInt(r) : Number(r);
}

const hash = (name: string, algo: string): BuiltinDef =>
  fn(name, [S], S, (a) => createHash(algo).update(str(a, 0), "utf8").digest("hex"));
const hmac = (name: string, algo: string): BuiltinDef =>
  fn(name, [S, S], S, (a) =>
    createHmac(algo, Buffer.from(str(a, 1), "utf8"))
      .update(str(a, 0), "utf8")
      .digest("hex"),
  );

function semverOperand(a: Value[], i: number): ReturnType<typeof parseSemver> & object {
  const s = str(a, i);
  const v = parseSemver(s);
  if (!v) throw plainErr(`operand ${i + 1}: string ${JSON.stringify(s)} is not a valid SemVer`);
  return v;
}

/** graph.reachable: breadth-first over an adjacency object whose values are arrays or sets of node ids. */
function neighbours(graph: Value, node: Value): Value[] {
  if (!isObject(graph)) return [];
  const e = graph.get(node);
  if (e === undefined || e === null) return [];
  if (Array.isArray(e)) return e;
  if (isSet(e)) return e.values();
  return [];
}

function reachable(graph: Value, initial: Value): Value {
  const start = Array.isArray(initial) ? initial : isSet(initial) ? initial.values() : undefined;
  if (!start) throw typeErr(2, initial, "set", "array");
  const seen = makeSet([]);
  const queue = [...start];
  while (queue.length) {
    const n = queue.shift()!;
    if (seen.has(n)) continue;
    if (!isObject(graph) || graph.get(n) === undefined) continue;
    seen.add(n);
    for (const m of neighbours(graph, n)) if (!seen.has(m)) queue.push(m);
  }
  return seen;
}

function reachablePaths(graph: Value, initial: Value, ctx: BuiltinContext): Value {
  const start = Array.isArray(initial) ? initial : isSet(initial) ? initial.values() : undefined;
  if (!start) throw typeErr(2, initial, "set", "array");
  const out = makeSet([]);
  let steps = 0;
  const walk = (node: Value, path: Value[], onPath: Set<string>) => {
    // the number of paths can grow exponentially with the graph: stay within the evaluation budget
    if (++steps % 1024 === 0) ctx.checkBudget();
    const key = canonicalKey(node);
    if (!isObject(graph) || graph.get(node) === undefined) {
      if (path.length) out.add(path);
      return;
    }
    const p = [...path, node];
    const next = neighbours(graph, node).filter((m) => !onPath.has(canonicalKey(m)));
    if (next.length === 0) {
      out.add(p);
      return;
    }
    onPath.add(key);
    for (const m of next) walk(m, p, onPath);
    onPath.delete(key);
  };
  for (const s of start) walk(s, [], new Set());
  return out;
}

export const extraBuiltins: BuiltinDef[] = [
  ...netBuiltins,
  ...jwtBuiltins,
  ...graphqlBuiltins,
  ...awsBuiltins,
  ...x509Builtins,
  ...jsonSchemaBuiltins,
  ...parseModuleBuiltins,
  fn("units.parse", [S], N, (a) => unitsResult(parseUnits(str(a, 0)))),
  fn("units.parse_bytes", [S], N, (a) => normInt(parseBytes(str(a, 0)))),
  fn("semver.is_valid", [A], B, (a) => typeof a[0] === "string" && parseSemver(a[0]) !== undefined),
  fn("semver.compare", [S, S], N, (a) => {
    const x = semverOperand(a, 0);
    const y = semverOperand(a, 1);
    return compareSemver(x, y);
  }),
  hash("crypto.md5", "md5"),
  hash("crypto.sha1", "sha1"),
  hash("crypto.sha256", "sha256"),
  hmac("crypto.hmac.md5", "md5"),
  hmac("crypto.hmac.sha1", "sha1"),
  hmac("crypto.hmac.sha256", "sha256"),
  hmac("crypto.hmac.sha512", "sha512"),
  fn("crypto.hmac.equal", [S, S], B, (a) => {
    const x = Buffer.from(str(a, 0), "utf8");
    const y = Buffer.from(str(a, 1), "utf8");
    return x.length === y.length && timingSafeEqual(x, y);
  }),
  fn("uuid.parse", [S], OBJ, (a) => {
    const info = parseUUID(str(a, 0));
    if (!info) return undefined;
    const entries: [Value, Value][] = [];
    for (const [k, v] of Object.entries(info))
      if (v !== undefined) entries.push([k, typeof v === "bigint" ? normInt(v) : (v as Value)]);
    return makeObject(entries);
  }),
  fn(
    "uuid.rfc4122",
    [S],
    S,
    (a, ctx) => {
      const k = str(a, 0);
      const key = `uuid.rfc4122:${k}`;
      const hit = ctx.cache.get(key);
      if (hit !== undefined) return hit as string;
      const bytes = new Uint8Array(16);
      for (let i = 0; i < 16; i++) bytes[i] = Math.floor(ctx.random() * 256);
      const u = uuidV4(bytes);
      ctx.cache.set(key, u);
      return u;
    },
    { nondeterministic: true },
  ),
  fn("uri.parse", [S], OBJ, (a) => {
    const parts = parseURI(str(a, 0));
    return makeObject(Object.entries(parts).filter(([, v]) => v !== undefined && v !== "") as [Value, Value][]);
  }),
  fn("uri.is_valid", [A], B, (a) => {
    if (typeof a[0] !== "string" || a[0] === "") return false;
    try {
      const p = parseURI(a[0]);
      return p.scheme !== undefined;
    } catch {
      return false;
    }
  }),
  fn("graph.reachable", [T.object(A, anyOf(T.array(A), T.set(A))), anyOf(T.array(A), T.set(A))], T.set(A), (a) => {
    if (!isObject(a[0]!)) throw typeErr(1, a[0]!, "object");
    return reachable(a[0]!, a[1]!);
  }),
  fn(
    "graph.reachable_paths",
    [T.object(A, anyOf(T.array(A), T.set(A))), anyOf(T.array(A), T.set(A))],
    T.set(T.array(A)),
    (a, ctx) => {
      if (!isObject(a[0]!)) throw typeErr(1, a[0]!, "object");
      return reachablePaths(a[0]!, a[1]!, ctx);
    },
  ),
];
