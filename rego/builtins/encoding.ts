// json.*, yaml.*, base64*, hex.*, urlquery.* builtins (OPA topdown/encoding.go, json.go).
import YAML from "yaml";
import type { Value, RObject } from "../value.ts";
import {
  RObject as RObjectClass,
  equals,
  fromJSON,
  isNumber,
  isObject,
  isSet,
  makeObject,
  makeSet,
  parseJSON,
  toJSON,
  toJSONString,
  toNumber,
} from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, ARR, B, OBJ, S, SET, T, anyOf, fn, obj, operandErr, plainErr, str, typeErr } from "./util.ts";
import { elemErr } from "./collections.ts";
import { b64urlBytes } from "./jwt.ts";
import { goJSONSyntaxError } from "./lib/gojson.ts";

// ---- JSON ----

/** Compact JSON like OPA's json.marshal; objects with only string keys take a fast path (keys are cached sorted). */
function marshal(v: Value): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
    case "bigint":
      return toJSONString(v);
  }
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) out += (i ? "," : "") + marshal(v[i]!);
    return out + "]";
  }
  if (isObject(v)) {
    if (v.comp !== undefined) return toJSONString(v);
    const keys = v.keys();
    let out = "{";
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (typeof k !== "string") return toJSONString(v);
      out += (i ? "," : "") + JSON.stringify(k) + ":" + marshal(v.get(k)!);
    }
    return out + "}";
  }
  return toJSONString(v);
}

/**
 * Go's json.Marshal escapes <, >, & and U+2028/U+2029 inside strings (they never occur outside strings in JSON
 * text, so the whole output can be rewritten).
 */
