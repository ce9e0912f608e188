// What passes here must mean the same in OPA (v1.8), and the reverse: compile-time acceptance, builtins, numbers.
// Expected codes and messages are OPA's (v1/ast/parser.go, compile.go, check.go; topdown/*.go).
import { describe, expect, it } from "vitest";
import { compile, RegoErrors } from "../../rego/index.ts";
import { toJSONString } from "../../rego/value.ts";

function mods(...sources: string[]) {
  return sources.map((source, i) => ({ path: `m${i}.rego`, source }));
}

/** The first compile error as `code: message`, or "ok". */
function check(...sources: string[]): string {
  try {
    compile(mods(...sources));
    return "ok";
  } catch (e) {
    if (!(e instanceof RegoErrors)) throw e;
    return `${e.errors[0]!.code}: ${e.errors[0]!.detail}`;
  }
}

/** Every compile error as `code: message`. */
function checkAll(...sources: string[]): string[] {
  try {
    compile(mods(...sources));
    return [];
  } catch (e) {
    if (!(e instanceof RegoErrors)) throw e;
    return e.errors.map((x) => `${x.code}: ${x.detail}`);
  }
}

/** The query's result rows as JSON text (OPA's JSON of each binding). */
function run(source: string, query: string, input: unknown = {}): string {
  const rows = compile(mods(source)).prepare(query).eval({ input });
  return rows.map((r) => [...r.bindings].map(([k, v]) => `${k}=${toJSONString(v)}`).join(",")).join(" | ");
}

