// What passes here must mean the same in OPA (v1.8), and the reverse: compile-time acceptance, builtins, numbers.
// Expected codes and messages are OPA's (v1/ast/parser.go, compile.go, check.go; topdown/*.go).
import { describe, expect, it } from "vitest";
import { compile, errorsToJSON, RegoErrors } from "../../rego/index.ts";
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

/** One value through a query `x := <expr>`, as JSON text; "undefined" when the builtin fails (non-strict). */
function val(expr: string): string {
  const rows = compile(mods("package t")).prepare(`x := ${expr}`).eval({ input: {} });
  return rows.length ? toJSONString(rows[0]!.bindings.get("x")!) : "undefined";
}

/** The strict-mode error message of a builtin call. */
function err(expr: string): string {
  try {
    compile(mods("package t")).prepare(`x := ${expr}`).eval({ input: {}, strictBuiltinErrors: true });
    return "no error";
  } catch (e) {
    return (e as Error).message.replace(/^query:\d+: /, "");
  }
}

describe("builtins as OPA's Go code", () => {
  it("object.get returns a stored null (the default only for a missing key or path)", () => {
    expect(val('object.get({"a": null}, "a", 5)')).toBe("null");
    expect(val('object.get({"a": {"b": null}}, ["a", "b"], 5)')).toBe("null");
    expect(val('object.get({"a": null}, "b", 5)')).toBe("5");
    expect(val('object.get({"a": [null]}, ["a", 0], 5)')).toBe("null");
  });

  it("upper/lower map rune by rune with Go's simple case mappings", () => {
    expect(val('upper("straße")')).toBe('"STRAßE"');
    expect(val('lower("ΟΔΟΣ")')).toBe('"οδοσ"'); // no final sigma
    expect(val('lower("İ")')).toBe('"i"');
    expect(val('upper("ﬀ")')).toBe('"ﬀ"');
    expect(val('upper("ᾳ")')).toBe('"ᾼ"');
    expect(val('upper("héllo wörld")')).toBe('"HÉLLO WÖRLD"');
  });

  it("json.marshal escapes <, >, & and U+2028/U+2029 as Go does", () => {
    expect(val('json.marshal({"a": "<b>&"})')).toBe(JSON.stringify('{"a":"\\u003cb\\u003e\\u0026"}'));
    expect(val('json.marshal(["\u2028\u2029"])')).toBe(JSON.stringify('["\\u2028\\u2029"]'));
    expect(val('json.marshal_with_options(["<"], {"pretty": true, "prefix": "=>"})')).toBe(
      JSON.stringify('=>[\n=>\t"\\u003c"\n=>]'),
    );
    expect(val('json.unmarshal(json.marshal("<&>"))')).toBe('"<&>"');
  });

  it("glob.match: gobwas single-rune matchers match the empty string; quote_meta leaves `,` alone", () => {
    expect(val('glob.match("?", [], "")')).toBe("true");
    expect(val('glob.match("[!a]", [], "")')).toBe("true");
    expect(val('glob.match("[a]", [], "")')).toBe("false");
    expect(val('glob.match("{?,b}", [], "")')).toBe("true");
    expect(val('glob.match("??", [], "")')).toBe("false");
    expect(val('glob.match("a?", [], "a")')).toBe("false");
    expect(err('glob.match("{a,b", [], "a")')).toBe("eval_builtin_error: glob.match: unexpected end of input");
    expect(val('glob.quote_meta("{a,b}*?[!x-y]\\\\")')).toBe(JSON.stringify("\\{a,b\\}\\*\\?\\[!x-y\\]\\\\"));
  });

  it("base64.decode skips newlines like Go's decoder", () => {
    expect(val('base64.decode("aGVs\\nbG8=")')).toBe('"hello"');
    expect(val('base64.decode("aGVs\\r\\nbG8=\\n")')).toBe('"hello"');
    expect(val('base64.decode("aGVs bG8=")')).toBe("undefined");
  });

  it("sprintf: explicit argument indexes, %#v, %+v, %x of floats", () => {
    expect(val('sprintf("%[2]d %[1]d", [1, 2])')).toBe('"2 1"');
    expect(val('sprintf("%[1]s-%[1]s", ["a", "b"])')).toBe('"a-a"'); // reordered: no EXTRA
    expect(val('sprintf("%[3]d", [1])')).toBe('"%!d(BADINDEX)"');
    expect(val('sprintf("%[2]*[1]d|", [7, 4])')).toBe('"   7|"');
    expect(val('sprintf("%#v", ["a"])')).toBe(JSON.stringify('"a"'));
    expect(val('sprintf("%+v %+d", [5, 5])')).toBe('"5 +5"');
    expect(val('sprintf("%x %X", [1.5, 0.1])')).toBe('"0x1.8p+00 0X1.999999999999AP-04"');
    expect(val('sprintf("%#x", [255])')).toBe('"0xff"');
  });

  it("semver.is_valid as OPA's internal/semver: leading zeros accepted, components past int64 refused", () => {
    expect(val('semver.is_valid("01.2.3")')).toBe("true");
    expect(val('semver.is_valid("1.2.3-01")')).toBe("true");
    expect(val('semver.is_valid("9223372036854775807.0.0")')).toBe("true");
    expect(val('semver.is_valid("9223372036854775808.0.0")')).toBe("false");
    expect(val('semver.is_valid("1.2")')).toBe("false");
    expect(val('semver.is_valid("1.2.3-a..b")')).toBe("false");
    expect(val('semver.compare("01.2.3", "1.2.3")')).toBe("0");
  });

  it("yaml: timestamps stay strings, .inf/.nan cannot become JSON", () => {
    expect(val('yaml.unmarshal("a: 2021-01-01")')).toBe('{"a":"2021-01-01"}');
    expect(val('yaml.unmarshal("a: 2001-12-14t21:59:43.10-05:00")')).toBe('{"a":"2001-12-14t21:59:43.10-05:00"}');
    expect(err('yaml.unmarshal("a: .inf")')).toBe("eval_builtin_error: yaml.unmarshal: json: unsupported value: +Inf");
    expect(val('yaml.marshal({"a": "2021-01-01", "b": ".inf", "c": 1.5})')).toBe(JSON.stringify('a: "2021-01-01"\nb: ".inf"\nc: 1.5\n'));
  });

  it("durations use Go's units only; strings.replace_n with an empty pattern", () => {
    expect(err('time.parse_duration_ns("1d")')).toBe('eval_builtin_error: time.parse_duration_ns: time: unknown unit "d" in duration "1d"');
    expect(val('time.parse_duration_ns("1h1m")')).toBe("3660000000000");
    expect(val('strings.replace_n({"": "-"}, "ab")')).toBe('"-a-b-"');
    expect(val('replace("ab", "", "-")')).toBe('"-a-b-"');
  });
});