const HTML_CHARS = /[<>&\u2028\u2029]/g;
function goEscapeHTML(json: string): string {
  HTML_CHARS.lastIndex = 0;
  if (!HTML_CHARS.test(json)) return json;
  return json.replace(HTML_CHARS, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

function marshalIndent(v: Value, prefix: string, indent: string): string {
  const compact = goEscapeHTML(toJSONString(v, indent === "" ? undefined : indent));
  if (indent === "") {
    // Go's MarshalIndent with an empty indent still breaks lines
    return (
      prefix +
      goEscapeHTML(toJSONString(v, "\u0000"))
        .split("\u0000")
        .join("")
        .replace(/\n/g, "\n" + prefix)
    );
  }
  return prefix + compact.replace(/\n/g, "\n" + prefix);
}

function jsonUnmarshal(s: string): Value {
  try {
    return parseJSON(s);
  } catch (e) {
    throw plainErr(goJSONSyntaxError(s) ?? (e instanceof Error ? e.message : String(e)));
  }
}

/** Split a json.filter/json.remove path: "a/b" or ["a", "b"]. */
function pathSegments(p: Value, pos: number, name: "filter" | "remove"): Value[] {
  if (typeof p === "string") {
    const t = p.replace(/^\/+/, "");
    return t === "" ? [] : t.split("/").map((seg) => seg.replace(/~1/g, "/").replace(/~0/g, "~"));
  }
  if (Array.isArray(p)) return p;
  if (name === "remove")
    throw operandErr(
      `operand ${pos} must be one of {set, array} containing string paths or array of path segments but got ${typeNameOf(p)}`,
    );
  throw operandErr(
    `operand ${pos} must be one of {set, array} containing string paths or array of path segments but got ${typeNameOf(p)}`,
  );
}

function typeNameOf(v: Value): string {
  return v === null
    ? "null"
    : Array.isArray(v)
      ? "array"
      : isObject(v)
        ? "object"
        : isSet(v)
          ? "set"
          : typeof v === "bigint"
            ? "number"
            : typeof v;
}

interface PathTree {
  leaf: boolean;
  kids: Map<string, PathTree>;
}

function keyStr(k: Value): string {
  return typeof k === "string" ? k : toJSONString(k);
}

function buildTree(paths: Value[][]): PathTree {
  const root: PathTree = { leaf: false, kids: new Map() };
  for (const p of paths) {
    let n = root;
    if (p.length === 0) n.leaf = true;
    for (const seg of p) {
      const k = keyStr(seg);
      let c = n.kids.get(k);
      if (!c) n.kids.set(k, (c = { leaf: false, kids: new Map() }));
      n = c;
    }
    n.leaf = true;
  }
  return root;
}

function filterValue(v: Value, t: PathTree): Value | undefined {
  if (t.leaf) return v;
  if (isObject(v)) {
    const out = new RObjectClass();
    for (const k of v.keys()) {
      const sub = t.kids.get(keyStr(k));
      if (!sub) continue;
      const f = filterValue(v.get(k)!, sub);
      if (f !== undefined) out.set(k, f);
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, i) => {
      const sub = t.kids.get(String(i));
      if (!sub) return;
      const f = filterValue(x, sub);
      if (f !== undefined) out.push(f);
    });
    return out;
  }
  if (isSet(v)) {
    const out = makeSet([]);
    for (const x of v.values()) {
      const sub = t.kids.get(keyStr(x));
      if (!sub) continue;
      const f = filterValue(x, sub);
      if (f !== undefined) out.add(f);
    }
    return out;
  }
  return undefined;
}

function removeValue(v: Value, t: PathTree): Value | undefined {
  if (t.leaf) return undefined;
  if (isObject(v)) {
    const out = new RObjectClass();
    for (const k of v.keys()) {
      const sub = t.kids.get(keyStr(k));
      if (!sub) {
        out.set(k, v.get(k)!);
        continue;
      }
      const r = removeValue(v.get(k)!, sub);
      if (r !== undefined) out.set(k, r);
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out: Value[] = [];
    v.forEach((x, i) => {
      const sub = t.kids.get(String(i));
      if (!sub) {
        out.push(x);
        return;
      }
      const r = removeValue(x, sub);
      if (r !== undefined) out.push(r);
    });
    return out;
  }
  if (isSet(v)) {
    const out = makeSet([]);
    for (const x of v.values()) {
      const sub = t.kids.get(keyStr(x));
      if (!sub) {
        out.add(x);
        continue;
      }
      const r = removeValue(x, sub);
      if (r !== undefined) out.add(r);
    }
    return out;
  }
  return v;
}

function pathsParam(v: Value, name: "filter" | "remove"): Value[][] {
  const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
  if (!xs) throw typeErr(2, v, "set", "array");
  return xs.map((p) => pathSegments(p, 2, name));
}

// ---- JSON patch (RFC 6902) over Rego values ----

function pointer(p: Value): Value[] {
  if (Array.isArray(p)) return p;
  if (typeof p !== "string") throw plainErr("invalid patch path");
  if (p === "") return [];
  const t = p.startsWith("/") ? p.slice(1) : p;
  return t.split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function childKey(container: Value, seg: Value, forAdd: boolean): Value | undefined {
  if (isObject(container)) {
    if (container.has(seg)) return seg;
    if (typeof seg !== "string") return seg;
    return seg;
  }
  if (Array.isArray(container)) {
    if (forAdd && seg === "-") return container.length;
    const n =
      typeof seg === "string" ? (/^(0|[1-9]\d*)$/.test(seg) ? Number(seg) : NaN) : isNumber(seg) ? toNumber(seg) : NaN;
    if (!Number.isInteger(n)) return undefined;
    return n;
  }
  if (isSet(container)) return seg;
  return undefined;
}

function getAt(doc: Value, path: Value[]): Value | undefined {
  let cur: Value = doc;
  for (const seg of path) {
    const k = childKey(cur, seg, false);
    if (k === undefined) return undefined;
    if (isObject(cur)) {
      const n = cur.get(k);
      if (n === undefined) return undefined;
      cur = n;
    } else if (Array.isArray(cur)) {
      const i = k as number;
      if (i < 0 || i >= cur.length) return undefined;
      cur = cur[i]!;
    } else if (isSet(cur)) {
      if (!cur.has(k)) return undefined;
      cur = k;
    } else return undefined;
  }
  return cur;
}

/** Returns a copy of doc with f applied to the parent container of path (copy-on-write along the path). */
function updateAt(doc: Value, path: Value[], f: (parent: Value, key: Value) => Value | undefined): Value | undefined {
  if (path.length === 0) return undefined;
  const [seg, ...rest] = path;
  if (rest.length === 0) return f(doc, seg!);
  const k = childKey(doc, seg!, false);
  if (k === undefined) return undefined;
  if (isObject(doc)) {
    const c = doc.get(k);
    if (c === undefined) return undefined;
    const nc = updateAt(c, rest, f);
    if (nc === undefined) return undefined;
    const out = makeObject(doc.entries());
    out.set(k, nc);
    return out;
  }
  if (Array.isArray(doc)) {
    const i = k as number;
    if (i < 0 || i >= doc.length) return undefined;
    const nc = updateAt(doc[i]!, rest, f);
    if (nc === undefined) return undefined;
    const out = doc.slice();
    out[i] = nc;
    return out;
  }
  if (isSet(doc)) {
    if (!doc.has(k)) return undefined;
    const nc = updateAt(k, rest, f);
    if (nc === undefined) return undefined;
    const out = makeSet(doc.values().filter((x) => !equals(x, k)));
    out.add(nc);
    return out;
  }
  return undefined;
}

function addOp(doc: Value, path: Value[], value: Value): Value | undefined {
  if (path.length === 0) return value;
  return updateAt(doc, path, (parent, seg) => {
    if (isObject(parent)) {
      const out = makeObject(parent.entries());
      out.set(seg, value);
      return out;
    }
    if (Array.isArray(parent)) {
      const k = childKey(parent, seg, true);
      if (k === undefined) return undefined;
      const i = k as number;
      if (i < 0 || i > parent.length) return undefined;
      const out = parent.slice();
      out.splice(i, 0, value);
      return out;
    }
    if (isSet(parent)) {
      if (!equals(seg, value)) return undefined;
      const out = makeSet(parent.values());
      out.add(value);
      return out;
    }
    return undefined;
  });
}

function removeOp(doc: Value, path: Value[]): Value | undefined {
  if (path.length === 0) return undefined;
  return updateAt(doc, path, (parent, seg) => {
    if (isObject(parent)) {
      if (!parent.has(seg)) return undefined;
      const out = makeObject(parent.entries());
      out.delete(seg);
      return out;
    }
    if (Array.isArray(parent)) {
      const k = childKey(parent, seg, false);
      if (k === undefined) return undefined;
      const i = k as number;
      if (i < 0 || i >= parent.length) return undefined;
      const out = parent.slice();
      out.splice(i, 1);
      return out;
    }
    if (isSet(parent)) {
      if (!parent.has(seg)) return undefined;
      return makeSet(parent.values().filter((x) => !equals(x, seg)));
    }
    return undefined;
  });
}

function applyPatch(doc: Value, patches: Value[]): Value | undefined {
  let cur: Value | undefined = doc;
  for (const p of patches) {
    if (!isObject(p)) throw plainErr("patch must be an object");
    const op = p.get("op");
    const pathV = p.get("path");
    if (typeof op !== "string") throw plainErr("patch is missing op");
    if (pathV === undefined) throw plainErr("patch is missing path");
    const path = pointer(pathV);
    switch (op) {
      case "add": {
        const v = p.get("value");
        if (v === undefined) throw plainErr("patch is missing value");
        cur = addOp(cur!, path, v);
        break;
      }
      case "remove":
        cur = removeOp(cur!, path);
        break;
      case "replace": {
        const v = p.get("value");
        if (v === undefined) throw plainErr("patch is missing value");
        if (getAt(cur!, path) === undefined) return undefined;
        cur = path.length === 0 ? v : removeOp(cur!, path);
        if (cur !== undefined && path.length > 0) cur = addOp(cur, path, v);
        break;
      }
      case "move":
      case "copy": {
        const fromV = p.get("from");
        if (fromV === undefined) throw plainErr("patch is missing from");
        const from = pointer(fromV);
        const v = getAt(cur!, from);
        if (v === undefined) return undefined;
        if (op === "move") cur = removeOp(cur!, from);
        if (cur !== undefined) cur = addOp(cur, path, v);
        break;
      }
      case "test": {
        const v = p.get("value");
        const got = getAt(cur!, path);
        if (v === undefined || got === undefined || !equals(v, got)) return undefined;
        break;
      }
      default:
        throw plainErr(`invalid patch operation ${JSON.stringify(op)}`);
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

// ---- YAML ----

function yamlUnmarshal(s: string): Value {
  let doc: unknown;
  try {
    // go-yaml v2 decodes timestamp-like scalars into interface{} as strings (sigs.k8s.io/yaml, as OPA uses it)
    doc = YAML.parse(s, {
      intAsBigInt: true,
      uniqueKeys: false,
      version: "1.1",
      strict: false,
      maxAliasCount: 1000,
      customTags: (tags) => tags.filter((t) => typeof t === "string" || t.tag !== "tag:yaml.org,2002:timestamp"),
    });
  } catch (e) {
    throw plainErr(goYamlError(e));
  }
  // YAML's .inf / .nan have no JSON form: sigs.k8s.io/yaml fails converting the document to JSON
  const bad = nonFinite(doc);
  if (bad !== undefined) throw plainErr(`json: unsupported value: ${bad}`);
  return fromJSON(normalizeYaml(doc));
}

function nonFinite(v: unknown): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  if (v instanceof Map) {
    for (const [k, x] of v) {
      const r = nonFinite(k) ?? nonFinite(x);
      if (r) return r;
    }
    return undefined;
  }
  if (Array.isArray(v) || v instanceof Set) {
    for (const x of v) {
      const r = nonFinite(x);
      if (r) return r;
    }
    return undefined;
  }
  if (v && typeof v === "object" && !(v instanceof Date)) {
    for (const x of Object.values(v)) {
      const r = nonFinite(x);
      if (r) return r;
    }
  }
  return undefined;
}

/** go-yaml's wording for the common syntax errors (`yaml: line N: ...`). */
function goYamlError(e: unknown): string {
  const err = e as { message?: string; code?: string; linePos?: { line: number }[] };
  const msg = (err.message ?? String(e)).split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  const line = err.linePos?.[0]?.line ?? 1;
  let text = msg;
  if (/Flow sequence must end with a \]/.test(msg)) text = "did not find expected ',' or ']'";
  else if (/Flow map must end with a \}/.test(msg)) text = "did not find expected ',' or '}'";
  else if (err.code === "BLOCK_AS_IMPLICIT_KEY") text = "mapping values are not allowed in this context";
  else if (err.code === "TAB_AS_INDENT" || err.code === "BAD_SCALAR_START")
    text = "found character that cannot start any token";
  else if (/Missing closing .?quote/.test(msg)) text = "found unexpected end of stream";
  return `yaml: line ${line}: ${text}`;
}

function normalizeYaml(v: unknown): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = normalizeYaml(x);
    return o;
  }
  if (v instanceof Set) return [...v].map(normalizeYaml);
  if (v instanceof Date) return v.toISOString().replace(".000Z", "Z");
  if (Array.isArray(v)) return v.map(normalizeYaml);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeYaml(x);
    return o;
  }
  return v;
}

