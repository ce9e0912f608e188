// json.verify_schema / json.match_schema (OPA topdown/jsonschema.go on gojsonschema): a draft-07 validator with
// gojsonschema's error types and English messages.
import type { Value } from "../value.ts";
import { isObject, parseJSON, toJSON, toJSONString } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, OBJ, S, T, anyOf, fn, plainErr, typeErr } from "./util.ts";
import { compileRegex } from "./lib/re2.ts";

type J = unknown;
type Schema = Record<string, J> | boolean;

const TYPES = ["array", "boolean", "integer", "number", "null", "object", "string"];

class SchemaError extends Error {}

function jsonType(v: J): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "bigint") return "integer";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  if (typeof v === "object") return "object";
  return typeof v;
}

function checkSchema(s: J): void {
  if (typeof s === "boolean") return;
  if (!s || typeof s !== "object" || Array.isArray(s))
    throw new SchemaError("Invalid JSON schema: must be an object or boolean");
  const o = s as Record<string, J>;
  if (o.type !== undefined) {
    const ts = Array.isArray(o.type) ? o.type : [o.type];
    for (const t of ts) {
      if (typeof t !== "string" || !TYPES.includes(t)) {
        throw new SchemaError(
          `has a primitive type that is NOT VALID -- given: /${String(t)}/ Expected valid values are:[${TYPES.join(" ")}]`,
        );
      }
    }
  }
  for (const k of ["properties", "patternProperties", "definitions", "$defs"]) {
    const m = o[k];
    if (m && typeof m === "object") for (const v of Object.values(m as Record<string, J>)) checkSchema(v);
  }
  for (const k of [
    "items",
    "additionalProperties",
    "not",
    "additionalItems",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
  ]) {
    const v = o[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach(checkSchema);
    else checkSchema(v);
  }
  for (const k of ["allOf", "anyOf", "oneOf"]) if (Array.isArray(o[k])) (o[k] as J[]).forEach(checkSchema);
  if (typeof o.pattern === "string") {
    try {
      compileRegex(o.pattern);
    } catch {
      throw new SchemaError(`Invalid regex pattern '${o.pattern}'`);
    }
  }
}

interface Issue {
  type: string;
  field: string;
  desc: string;
}

function jsonEqual(a: J, b: J): boolean {
  return (
    JSON.stringify(sortKeys(a), (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ===
    JSON.stringify(sortKeys(b), (_k, v) => (typeof v === "bigint" ? v.toString() : v))
  );
}
function sortKeys(v: J): J {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, J>)[k])]),
    );
  return v;
}
function num(v: J): number {
  return typeof v === "bigint" ? Number(v) : (v as number);
}
function show(v: J): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));
}