describe("numbers as OPA's (big.Float arithmetic, literals beyond float64)", () => {
  it("arithmetic on non-integers from the decimal operands, as OPA's big.Float", () => {
    expect(val("0.1 * 3")).toBe("0.3");
    expect(val("0.1 + 0.2")).toBe("0.3");
    expect(val("0.3 - 0.1")).toBe("0.2");
    expect(val("0.3 / 0.1")).toBe("3");
    expect(val("1 / 3")).toBe("0.3333333333333333");
    expect(val("sum([0.1, 0.2])")).toBe("0.3");
    expect(val("product([0.1, 3])")).toBe("0.3");
    expect(val("0.1 + 0.2 == 0.3")).toBe("true");
    expect(val("1.5 * 2")).toBe("3");
    expect(val("10 / 4")).toBe("2.5");
  });

  it("values beyond float64 stay numbers (never +Inf, which JSON cannot carry)", () => {
    expect(val("1e400")).toBe("1e400"); // the literal's text, as OPA's ast.Number
    expect(val("2.5 * 1e308")).toBe("25" + "0".repeat(307));
    expect(val("1e400 > 1e308")).toBe("true");
    expect(val("1e308 * 10 > 1e308")).toBe("true");
    expect(err('to_number("1e400")')).toBe('eval_builtin_error: to_number: strconv.ParseFloat: parsing "1e400": value out of range');
    expect(val("json.marshal([1e309])")).toBe(JSON.stringify("[1e309]"));
    expect(val("1e309 + 1")).toBe("1" + "0".repeat(308) + "1");
  });

  it("membership and keys compare numbers by value; arrays are indexed only by integers written as such", () => {
    expect(val("1 in {1.0}")).toBe("true");
    expect(val('{1.0: "a"}[1]')).toBe('"a"');
    expect(run("package t\nxs := [10, 20]\np := xs[1]", "x := data.t.p")).toBe("x=20");
    expect(run("package t\nxs := [10, 20]\np := xs[1.0]", "x := data.t.p")).toBe("");
    expect(run("package t\np := y if { xs := [10, 20]; y := xs[1e0] }", "x := data.t.p")).toBe("");
    expect(run("package t\np := y if { xs := [10, 20]; i := 1.0; y := xs[i] }", "x := data.t.p")).toBe("");
  });

  it("float-written literals keep their text where OPA's output depends on it", () => {
    expect(val("[1.0, 0.0, -0, 1e21, 1.50, -1.0, 1e-3, 1.5, 2]")).toBe("[1.0,0.0,-0,1e21,1.50,-1.0,1e-3,1.5,2]");
    expect(val("json.marshal([1.0, 1e21, -0])")).toBe(JSON.stringify("[1.0,1e21,-0]"));
    // sprintf sees Go's float64 for 1.0 and 1e21 (Number.Int() fails), an int for -0
    expect(val('sprintf("%v %d %v %v", [1.0, 1.0, 1e21, -0])')).toBe('"1 %!d(float64=1) 1e+21 0"');
    expect(val('sprintf("hi %v", [2e308])')).toBe('"hi 2e308"');
    // arithmetic results are plain numbers again; equality and ordering by value
    expect(val("[1.0 + 1, 1.0 * 1.0, 1e21 * 1, 1.0 == 1, [1.0] == [1], max([1.0, 2]), sort([2.0, 1])]")).toBe(
      "[2,1,1000000000000000000000,true,true,2,[1,2.0]]",
    );
    expect(val("type_name(1.0)")).toBe('"number"');
    // integer operands refuse them, as OPA's IntOperand does
    expect(err('substring("abc", 1.0, 1)')).toBe(
      "eval_type_error: substring: operand 2 must be integer number but got floating-point number",
    );
    expect(err("1.0 % 1")).toBe("eval_builtin_error: rem: modulo on floating-point number");
    // as input too
    expect(run("package t\np if input == 1.0", "x := data.t.p", 1)).toBe("x=true");
  });
});

