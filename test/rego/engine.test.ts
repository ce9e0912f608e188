// The Rego engine through its public API: compile, prepare, eval, errors, budgets.
import { describe, expect, it } from "vitest";
import { compile, RegoErrors, type ModuleSource } from "../../rego/index.ts";
import { toJSON, toJSONString } from "../../rego/value.ts";

function mods(...sources: string[]): ModuleSource[] {
  return sources.map((source, i) => ({ path: `m${i}.rego`, source }));
}

function evalQ(sources: string[], query: string, input?: unknown, data?: unknown) {
  const p = compile(mods(...sources));
  return p
    .prepare(query)
    .eval({ input, data })
    .map((r) => Object.fromEntries([...r.bindings].map(([k, v]) => [k, toJSON(v)])));
}

function compileError(sources: string[], opts: { regoVersion?: "v0" | "v1" } = {}): RegoErrors {
  try {
    compile(mods(...sources), opts);
  } catch (e) {
    expect(e).toBeInstanceOf(RegoErrors);
    return e as RegoErrors;
  }
  throw new Error("expected a compile error");
}

describe("parser errors", () => {
  it("v0 rule bodies in a v1 module give OPA's wording with file:row:col", () => {
    const e = compileError(["package x\n\np { true }\n"]);
    expect(e.message).toBe("1 error occurred: m0.rego:3:1: rego_parse_error: `if` keyword is required before rule body");
    expect(e.errors[0]!.code).toBe("rego_parse_error");
  });

  it("v0 partial set rules in v1 report both missing keywords", () => {
    const e = compileError(["package x\n\np[x] { x := 1 }\n"]);
    expect(e.errors.map((x) => x.detail)).toEqual([
      "`if` keyword is required before rule body",
      "`contains` keyword is required for partial set rules",
    ]);
  });

  it("a v0 module importing rego.v1 must use v1 keywords", () => {
    const e = compileError(["package x\nimport rego.v1\n\nallow { input.x == 1 }\n"], { regoVersion: "v0" });
    expect(e.message).toContain("rego_parse_error: `if` keyword is required before rule body");
    // the same module without the import is valid v0
    expect(() => compile(mods("package x\n\nallow { input.x == 1 }\n"), { regoVersion: "v0" })).not.toThrow();
  });
});

describe("compile errors", () => {
  it("reports unsafe variables", () => {
    const e = compileError(["package x\n\np if { x > 1 }\n"]);
    expect(e.errors[0]!.code).toBe("rego_unsafe_var_error");
    expect(e.errors[0]!.detail).toBe("var x is unsafe");
  });

  it("reports recursion", () => {
    const e = compileError(["package x\n\np if q\nq if p\n"]);
    expect(e.errors[0]!.code).toBe("rego_recursion_error");
  });

  it("reports builtin calls whose literal arguments have the wrong type", () => {
    const e = compileError(['package x\n\np := upper(1)\n']);
    expect(e.errors[0]!.code).toBe("rego_type_error");
    expect(e.errors[0]!.detail).toBe("upper: invalid argument(s)\n\thave: (number)\n\twant: (string)");
  });

  it("reports undefined functions", () => {
    const e = compileError(["package x\n\np if nosuch(1)\n"]);
    expect(e.errors[0]!.code).toBe("rego_type_error");
    expect(e.errors[0]!.detail).toContain("undefined function nosuch");
  });
});

