// graphql.* builtins (OPA topdown/graphql.go). Parsing mirrors gqlparser (lib/gqlparse.ts); schema checks follow
// gqlparser's schema validator; query validation uses graphql-js's rules against the schema printed back to SDL.
import type { GraphQLError } from "graphql";
import type { Value } from "../value.ts";
import { fromJSON, isObject, toJSON } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, B, OBJ, S, T, anyOf, fn, plainErr, str, typeErr } from "./util.ts";
import { GqlError, parseQueryDoc, parseSchemaDoc, type Obj } from "./lib/gqlparse.ts";
import { library, registerLazyBuiltins } from "./lazy.ts";

class GqlValidationError extends Error {}

function wrapParse<R>(f: () => R): R {
  try {
    return f();
  } catch (e) {
    if (e instanceof GqlError) throw plainErr(`${e.msg} in GraphQL string at location ${e.line}:${e.col}`);
    throw e;
  }
}

const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const strs = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);
const s = (v: unknown): string => (typeof v === "string" ? v : "");

// ---- printing ASTs back to GraphQL text ----

function printValue(v: Obj | undefined): string {
  if (!v) return "null";
  const raw = s(v.Raw);
  switch (v.Kind) {
    case 0:
      return "$" + raw;
    case 3:
    case 4:
      return JSON.stringify(raw);
    case 8:
      return (
        "[" +
        arr(v.Children)
          .map((c) => printValue(c.Value as Obj))
          .join(", ") +
        "]"
      );
    case 9:
      return (
        "{" +
        arr(v.Children)
          .map((c) => `${s(c.Name)}: ${printValue(c.Value as Obj)}`)
          .join(", ") +
        "}"
      );
    default:
      return raw;
  }
}

function printType(t: Obj | undefined): string {
  if (!t) return "String";
  const base = t.Elem ? `[${printType(t.Elem as Obj)}]` : s(t.NamedType);
  return base + (t.NonNull ? "!" : "");
}

function printArgs(args: Obj[]): string {
  return args.length ? "(" + args.map((a) => `${s(a.Name)}: ${printValue(a.Value as Obj)}`).join(", ") + ")" : "";
}

function printDirectives(ds: Obj[]): string {
  return ds.map((d) => ` @${s(d.Name)}${printArgs(arr(d.Arguments))}`).join("");
}

function printInputValues(args: Obj[]): string {
  return args
    .map(
      (a) =>
        `${s(a.Name)}: ${printType(a.Type as Obj)}${a.DefaultValue ? " = " + printValue(a.DefaultValue as Obj) : ""}${printDirectives(arr(a.Directives))}`,
    )
    .join(", ");
}

function printDefinition(d: Obj): string {
  const name = s(d.Name);
  const dirs = printDirectives(arr(d.Directives));
  const fields = (input: boolean) =>
    " {\n" +
    arr(d.Fields)
      .map((f) => {
        const args = arr(f.Arguments);
        const a = !input && args.length ? `(${printInputValues(args)})` : "";
        const dflt = input && f.DefaultValue ? " = " + printValue(f.DefaultValue as Obj) : "";
        return `  ${s(f.Name)}${a}: ${printType(f.Type as Obj)}${dflt}${printDirectives(arr(f.Directives))}`;
      })
      .join("\n") +
    "\n}";
  const ifs = strs(d.Interfaces);
  const impl = ifs.length ? " implements " + ifs.join(" & ") : "";
  switch (d.Kind) {
    case "SCALAR":
      return `scalar ${name}${dirs}`;
    case "OBJECT":
      return `type ${name}${impl}${dirs}${fields(false)}`;
    case "INTERFACE":
      return `interface ${name}${impl}${dirs}${fields(false)}`;
    case "UNION":
      return `union ${name}${dirs} = ${strs(d.Types).join(" | ")}`;
    case "ENUM":
      return `enum ${name}${dirs} {\n${arr(d.EnumValues)
        .map((v) => "  " + s(v.Name) + printDirectives(arr(v.Directives)))
        .join("\n")}\n}`;
    default:
      return `input ${name}${dirs}${fields(true)}`;
  }
}