function yamlMarshal(v: Value): string {
  const j = toJSON(v);
  // go-yaml v2 style (what OPA uses via sigs.k8s.io/yaml): sorted keys, sequences not indented under keys
  return YAML.stringify(j, { sortMapEntries: true, lineWidth: 0, version: "1.1", indentSeq: false });
}

// ---- base64 / hex / urlquery ----

const B64_STD = /^[A-Za-z0-9+/]*={0,2}$/;
const B64_URL = /^[A-Za-z0-9_-]*={0,2}$/;

function bytesToString(b: Uint8Array): string {
  return new TextDecoder("utf-8").decode(b);
}

function b64Decode(s: string, url: boolean): string {
  // Go's base64 decoders skip \r and \n anywhere in the input
  if (s.includes("\n") || s.includes("\r")) s = s.replace(/[\r\n]/g, "");
  const re = url ? B64_URL : B64_STD;
  if (!re.test(s) || s.length % 4 !== 0) {
    // find the first illegal byte like Go
    let i = 0;
    for (; i < s.length; i++) if (!(url ? /[A-Za-z0-9_=-]/ : /[A-Za-z0-9+/=]/).test(s[i]!)) break;
    if (i === s.length) i = s.length - (s.length % 4 === 0 ? 0 : s.length % 4);
    throw plainErr(`illegal base64 data at input byte ${Math.max(0, i)}`);
  }
  return bytesToString(Buffer.from(s, url ? "base64url" : "base64"));
}