describe("query results and errors in OPA's shapes (policy eval -f json)", () => {
  const exprs = (query: string) =>
    compile(mods("package t\nf(x) := x + 1"))
      .prepare(query)
      .eval({ input: {} })
      .map((r) => r.expressions.map((v) => toJSONString(v)).join(" "));

  it("captures the value of calls and terms; a false fails only with several expressions or iteration", () => {
    expect(exprs("1 + 2")).toEqual(["3"]);
    expect(exprs("data.t.f(1)")).toEqual(["2"]);
    expect(exprs("1 == 2")).toEqual(["false"]);
    expect(exprs("false")).toEqual(["false"]);
    expect(exprs("1 == 2; true")).toEqual([]);
    expect(exprs("[false, true][_]")).toEqual(["true"]);
    expect(exprs("x := 1")).toEqual(["true"]);
    expect(exprs("some x in [1, 2]")).toEqual(["true", "true"]);
    expect(exprs("count([1], n)")).toEqual(["true"]);
  });

  it("errors as OPA's JSON: first line as message, query file empty, parse error details", () => {
    let errs: RegoErrors | undefined;
    try {
      compile(mods("package t")).prepare("x := [1,");
    } catch (e) {
      errs = e as RegoErrors;
    }
    expect(JSON.parse(errorsToJSON(errs!.errors, { query: "x := [1," }))).toEqual({
      errors: [
        {
          message: "unexpected eof token",
          code: "rego_parse_error",
          location: { file: "", row: 1, col: 8 },
          details: { line: "x := [1,", idx: 7 },
        },
      ],
    });
    try {
      compile(mods("package t\np := upper(1)"));
    } catch (e) {
      errs = e as RegoErrors;
    }
    expect(JSON.parse(errorsToJSON(errs!.errors))).toEqual({
      errors: [{ message: "upper: invalid argument(s)", code: "rego_type_error", location: { file: "m0.rego", row: 2, col: 6 } }],
    });
  });

  it("end of input is where OPA's scanner stops: the last character, or column 0 after a final newline", () => {
    expect(check("package t\np := [1,")).toBe("rego_parse_error: unexpected eof token");
    const at = (src: string) => {
      try {
        compile(mods(src));
      } catch (e) {
        const l = (e as RegoErrors).errors[0]!.location!;
        return `${l.row}:${l.col} ${(e as RegoErrors).errors[0]!.detail}`;
      }
      return "ok";
    };
    expect(at("package t\np := 1 +")).toBe("2:8 unexpected eof token");
    expect(at('package t\np := "abc')).toBe("2:9 non-terminated string");
    expect(at('package t\np := "abc\n')).toBe("3:0 non-terminated string");
    expect(at("package t\np := `abc")).toBe("2:9 non-terminated string");
    expect(at('package t\np := "a\\qb"')).toBe("2:6 illegal escape sequence");
  });
});