function printSelections(sel: Obj[]): string {
  if (sel.length === 0) return "";
  return (
    " {\n" +
    sel
      .map((x) => {
        if (
          x.Alias !== undefined ||
          (x.Name !== undefined && x.SelectionSet !== undefined && x.TypeCondition === undefined)
        ) {
          const alias = s(x.Alias) && s(x.Alias) !== s(x.Name) ? `${s(x.Alias)}: ` : "";
          return `${alias}${s(x.Name)}${printArgs(arr(x.Arguments))}${printDirectives(arr(x.Directives))}${printSelections(arr(x.SelectionSet))}`;
        }
        if (x.TypeCondition !== undefined || x.SelectionSet !== undefined) {
          const cond = s(x.TypeCondition) ? ` on ${s(x.TypeCondition)}` : "";
          return `...${cond}${printDirectives(arr(x.Directives))}${printSelections(arr(x.SelectionSet))}`;
        }
        return `...${s(x.Name)}${printDirectives(arr(x.Directives))}`;
      })
      .join("\n") +
    "\n}"
  );
}

function printVarDefs(vs: Obj[]): string {
  if (!vs.length) return "";
  return (
    "(" +
    vs
      .map(
        (v) =>
          `$${s(v.Variable)}: ${printType(v.Type as Obj)}${v.DefaultValue ? " = " + printValue(v.DefaultValue as Obj) : ""}`,
      )
      .join(", ") +
    ")"
  );
}

function printQuery(doc: Obj): string {
  const ops = arr(doc.Operations).map(
    (o) =>
      `${s(o.Operation) || "query"} ${s(o.Name)}${printVarDefs(arr(o.VariableDefinitions))}${printDirectives(arr(o.Directives))}${printSelections(arr(o.SelectionSet))}`,
  );
  const frags = arr(doc.Fragments).map(
    (f) =>
      `fragment ${s(f.Name)} on ${s(f.TypeCondition)}${printDirectives(arr(f.Directives))}${printSelections(arr(f.SelectionSet))}`,
  );
  return [...ops, ...frags].join("\n");
}

// ---- schema validation (gqlparser's ValidateSchemaDocument, main rules) ----

const BUILTIN_SCALARS = ["Int", "Float", "String", "Boolean", "ID"];
const BUILTIN_DIRECTIVES: Record<string, string[]> = {
  include: ["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"],
  skip: ["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"],
  deprecated: ["FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INPUT_FIELD_DEFINITION", "ENUM_VALUE"],
  specifiedBy: ["SCALAR"],
  defer: ["FRAGMENT_SPREAD", "INLINE_FRAGMENT"],
  oneOf: ["INPUT_OBJECT"],
};

interface Schema {
  types: Map<string, Obj>;
  directives: Map<string, string[]>;
  sdl: string;
}