describe("rejected by OPA at compile time", () => {
  it("every: a declared key or value the body never uses", () => {
    expect(check("package t\np if { every k, v in [1] { v > 0 } }")).toBe("rego_compile_error: declared var k unused");
    expect(check("package t\np if { every x in [1] { true } }")).toBe("rego_compile_error: declared var x unused");
    expect(checkAll("package t\np if { every k, v in [1] { true } }")).toEqual([
      "rego_compile_error: declared var k unused",
      "rego_compile_error: declared var v unused",
    ]);
    expect(check("package t\np if { every _, v in [1] { v > 0 } }")).toBe("ok");
    expect(check("package t\np if { every k, v in [1] { [k, v] != [] } }")).toBe("ok");
    // used only inside a comprehension of the body still counts
    expect(check("package t\np if { every k, v in [1] { v > 0; count([k | true]) > 0 } }")).toBe("ok");
  });

  it("some: a declared var that is never used", () => {
    expect(check("package t\np if { some x; true }")).toBe("rego_compile_error: declared var x unused");
    expect(check("package t\np contains x if { some x; input.a[x] }")).toBe("ok");
  });

  it("declarations in source order: referenced, assigned, declared above; args", () => {
    expect(check("package t\np if { y := x; x := 1; y == 1 }")).toBe("rego_compile_error: var x referenced above");
    expect(check("package t\np if { some x; x := 1 }")).toBe("rego_compile_error: var x declared above");
    expect(check("package t\np if { x := 1; x := 2 }")).toBe("rego_compile_error: var x assigned above");
    expect(check("package t\nf(x) := y if { x := 1; y := 2 }")).toBe("rego_compile_error: arg x redeclared");
    expect(check("package t\np if { every x in [1] { x := 2 } }")).toBe("rego_compile_error: var x declared above");
  });

  it("not every / not some are parse errors", () => {
    expect(check("package t\np if { not every x in [1] { x > 0 } }")).toBe(
      "rego_parse_error: unexpected every keyword: illegal negation of 'every'",
    );
    expect(check("package t\np if { not some x in [1] }")).toBe(
      "rego_parse_error: unexpected some keyword: illegal negation of 'some'",
    );
  });

  it("a single-value rule with a rule or package inside its extent", () => {
    expect(check("package t\nq := 1\nq.r := 2")).toBe("rego_type_error: rule data.t.q conflicts with [data.t.q.r]");
    expect(check("package t\nq.r := 1\nq.r.s := 2\nq.r.t := 3")).toBe(
      "rego_type_error: rule data.t.q.r conflicts with [data.t.q.r.s data.t.q.r.t]",
    );
    expect(check("package t\nq contains 1\nq.r := 2")).toBe("rego_type_error: rule data.t.q conflicts with [data.t.q.r]");
    expect(checkAll("package t\np := 1", "package t.p\nq := 1")).toEqual([
      "rego_type_error: package t.p conflicts with rule p defined at m0.rego:2",
      "rego_type_error: rule data.t.p conflicts with [data.t.p.q]",
    ]);
    // dynamic refs are checked at evaluation time, and ref rules may share a prefix with a package
    expect(check('package t\nq[x] := 1 if x := "a"\nq.r.s := 2')).toBe("ok");
    expect(check("package t\na.b.c contains 1", "package t.a\nb.c contains 2")).toBe("ok");
  });

  it("print(...) used as a value", () => {
    expect(check("package t\np if { x := print(1); x }")).toBe("rego_type_error: print(1) used as value");
    expect(check('package t\np if { print("a") == true }')).toBe('rego_type_error: print("a") used as value');
    expect(check("package t\np if { print(1) }")).toBe("ok");
    expect(check("package t\np if { not print(1) }")).toBe("ok");
  });

  it("some x in a scalar, refs into literals that the type checker refuses", () => {
    expect(check('package t\np if { some x in "abc"; x }')).toBe("rego_type_error: match error\n\tleft  : ???\n\tright : ???");
    expect(check("package t\np := [1, 2][1.0]")).toBe("rego_type_error: undefined ref: [1, 2][1.0]");
    expect(check("package t\np := [1, 2][2]")).toBe("rego_type_error: undefined ref: [1, 2][2]");
    expect(check('package t\np := {"a": 1}.b')).toBe('rego_type_error: undefined ref: {"a": 1}.b');
    expect(check("package t\np := [1, 2][1]")).toBe("ok");
    expect(check('package t\np := {"a": {"b": 2}}.a.b')).toBe("ok");
  });

  it("with: a rule replacing itself is recursive; partial replacement of a virtual document", () => {
    expect(check("package t\np if { q with data.t.p as 1 }\nq := 1")).toBe(
      "rego_recursion_error: rule data.t.p is recursive: data.t.p -> data.t.p",
    );
    expect(check('package t\np := {"a": 1}\nq := x if { x := p with p.a as 2 }')).toBe(
      "rego_compile_error: with keyword cannot partially replace virtual document(s)",
    );
    expect(check('package t\np := {"a": 1}\nq := x if { x := p with data.t.p.a.b as 2 }')).toBe(
      "rego_compile_error: with keyword cannot partially replace virtual document(s)",
    );
    expect(check('package t\np := {"a": 1}\nq := x if { x := p with data.t.p as 2 }')).toBe("ok");
  });

  it("else on a rule without a body", () => {
    expect(check("package t\np := 1 else := 2")).toBe("rego_parse_error: unexpected else keyword");
    expect(check("package t\np := 1 if false else := 2")).toBe("ok");
  });

  it("default rules whose value contains a var, ref or call (OPA's parse error)", () => {
    expect(check("package t\ndefault p := x")).toBe("rego_parse_error: illegal default rule (value cannot contain var)");
    expect(check("package t\ndefault p := [input.x]")).toBe("rego_parse_error: illegal default rule (value cannot contain ref)");
    expect(check('package t\ndefault p := upper("a")')).toBe("rego_parse_error: illegal default rule (value cannot contain call)");
    expect(check("package t\ndefault p := [x | x := 1]")).toBe("ok"); // comprehensions are not entered
    expect(check('package t\ndefault p := {"a": [1, null]}')).toBe("ok");
  });
});

describe("valid in OPA, accepted here", () => {
  it("chained rule bodies in v1", () => {
    expect(run("package t\np contains x if { x := 1 } { x := 2 }", "x := data.t.p")).toBe("x=[1,2]");
    expect(run("package t\nf(a) := 1 if { a == 1 } { a == 2 }", "x := [f(1), f(2)]".replace(/f\(/g, "data.t.f("))).toBe("x=[1,1]");
    expect(check("package t\np if { false } else := 2 if { true } { true }")).toBe("rego_parse_error: expected else keyword");
  });

  it("a with value that is an expression", () => {
    expect(run("package t\nq := input.n\np := v if { v := q with input.n as input.n + 1 }", "x := data.t.p", { n: 3 })).toBe("x=4");
    expect(run("package t\nq := input.n\np := v if { v := q with input.n as count([1, 2]) * 2 }", "x := data.t.p")).toBe("x=4");
  });

  it("a comprehension var that shadows an outer var declared later in the body", () => {
    expect(run("package t\np := x if { y := [x | x = 1]; x := y[0] + 1 }", "v := data.t.p")).toBe("v=2");
    expect(run("package t\np := [y, x] if { y := {x | some x in [3, 4]}; x := 7 }", "v := data.t.p")).toBe("v=[[3,4],7]");
    // an outer var bound before the comprehension is captured as usual
    expect(run("package t\np := y if { x := 1; y := [z | z := x + 1] }", "v := data.t.p")).toBe("v=[2]");
  });
});