function validate(root: Schema, schema: Schema, v: J, field: string, out: Issue[]): void {
  if (schema === true) return;
  if (schema === false) {
    out.push({ type: "false", field, desc: "False always fails validation" });
    return;
  }
  const s = schema;
  if (typeof s.$ref === "string") {
    const target = resolveRef(root, s.$ref);
    if (target !== undefined) validate(root, target, v, field, out);
    return;
  }
  const t = jsonType(v);
  if (s.type !== undefined) {
    const ts = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
    const ok = ts.some((x) => x === t || (x === "number" && t === "integer"));
    if (!ok) {
      out.push({ type: "invalid_type", field, desc: `Invalid type. Expected: ${ts.join(", ")}, given: ${t}` });
      return;
    }
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => jsonEqual(e, v))) {
    out.push({ type: "enum", field, desc: `${field} must be one of the following: ${s.enum.map(show).join(", ")}` });
  }
  if (s.const !== undefined && !jsonEqual(s.const, v))
    out.push({ type: "const", field, desc: `${field} does not match: ${show(s.const)}` });
  if (t === "integer" || t === "number") {
    const n = num(v);
    if (s.minimum !== undefined && n < num(s.minimum))
      out.push({ type: "number_gte", field, desc: `Must be greater than or equal to ${show(s.minimum)}` });
    if (s.maximum !== undefined && n > num(s.maximum))
      out.push({ type: "number_lte", field, desc: `Must be less than or equal to ${show(s.maximum)}` });
    if (typeof s.exclusiveMinimum === "number" && n <= s.exclusiveMinimum)
      out.push({ type: "number_gt", field, desc: `Must be greater than ${show(s.exclusiveMinimum)}` });
    if (typeof s.exclusiveMaximum === "number" && n >= s.exclusiveMaximum)
      out.push({ type: "number_lt", field, desc: `Must be less than ${show(s.exclusiveMaximum)}` });
    if (s.multipleOf !== undefined && num(s.multipleOf) !== 0 && !Number.isInteger(n / num(s.multipleOf)))
      out.push({ type: "multiple_of", field, desc: `Must be a multiple of ${show(s.multipleOf)}` });
  }
  if (t === "string") {
    const len = [...(v as string)].length;
    if (s.minLength !== undefined && len < num(s.minLength))
      out.push({
        type: "string_gte",
        field,
        desc: `String length must be greater than or equal to ${show(s.minLength)}`,
      });
    if (s.maxLength !== undefined && len > num(s.maxLength))
      out.push({ type: "string_lte", field, desc: `String length must be less than or equal to ${show(s.maxLength)}` });
    if (typeof s.pattern === "string" && !compileRegex(s.pattern).match(v as string))
      out.push({ type: "pattern", field, desc: `Does not match pattern '${s.pattern}'` });
  }
  if (t === "array") {
    const a = v as J[];
    if (s.minItems !== undefined && a.length < num(s.minItems))
      out.push({ type: "array_min_items", field, desc: `Array must have at least ${show(s.minItems)} items` });
    if (s.maxItems !== undefined && a.length > num(s.maxItems))
      out.push({ type: "array_max_items", field, desc: `Array must have at most ${show(s.maxItems)} items` });
    if (s.uniqueItems === true) {
      outer: for (let i = 0; i < a.length; i++)
        for (let j = i + 1; j < a.length; j++)
          if (jsonEqual(a[i], a[j])) {
            out.push({ type: "unique", field, desc: `array items[${i},${j}] must be unique` });
            break outer;
          }
    }
    if (Array.isArray(s.items)) {
      a.forEach((x, i) => {
        const sub = (s.items as Schema[])[i] ?? (s.additionalItems as Schema | undefined);
        if (sub !== undefined) validate(root, sub, x, `${field === "(root)" ? "" : field + "."}${i}`, out);
      });
    } else if (s.items !== undefined)
      a.forEach((x, i) => validate(root, s.items as Schema, x, `${field === "(root)" ? "" : field + "."}${i}`, out));
  }
  if (t === "object") {
    const o = v as Record<string, J>;
    const keys = Object.keys(o);
    const child = (k: string) => (field === "(root)" ? k : `${field}.${k}`);
    if (Array.isArray(s.required))
      for (const r of s.required as string[])
        if (!(r in o)) out.push({ type: "required", field, desc: `${r} is required` });
    if (s.minProperties !== undefined && keys.length < num(s.minProperties))
      out.push({ type: "array_min_properties", field, desc: `Must have at least ${show(s.minProperties)} properties` });
    if (s.maxProperties !== undefined && keys.length > num(s.maxProperties))
      out.push({ type: "array_max_properties", field, desc: `Must have at most ${show(s.maxProperties)} properties` });
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const pprops = (s.patternProperties ?? {}) as Record<string, Schema>;
    for (const k of keys) {
      let matched = false;
      if (props[k] !== undefined) {
        matched = true;
        validate(root, props[k]!, o[k], child(k), out);
      }
      for (const [p, ps] of Object.entries(pprops)) {
        if (compileRegex(p).match(k)) {
          matched = true;
          validate(root, ps, o[k], child(k), out);
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false)
          out.push({ type: "additional_property_not_allowed", field, desc: `Additional property ${k} is not allowed` });
        else validate(root, s.additionalProperties as Schema, o[k], child(k), out);
      }
    }
  }
  if (Array.isArray(s.allOf)) {
    const sub: Issue[] = [];
    for (const x of s.allOf as Schema[]) validate(root, x, v, field, sub);
    if (sub.length) out.push({ type: "number_all_of", field, desc: "Must validate all the schemas (allOf)" }, ...sub);
  }
  if (Array.isArray(s.anyOf)) {
    const ok = (s.anyOf as Schema[]).some((x) => {
      const sub: Issue[] = [];
      validate(root, x, v, field, sub);
      return sub.length === 0;
    });
    if (!ok) out.push({ type: "number_any_of", field, desc: "Must validate at least one schema (anyOf)" });
  }
  if (Array.isArray(s.oneOf)) {
    const n = (s.oneOf as Schema[]).filter((x) => {
      const sub: Issue[] = [];
      validate(root, x, v, field, sub);
      return sub.length === 0;
    }).length;
    if (n !== 1) out.push({ type: "number_one_of", field, desc: "Must validate one and only one schema (oneOf)" });
  }
  if (s.not !== undefined) {
    const sub: Issue[] = [];
    validate(root, s.not as Schema, v, field, sub);
    if (sub.length === 0) out.push({ type: "number_not", field, desc: "Must not validate the schema (not)" });
  }
}

function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith("#")) return undefined;
  let cur: J = root;
  for (const seg of ref.slice(1).split("/").filter(Boolean)) {
    if (!cur || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, J>)[seg.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return cur as Schema | undefined;
}

function asJSON(v: Value, pos: number): J {
  if (typeof v === "string") {
    try {
      return toJSON(parseJSON(v));
    } catch (e) {
      throw plainErr(`${(e as Error).message}`);
    }
  }
  if (isObject(v) || typeof v === "boolean") return toJSON(v);
  throw typeErr(pos, v, "string", "object");
}

export const jsonSchemaBuiltins: BuiltinDef[] = [
  fn("json.verify_schema", [anyOf(S, OBJ)], T.array(A), (a) => {
    const s = asJSON(a[0]!, 1);
    try {
      checkSchema(s);
      return [true, null];
    } catch (e) {
      return [false, `jsonschema: ${(e as Error).message}`];
    }
  }),
  fn("json.match_schema", [anyOf(S, OBJ, A), anyOf(S, OBJ)], T.array(A), (a) => {
    const docV = a[0]!;
    const doc = typeof docV === "string" ? asJSON(docV, 1) : toJSON(docV);
    const schema = asJSON(a[1]!, 2);
    try {
      checkSchema(schema);
    } catch (e) {
      throw plainErr((e as Error).message);
    }
    const issues: Issue[] = [];
    validate(schema as Schema, schema as Schema, doc, "(root)", issues);
    const errs = issues.map((i) =>
      parseJSON(
        toJSONString(toJSONValue({ desc: i.desc, error: `${i.field}: ${i.desc}`, field: i.field, type: i.type })),
      ),
    );
    return [issues.length === 0, errs];
  }),
];

function toJSONValue(o: Record<string, string>): Value {
  return parseJSON(JSON.stringify(o));
}