function validateSchema(doc: Obj): Schema {
  const types = new Map<string, Obj>();
  const named = (t: Obj | undefined): string => (t?.Elem ? named(t.Elem as Obj) : s(t?.NamedType));
  for (const n of BUILTIN_SCALARS) types.set(n, { Kind: "SCALAR", Name: n, BuiltIn: true });
  const err = (m: string) => new GqlValidationError(m);
  for (const d of arr(doc.Definitions)) {
    const name = s(d.Name);
    if (types.has(name)) throw err(`Cannot redeclare type ${name}.`);
    types.set(name, {
      ...d,
      Fields: [...arr(d.Fields)],
      EnumValues: [...arr(d.EnumValues)],
      Types: [...strs(d.Types)],
      Interfaces: [...strs(d.Interfaces)],
      Directives: [...arr(d.Directives)],
    });
  }
  for (const e of arr(doc.Extensions)) {
    const name = s(e.Name);
    let base = types.get(name);
    if (!base) {
      base = { Kind: e.Kind, Name: name, Fields: [], EnumValues: [], Types: [], Interfaces: [], Directives: [] };
      types.set(name, base);
    }
    if (base.Kind !== e.Kind)
      throw err(`Cannot extend type ${name} because the base type is a ${String(base.Kind)}, not ${String(e.Kind)}.`);
    (base.Fields as Obj[]).push(...arr(e.Fields));
    (base.EnumValues as Obj[]).push(...arr(e.EnumValues));
    (base.Types as string[]).push(...strs(e.Types));
    (base.Interfaces as string[]).push(...strs(e.Interfaces));
    (base.Directives as Obj[]).push(...arr(e.Directives));
  }
  const directives = new Map<string, string[]>(Object.entries(BUILTIN_DIRECTIVES));
  for (const d of arr(doc.Directives)) {
    const name = s(d.Name);
    if (directives.has(name) && !BUILTIN_DIRECTIVES[name]) throw err(`Cannot redeclare directive ${name}.`);
    directives.set(name, strs(d.Locations));
    for (const a of arr(d.Arguments)) checkInputType(a.Type as Obj);
  }
  function checkExists(t: Obj | undefined): Obj {
    const n = named(t);
    const def = types.get(n);
    if (!def) throw err(`Undefined type ${n}.`);
    return def;
  }
  function checkInputType(t: Obj | undefined) {
    const def = checkExists(t);
    if (!["SCALAR", "ENUM", "INPUT_OBJECT"].includes(String(def.Kind)))
      throw err(`${s(def.Name)} is not an input type.`);
  }
  function checkDirectives(ds: Obj[], location: string) {
    for (const d of ds) {
      const locs = directives.get(s(d.Name));
      if (!locs) throw err(`Undefined directive ${s(d.Name)}.`);
      if (!locs.includes(location)) throw err(`Directive ${s(d.Name)} is not applicable on ${location}.`);
    }
  }
  for (const def of types.values()) {
    if (def.BuiltIn) continue;
    const name = s(def.Name);
    const kind = String(def.Kind);
    checkDirectives(arr(def.Directives), kind);
    if (kind === "OBJECT" || kind === "INTERFACE") {
      if (arr(def.Fields).length === 0) throw err(`${kind} ${name}: must define one or more fields.`);
      for (const f of arr(def.Fields)) {
        if (s(f.Name).startsWith("__"))
          throw err(`Name "${s(f.Name)}" must not begin with "__", which is reserved by GraphQL introspection.`);
        const ft = checkExists(f.Type as Obj);
        if (ft.Kind === "INPUT_OBJECT") throw err(`OBJECT ${s(ft.Name)} cannot be used as an output type.`);
        for (const a of arr(f.Arguments)) {
          checkInputType(a.Type as Obj);
          checkDirectives(arr(a.Directives), "ARGUMENT_DEFINITION");
        }
        checkDirectives(arr(f.Directives), "FIELD_DEFINITION");
      }
      for (const i of strs(def.Interfaces)) {
        const idef = types.get(i);
        if (!idef) throw err(`Undefined type ${i}.`);
        if (idef.Kind !== "INTERFACE")
          throw err(`${kind} ${name} must only implement Interface types, it cannot implement ${i}.`);
        for (const f of arr(idef.Fields)) {
          if (!arr(def.Fields).some((g) => g.Name === f.Name))
            throw err(`For ${name} to implement ${i} it must have a field called ${s(f.Name)}.`);
        }
        for (const ii of strs(idef.Interfaces)) {
          if (!strs(def.Interfaces).includes(ii))
            throw err(`${kind} ${name} must implement ${ii} because it is implemented by ${i}.`);
        }
      }
    } else if (kind === "UNION") {
      if (strs(def.Types).length === 0) throw err(`UNION ${name}: must define one or more unique member types.`);
      for (const m of strs(def.Types)) {
        const mdef = types.get(m);
        if (!mdef) throw err(`Undefined type ${m}.`);
        if (mdef.Kind !== "OBJECT") throw err(`UNION type "${m}" must be OBJECT.`);
      }
    } else if (kind === "ENUM") {
      if (arr(def.EnumValues).length === 0) throw err(`ENUM ${name}: must define one or more unique enum values.`);
      for (const v of arr(def.EnumValues)) checkDirectives(arr(v.Directives), "ENUM_VALUE");
    } else if (kind === "INPUT_OBJECT") {
      if (arr(def.Fields).length === 0) throw err(`INPUT_OBJECT ${name}: must define one or more input fields.`);
      for (const f of arr(def.Fields)) {
        checkInputType(f.Type as Obj);
        checkDirectives(arr(f.Directives), "INPUT_FIELD_DEFINITION");
      }
    }
  }
  const ops: Record<string, string> = {};
  for (const sd of [...arr(doc.Schema), ...arr(doc.SchemaExtension)]) {
    for (const ot of arr(sd.OperationTypes)) {
      const t = types.get(s(ot.Type));
      if (!t) throw err(`Undefined type ${s(ot.Type)}.`);
      ops[s(ot.Operation)] = s(ot.Type);
    }
  }
  // SDL for graphql-js (extensions merged, builtins left to graphql-js)
  const parts: string[] = [];
  for (const def of types.values()) if (!def.BuiltIn) parts.push(printDefinition(def));
  for (const d of arr(doc.Directives)) {
    if (BUILTIN_DIRECTIVES[s(d.Name)]) continue;
    const args = arr(d.Arguments);
    parts.push(
      `directive @${s(d.Name)}${args.length ? `(${printInputValues(args)})` : ""}${d.IsRepeatable ? " repeatable" : ""} on ${strs(d.Locations).join(" | ")}`,
    );
  }
  if (Object.keys(ops).length)
    parts.push(
      `schema {\n${Object.entries(ops)
        .map(([o, t]) => `  ${o}: ${t}`)
        .join("\n")}\n}`,
    );
  return { types, directives, sdl: parts.join("\n\n") };
}