function queryEscape(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function queryUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "%") {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) {
        const bad = s.slice(i, i + 3);
        throw plainErr(`invalid URL escape ${JSON.stringify(bad)}`);
      }
      bytes.push(parseInt(h, 16));
      i += 2;
    } else if (c === "+") bytes.push(0x20);
    else for (const b of Buffer.from(c, "utf8")) bytes.push(b);
  }
  return bytesToString(Uint8Array.from(bytes));
}

function urlqueryEncodeObject(o: RObject): string {
  const parts: string[] = [];
  const keys = o.keys().map((k) => {
    if (typeof k !== "string") throw operandErr("operand 1 must be object[string: string|array[string]|set[string]]");
    return k;
  });
  keys.sort();
  for (const k of keys) {
    const v = o.get(k)!;
    const vals = typeof v === "string" ? [v] : Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
    if (!vals) throw operandErr("operand 1 must be object[string: string|array[string]|set[string]]");
    for (const x of vals) {
      if (typeof x !== "string") throw operandErr("operand 1 must be object[string: string|array[string]|set[string]]");
      parts.push(queryEscape(k) + "=" + queryEscape(x));
    }
  }
  return parts.join("&");
}

function urlqueryDecodeObject(s: string): Value {
  const out = new Map<string, string[]>();
  for (const part of s.split(/&/)) {
    if (part === "") continue;
    if (part.includes(";")) throw plainErr("invalid semicolon separator in query");
    const eq = part.indexOf("=");
    const k = queryUnescape(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? "" : queryUnescape(part.slice(eq + 1));
    const list = out.get(k) ?? [];
    list.push(v);
    out.set(k, list);
  }
  return makeObject([...out].map(([k, v]) => [k, v] as [Value, Value]));
}

function marshalWithOptions(v: Value, opts: RObject): string {
  let pretty: boolean | undefined;
  let prefix = "";
  let indent = "\t";
  let hasIndentOrPrefix = false;
  for (const k of opts.keys()) {
    const x = opts.get(k)!;
    if (k === "pretty") {
      if (typeof x !== "boolean") throw operandErr(`operand 2 pretty must be boolean`);
      pretty = x;
    } else if (k === "prefix") {
      if (typeof x !== "string") throw operandErr(`operand 2 prefix must be string`);
      prefix = x;
      hasIndentOrPrefix = true;
    } else if (k === "indent") {
      if (typeof x !== "string") throw operandErr(`operand 2 indent must be string`);
      indent = x;
      hasIndentOrPrefix = true;
    } else
      throw operandErr(
        `operand 2 object contained unknown key ${JSON.stringify(typeof k === "string" ? k : toJSONString(k))}`,
      );
  }
  if (pretty === false || (pretty === undefined && !hasIndentOrPrefix)) return goEscapeHTML(toJSONString(v));
  return marshalIndent(v, prefix, indent);
}

export const encodingBuiltins: BuiltinDef[] = [
  fn("json.marshal", [A], S, (a) => goEscapeHTML(marshal(a[0]!))),
  fn("json.marshal_with_options", [A, OBJ], S, (a) => marshalWithOptions(a[0]!, obj(a, 1))),
  fn("json.unmarshal", [S], A, (a) => jsonUnmarshal(str(a, 0))),
  fn("json.is_valid", [S], B, (a) => {
    if (typeof a[0] !== "string") return false;
    try {
      JSON.parse(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  fn("json.filter", [OBJ, anyOf(ARR, SET)], A, (a) => {
    const o = obj(a, 0);
    return filterValue(o, buildTree(pathsParam(a[1]!, "filter"))) ?? new RObjectClass();
  }),
  fn("json.remove", [OBJ, anyOf(ARR, SET)], A, (a) => {
    const o = obj(a, 0);
    const paths = pathsParam(a[1]!, "remove");
    return removeValue(o, buildTree(paths)) ?? new RObjectClass();
  }),
  fn("json.patch", [A, T.array(OBJ)], A, (a) => {
    const ps = a[1]!;
    if (!Array.isArray(ps)) throw typeErr(2, ps, "array");
    for (const p of ps) if (!isObject(p)) throw elemErr(2, ps, p, "object");
    return applyPatch(a[0]!, ps);
  }),
  fn("yaml.marshal", [A], S, (a) => yamlMarshal(a[0]!)),
  fn("yaml.unmarshal", [S], A, (a) => yamlUnmarshal(str(a, 0))),
  fn("yaml.is_valid", [A], B, (a) => {
    if (typeof a[0] !== "string") return false;
    try {
      yamlUnmarshal(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  fn("base64.encode", [S], S, (a) => Buffer.from(str(a, 0), "utf8").toString("base64")),
  fn("base64.decode", [S], S, (a) => b64Decode(str(a, 0), false)),
  fn("base64.is_valid", [A], B, (a) => typeof a[0] === "string" && B64_STD.test(a[0]) && a[0].length % 4 === 0),
  fn("base64url.encode", [S], S, (a) => {
    const s = Buffer.from(str(a, 0), "utf8").toString("base64url");
    return s + "=".repeat((4 - (s.length % 4)) % 4);
  }),
  fn("base64url.encode_no_pad", [S], S, (a) => Buffer.from(str(a, 0), "utf8").toString("base64url")),
  fn("base64url.decode", [S], S, (a) => bytesToString(b64urlBytes(str(a, 0)))),
  fn("hex.encode", [S], S, (a) => Buffer.from(str(a, 0), "utf8").toString("hex")),
  fn("hex.decode", [S], S, (a) => {
    const s = str(a, 0);
    for (let i = 0; i < s.length; i++) {
      if (!/[0-9a-fA-F]/.test(s[i]!)) {
        const cp = s.codePointAt(i)!;
        throw plainErr(
          `encoding/hex: invalid byte: U+${cp.toString(16).toUpperCase().padStart(4, "0")} ${quoteRune(s[i]!)}`,
        );
      }
    }
    if (s.length % 2 === 1) throw plainErr("encoding/hex: odd length hex string");
    return bytesToString(Buffer.from(s, "hex"));
  }),
  fn("urlquery.encode", [S], S, (a) => queryEscape(str(a, 0))),
  fn("urlquery.decode", [S], S, (a) => queryUnescape(str(a, 0))),
  fn("urlquery.encode_object", [OBJ], S, (a) => urlqueryEncodeObject(obj(a, 0))),
  fn("urlquery.decode_object", [S], OBJ, (a) => urlqueryDecodeObject(str(a, 0))),
];

function quoteRune(c: string): string {
  return c === "'" ? "'\\''" : `'${c}'`;
}

export { queryEscape, queryUnescape, yamlUnmarshal, jsonUnmarshal };
