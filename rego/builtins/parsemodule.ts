// rego.parse_module: parses with the engine's parser and returns the module in OPA's JSON AST shape
// (package path, imports, rules with heads and bodies as terms).
import type { Expr, Term } from "../ast.ts";
import { parseModule } from "../parser.ts";
import type { Value } from "../value.ts";
import { fromJSON, toJSON } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { S, T, fn, plainErr, str } from "./util.ts";

type J = Record<string, unknown>;

function scalar(v: Value): J {
  const type = v === null ? "null" : typeof v === "boolean" ? "boolean" : typeof v === "string" ? "string" : "number";
  return { type, value: toJSON(v) };
}

function termJSON(t: Term): J {
  switch (t.t) {
    case "val":
      return scalar(t.v);
    case "var":
      return { type: "var", value: t.name };
    case "ref":
      return { type: "ref", value: [termJSON(t.head), ...t.path.map(termJSON)] };
    case "array":
      return { type: "array", value: t.items.map(termJSON) };
    case "set":
      return { type: "set", value: t.items.map(termJSON) };
    case "object":
      return { type: "object", value: t.items.map(([k, v]) => [termJSON(k), termJSON(v)]) };
    case "arraycomp":
      return { type: "arraycomprehension", value: { term: termJSON(t.head), body: t.body.map(exprJSON) } };
    case "setcomp":
      return { type: "setcomprehension", value: { term: termJSON(t.head), body: t.body.map(exprJSON) } };
    case "objcomp":
      return {
        type: "objectcomprehension",
        value: { key: termJSON(t.key), value: termJSON(t.value), body: t.body.map(exprJSON) },
      };
    case "call":
      return { type: "call", value: [opRef(t.op), ...t.args.map(termJSON)] };
    case "tmpl":
      return { type: "templatestring", value: { parts: t.parts, exprs: t.exprs.map(termJSON) } };
  }
}

function opRef(op: string): J {
  const [head, ...rest] = op.split(".");
  return { type: "ref", value: [{ type: "var", value: head }, ...rest.map((r) => ({ type: "string", value: r }))] };
}

function exprJSON(e: Expr, index = 0): J {
  const base: J = { index };
  if (e.negated) base.negated = true;
  if (e.with.length) base.with = e.with.map((w) => ({ target: termJSON(w.target), value: termJSON(w.value) }));
  switch (e.k) {
    case "term":
      base.terms = e.term.t === "call" ? [opRef(e.term.op), ...e.term.args.map(termJSON)] : termJSON(e.term);
      break;
    case "some":
      base.terms = { type: "someDecl", value: e.vars.map(termJSON) };
      break;
    case "somein":
      base.terms = {
        type: "someDecl",
        value: [
          {
            type: "call",
            value: [
              opRef("internal.member_" + (e.key ? 3 : 2)),
              ...(e.key ? [termJSON(e.key)] : []),
              termJSON(e.value),
              termJSON(e.domain),
            ],
          },
        ],
      };
      break;
    case "every":
      base.terms = {
        type: "every",
        value: {
          key: e.key ? termJSON(e.key) : null,
          value: termJSON(e.value),
          domain: termJSON(e.domain),
          body: e.body.map(exprJSON),
        },
      };
      break;
    default:
      base.terms = { type: e.k, value: [] };
  }
  return base;
}

function parse(file: string, src: string): Value {
  const { module, errors } = parseModule(src, file, "v1");
  if (errors.length) throw plainErr(errors.map((e) => e.message).join("\n"));
  const out: J = {
    package: { path: [{ type: "var", value: "data" }, ...module.pkg.map((p) => ({ type: "string", value: p }))] },
  };
  if (module.imports.length)
    out.imports = module.imports.map((i) =>
      i.alias ? { path: termJSON(i.path), alias: i.alias } : { path: termJSON(i.path) },
    );
  if (module.rules.length) {
    out.rules = module.rules.map((r) => {
      const h = r.head;
      const head: J = { name: h.ref[0]?.t === "var" ? h.ref[0].name : "", ref: h.ref.map(termJSON) };
      if (h.args) head.args = h.args.map(termJSON);
      if (h.key) head.key = termJSON(h.key);
      head.value = h.value ? termJSON(h.value) : { type: "boolean", value: true };
      if (h.assign) head.assign = true;
      const rule: J = {
        head,
        body: r.body.length
          ? r.body.map((e, i) => exprJSON(e, i))
          : [{ index: 0, terms: { type: "boolean", value: true } }],
      };
      if (r.isDefault) rule.default = true;
      return rule;
    });
  }
  return fromJSON(out);
}

export const parseModuleBuiltins: BuiltinDef[] = [
  fn("rego.parse_module", [S, S], T.object(), (a) => parse(str(a, 0), str(a, 1))),
];