function validateQuery(schema: Schema, query: Obj, source?: string): void {
  // the graphql package only for validation, loaded when first needed (lazy.ts)
  const { buildASTSchema, parse: gqlParse, validate: gqlValidate } = library("graphql");
  let built;
  try {
    built = buildASTSchema(gqlParse(schema.sdl || "scalar _Empty"), { assumeValid: true, assumeValidSDL: true });
  } catch (e) {
    throw new GqlValidationError((e as Error).message);
  }
  if (arr(query.Operations).length === 0 && arr(query.Fragments).length === 0) return;
  const text = source ?? printQuery(query);
  let doc;
  try {
    doc = gqlParse(text);
  } catch (e) {
    throw new GqlValidationError((e as Error).message);
  }
  const errs = gqlValidate(built, doc);
  if (errs.length) {
    const e = errs[0] as GraphQLError;
    const loc = e.locations?.[0];
    const msg = e.message.replace(/\.$/, "");
    throw new GqlValidationError(loc ? `${msg} in GraphQL string at location ${loc.line}:${loc.column}` : msg);
  }
}

// ---- builtins ----

function schemaDocOf(v: Value, pos: number): Obj {
  if (typeof v === "string") return wrapParse(() => parseSchemaDoc(v));
  if (isObject(v)) return toJSON(v) as Obj;
  throw typeErr(pos, v, "string", "object");
}

function queryOf(v: Value, pos: number): { doc: Obj; text?: string } {
  if (typeof v === "string") return { doc: wrapParse(() => parseQueryDoc(v)), text: v };
  if (isObject(v)) return { doc: toJSON(v) as Obj };
  throw typeErr(pos, v, "string", "object");
}

function parseBoth(a: Value[]): [Obj, Obj] {
  const q = queryOf(a[0]!, 1);
  const sd = schemaDocOf(a[1]!, 2);
  let schema: Schema;
  try {
    schema = validateSchema(sd);
  } catch (e) {
    throw plainErr(`Error in gqlparser SchemaDocument to Schema conversion: ${(e as Error).message}`);
  }
  try {
    validateQuery(schema, q.doc, q.text);
  } catch (e) {
    throw plainErr((e as Error).message);
  }
  return [q.doc, sd];
}

function ok(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

export const graphqlBuiltins: BuiltinDef[] = [
  fn("graphql.parse_schema", [S], OBJ, (a) => fromJSON(wrapParse(() => parseSchemaDoc(str(a, 0))))),
  fn("graphql.parse_query", [S], OBJ, (a) => fromJSON(wrapParse(() => parseQueryDoc(str(a, 0))))),
  fn("graphql.schema_is_valid", [anyOf(S, OBJ)], B, (a) => {
    const v = a[0]!;
    if (typeof v !== "string" && !isObject(v)) return false;
    return ok(() => validateSchema(schemaDocOf(v, 1)));
  }),
  fn("graphql.is_valid", [anyOf(S, OBJ), anyOf(S, OBJ)], B, (a) => {
    const [q, sc] = a as [Value, Value];
    if ((typeof q !== "string" && !isObject(q)) || (typeof sc !== "string" && !isObject(sc))) return false;
    return ok(() => parseBoth(a));
  }),
  fn("graphql.parse", [anyOf(S, OBJ), anyOf(S, OBJ)], T.array(OBJ), (a) => {
    const [q, sd] = parseBoth(a);
    return [fromJSON(q), fromJSON(sd)];
  }),
  fn("graphql.parse_and_verify", [anyOf(S, OBJ), anyOf(S, OBJ)], T.array(A), (a) => {
    try {
      const [q, sd] = parseBoth(a);
      return [true, fromJSON(q), fromJSON(sd)];
    } catch {
      return [false, fromJSON({}), fromJSON({})];
    }
  }),
];

registerLazyBuiltins(
  "graphql",
  graphqlBuiltins.map((d) => d.name),
);