describe("evaluation", () => {
  it("distinguishes undefined from false and applies defaults", () => {
    const m = "package x\n\ndefault allow := false\nallow if input.user == \"admin\"\nq if input.nothing\n";
    expect(evalQ([m], "x := data.x.allow", { user: "bob" })).toEqual([{ x: false }]);
    expect(evalQ([m], "x := data.x.allow", { user: "admin" })).toEqual([{ x: true }]);
    expect(evalQ([m], "x := data.x.q", {})).toEqual([]);
  });

  it("builds partial sets and objects, iterating with backtracking", () => {
    const m = `package x
names contains n if some n in input.users
by_len[n] := count(n) if some n in input.users
pairs contains [a, b] if {
  some a in input.users
  some b in input.users
  a < b
}`;
    const [r] = evalQ([m], "s := data.x.names; o := data.x.by_len; p := data.x.pairs", { users: ["cy", "al", "bob"] });
    expect(r).toEqual({ s: ["al", "bob", "cy"], o: { al: 2, bob: 3, cy: 2 }, p: [["al", "bob"], ["al", "cy"], ["bob", "cy"]] });
  });

  it("supports functions with several definitions, else chains and every", () => {
    const m = `package x
kind(n) := "neg" if n < 0
kind(n) := "zero" if n == 0
kind(n) := "pos" if n > 0
grade := "a" if input.score > 90
else := "b" if input.score > 80
else := "c"
all_pos if every n in input.nums { n > 0 }`;
    expect(evalQ([m], "k := [data.x.kind(-1), data.x.kind(0), data.x.kind(5)]")).toEqual([{ k: ["neg", "zero", "pos"] }]);
    expect(evalQ([m], "g := data.x.grade", { score: 85 })).toEqual([{ g: "b" }]);
    expect(evalQ([m], "g := data.x.grade", { score: 10 })).toEqual([{ g: "c" }]);
    expect(evalQ([m], "data.x.all_pos", { nums: [1, 2] })).toHaveLength(1);
    expect(evalQ([m], "data.x.all_pos", { nums: [1, -2] })).toEqual([]);
  });

  it("replaces input, data and functions with `with`", () => {
    const m = `package x
f(a) := a * 2
p := f(input.n) + data.k
q := x if x := p with input.n as 10 with data.k as 1
r := x if x := p with f as g with input.n as 1 with data.k as 0
g(a) := a * 100`;
    expect(evalQ([m], "q := data.x.q; r := data.x.r")).toEqual([{ q: 21, r: 100 }]);
  });

  it("keeps integers past 2^53 exact and orders sets and object keys like OPA", () => {
    const m = 'package x\nbig := 9007199254740993 + 2\ns := {"b", 1, null, [1], "a", true}\n';
    const p = compile(mods(m));
    const [row] = p.prepare("b := data.x.big; s := data.x.s").eval();
    expect(toJSONString(row!.bindings.get("b")!)).toBe("9007199254740995");
    expect(toJSONString(row!.bindings.get("s")!)).toBe('[null,true,1,"a","b",[1]]');
  });

  it("raises conflict errors for complete rules with several values", () => {
    const m = "package x\np := 1 if true\np := 2 if true\n";
    const p = compile(mods(m));
    expect(() => p.prepare("data.x.p").eval()).toThrow(/eval_conflict_error: complete rules must not produce multiple outputs/);
  });

  it("makes failing builtins undefined, or an error under strict mode", () => {
    const m = 'package x\np := to_number("nope")\n';
    expect(evalQ([m], "x := data.x.p")).toEqual([]);
    const strict = compile(mods(m), { strictBuiltinErrors: true });
    expect(() => strict.prepare("x := data.x.p").eval()).toThrow(/eval_builtin_error|eval_type_error/);
  });
});

describe("hostile policies end in bounded time with a clear error", () => {
  it("stops enormous comprehensions", () => {
    const m = "package x\np := [[a, b, c] | some a in numbers.range(1, 1000); some b in numbers.range(1, 1000); some c in numbers.range(1, 1000)]\n";
    const p = compile(mods(m), { limits: { maxSteps: 200_000 } });
    expect(() => p.prepare("data.x.p").eval()).toThrow(/eval_budget_error|eval_cancel_error/);
  });

  it("reports too-deep input instead of crashing", () => {
    let input: unknown = 1;
    for (let i = 0; i < 200_000; i++) input = [input];
    const p = compile(mods("package x\np := json.marshal(input)\n"));
    expect(() => p.prepare("data.x.p").eval({ input })).toThrow(/eval_budget_error|nesting/);
  });

  it("rejects oversized input documents", () => {
    const p = compile(mods("package x\np := count(input)\n"), { limits: { maxInputValues: 1000 } });
    expect(p.prepare("data.x.p").eval({ input: new Array(500).fill(1) }).length).toBe(1);
    expect(() => p.prepare("data.x.p").eval({ input: new Array(5000).fill(1) })).toThrow(/input_limit_error/);
  });

  it("evaluates a catastrophic regex pattern without backtracking blow-up", () => {
    const m = 'package x\np := regex.match("^(a+)+$", concat("", [concat("", [x | some _ in numbers.range(1, 40); x := "a"]), "!"]))\n';
    expect(evalQ([m], "x := data.x.p")).toEqual([{ x: false }]);
  });
});
