// Strict builtin errors (OPA's --strict-builtin-errors / StrictBuiltinErrors): the same failing builtin call is
// undefined by default and a RegoBuiltinError (code, builtin name, file/row/col, innermost rule) under strict mode,
// wherever it happens: rule bodies, `not`, comprehensions, `every`, functions, `with`, default rules, else chains,
// print arguments. Runtime conflicts are errors in both modes.
import { describe, expect, it } from "vitest";
import { compile, RegoBuiltinError, RegoError, runTests } from "../../rego/index.ts";
import { toJSON } from "../../rego/value.ts";

const AMOUNT_RULE = `package t

deny contains "too much" if {
	to_number(input.amount) > 1000
}
`;

function policy(body: string) {
  return compile([{ path: "egress.rego", source: `package t\n\n${body}\n` }]);
}

/** data.t.p in both modes: the non-strict value (JSON, or "undefined") and the strict error (or value). */
function both(body: string, input: unknown = {}) {
  const p = policy(body);
  const nonStrict = p.evalPath(["t", "p"], { input });
  let strict: RegoError | unknown;
  try {
    const v = p.evalPath(["t", "p"], { input, strictBuiltinErrors: true });
    strict = v === undefined ? "undefined" : toJSON(v);
  } catch (e) {
    strict = e;
  }
  return { nonStrict: nonStrict === undefined ? "undefined" : toJSON(nonStrict), strict };
}

function strictError(body: string, input: unknown = {}): RegoBuiltinError {
  const { strict } = both(body, input);
  expect(strict).toBeInstanceOf(RegoBuiltinError);
  return strict as RegoBuiltinError;
}

describe("the body-amount deny rule", () => {
  const p = compile([{ path: "egress.rego", source: AMOUNT_RULE }]);
  const deny = (amount: unknown, strictBuiltinErrors: boolean) =>
    toJSON(p.decide(["t"], { input: { amount }, strictBuiltinErrors }).deny!);

  it("fires for well-formed amounts in both modes", () => {
    expect(deny("5000", false)).toEqual(["too much"]);
    expect(deny(5000, true)).toEqual(["too much"]);
    expect(deny("1e4", true)).toEqual(["too much"]);
    expect(deny("999", true)).toEqual([]);
  });

  it('is silently empty for " 5000" and ["5000"] by default (OPA semantics)', () => {
    expect(deny(" 5000", false)).toEqual([]);
    expect(deny(["5000"], false)).toEqual([]);
  });

  it('raises for " 5000" under strict mode: eval_builtin_error with builtin, location and rule', () => {
    let err: unknown;
    try {
      p.decide(["t"], { input: { amount: " 5000" }, strictBuiltinErrors: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RegoBuiltinError);
    const e = err as RegoBuiltinError;
    expect(e.code).toBe("eval_builtin_error");
    expect(e.builtin).toBe("to_number");
    expect(e.location).toEqual({ file: "egress.rego", row: 4, col: expect.any(Number) });
    expect(e.location!.col).toBeGreaterThan(0);
    expect(e.rule).toBe("data.t.deny");
    expect(e.detail).toBe('to_number: strconv.ParseFloat: parsing " 5000": invalid syntax');
    expect(e.message).toBe(
      'egress.rego:4: eval_builtin_error: to_number: strconv.ParseFloat: parsing " 5000": invalid syntax',
    );
  });

  it('raises for ["5000"] under strict mode with OPA\'s operand type error', () => {
    expect(() => p.decide(["t"], { input: { amount: ["5000"] }, strictBuiltinErrors: true })).toThrow(
      "egress.rego:4: eval_type_error: to_number: operand 1 must be one of {null, boolean, number, string} but got array",
    );
  });

  it("takes the mode from compile() unless the evaluation overrides it", () => {
    const strict = compile([{ path: "egress.rego", source: AMOUNT_RULE }], { strictBuiltinErrors: true });
    expect(() => strict.decide(["t"], { input: { amount: " 5000" } })).toThrow(RegoBuiltinError);
    expect(toJSON(strict.decide(["t"], { input: { amount: " 5000" }, strictBuiltinErrors: false }).deny!)).toEqual([]);
  });
});

describe("builtin and operand errors: undefined by default, errors under strict mode", () => {
  const cases: [string, string, unknown, string, string][] = [
    // [name, rule body, input, builtin, message fragment]
    ["to_number of text", "p := to_number(input.x)", { x: "0x10" }, "to_number", "invalid syntax"],
    ["to_number of an object", "p := to_number(input.x)", { x: { a: 1 } }, "to_number", "but got object"],
    ["to_number of infinity", "p := to_number(input.x)", { x: "Inf" }, "to_number", "finite number"],
    ["plus on a string", "p := input.x + 1", { x: "1" }, "plus", "operand 1 must be number but got string"],
    ["division by zero", "p := input.x / 0", { x: 1 }, "div", "divide by zero"],
    ["modulo on a float", "p := input.x % 2", { x: 1.5 }, "rem", "modulo on floating-point number"],
    ["object.get on a string", 'p := object.get(input.x, "a", 0)', { x: "s" }, "object.get", "must be object"],
    ["count of a number", "p := count(input.x)", { x: 3 }, "count", "but got number"],
    ["startswith on a number", 'p := startswith(input.x, "a")', { x: 1 }, "startswith", "must be string"],
    ["json.unmarshal of bad JSON", "p := json.unmarshal(input.x)", { x: "{" }, "json.unmarshal", ""],
    ["base64.decode of bad text", "p := base64.decode(input.x)", { x: "%%%" }, "base64.decode", ""],
    ["regex.match with a bad pattern", 'p := regex.match(input.x, "a")', { x: "(" }, "regex.match", ""],
    [
      "time.parse_rfc3339_ns of junk",
      "p := time.parse_rfc3339_ns(input.x)",
      { x: "yesterday" },
      "time.parse_rfc3339_ns",
      "",
    ],
    [
      "net.cidr_contains of junk",
      'p := net.cidr_contains(input.x, "10.0.0.1")',
      { x: "nope" },
      "net.cidr_contains",
      "",
    ],
    ["units.parse of junk", "p := units.parse(input.x)", { x: "12 parsecs" }, "units.parse", ""],
    ["split on an array", 'p := split(input.x, ",")', { x: ["a"] }, "split", "must be string"],
    ["array.concat on a set", "p := array.concat(input.x, [1])", { x: "s" }, "array.concat", "must be array"],
  ];
  for (const [name, body, input, builtin, fragment] of cases) {
    it(name, () => {
      const r = both(body, input);
      expect(r.nonStrict).toBe("undefined");
      expect(r.strict).toBeInstanceOf(RegoBuiltinError);
      const e = r.strict as RegoBuiltinError;
      expect(e.builtin).toBe(builtin);
      expect(["eval_builtin_error", "eval_type_error"]).toContain(e.code);
      expect(e.detail.startsWith(`${builtin}: `)).toBe(true);
      expect(e.detail).toContain(fragment);
      expect(e.location?.file).toBe("egress.rego");
      expect(e.location?.row).toBe(3);
      expect(e.rule).toBe("data.t.p");
    });
  }

  it("calls that succeed give the same answers in both modes", () => {
    for (const [body, input] of [
      ["p := to_number(input.x) + 1", { x: "41" }],
      ['p := object.get(input.x, "a", 0)', { x: { a: 7 } }],
      ["p := count(input.x)", { x: [1, 2] }],
      ["p := [y | some x in input.x; y := to_number(x)]", { x: ["1", "2.5"] }],
    ] as const) {
      const r = both(body, input);
      expect(r.strict).toEqual(r.nonStrict);
      expect(r.nonStrict).not.toBe("undefined");
    }
  });
});

describe("errors surface from every construct under strict mode", () => {
  const bad = { x: "zz" };
  const constructs: [string, string, unknown][] = [
    ["negation (`not`)", "p if { not to_number(input.x) > 1000 }", true],
    ["array comprehension", "p := [y | y := to_number(input.x)]", []],
    ["set comprehension", "p := {y | y := to_number(input.x)}", []],
    ["object comprehension", 'p := {k: v | some k, s in {"a": input.x}; v := to_number(s)}', {}],
    ["every", "p if { every s in [input.x] { to_number(s) > 0 } }", "undefined"],
    ["some ... in iteration", 'p contains y if { some s in ["1", input.x]; y := to_number(s) }', [1]],
    ["function body", "f(s) := to_number(s)\n\np := f(input.x)", "undefined"],
    ["function else chain", "f(s) := 1 if { false } else := to_number(s)\n\np := f(input.x)", "undefined"],
    // (default values cannot contain calls: OPA refuses `default p := to_number(...)` at parse time)
    ["else chain", "p := 1 if { false } else := to_number(input.x)", "undefined"],
    ["with (input replaced)", 'q := to_number(input.x)\n\np := v if { v := q with input.x as "nope" }', "undefined"],
    [
      "with (function mocked by a failing function)",
      'g(s) := to_number("bad")\n\np := v if { v := to_number("1") with to_number as g }',
      "undefined",
    ],
    ["partial object rule", 'p[k] := to_number(s) if { some k, s in {"a": input.x} }', {}],
    ["template string", 'p := $"{to_number(input.x)}"', "<undefined>"],
    ["print operand", "p if { print(to_number(input.x)) }", true],
    ["object key", "p := {to_number(input.x): 1}", "undefined"],
    ["unification", "p if { [a, 2] := [to_number(input.x), 2]; a > 0 }", "undefined"],
    ["rule referenced from another rule", "q := to_number(input.x)\n\np if { not q }", true],
  ];
  for (const [name, body, nonStrict] of constructs) {
    it(name, () => {
      const r = both(body, bad);
      expect(r.nonStrict).toEqual(nonStrict);
      expect(r.strict).toBeInstanceOf(RegoBuiltinError);
      const e = r.strict as RegoBuiltinError;
      expect(e.builtin).toBe("to_number");
      expect(e.location?.file).toBe("egress.rego");
      expect(e.rule).toMatch(/^data\.t\.[pqfg]$/);
    });
  }

  it("names the innermost rule or function the error left", () => {
    expect(strictError("f(s) := to_number(s)\n\np := f(input.x)", bad).rule).toBe("data.t.f");
    expect(strictError("q := to_number(input.x)\n\np if q", bad).rule).toBe("data.t.q");
  });
});

describe("runtime errors that are errors in both modes", () => {
  it("conflicting complete rule outputs", () => {
    const p = policy("p := 1 if input.a\n\np := 2 if input.a");
    for (const strictBuiltinErrors of [false, true]) {
      expect(() => p.evalPath(["t", "p"], { input: { a: true }, strictBuiltinErrors })).toThrow(
        "eval_conflict_error: complete rules must not produce multiple outputs",
      );
    }
  });

  it("functions producing multiple outputs", () => {
    const p = policy("f(_) := 1\n\nf(_) := 2\n\np := f(1)");
    expect(() => p.evalPath(["t", "p"], {})).toThrow("functions must not produce multiple outputs");
    try {
      p.evalPath(["t", "p"], { strictBuiltinErrors: true });
    } catch (e) {
      expect(e).toBeInstanceOf(RegoError);
      expect(e).not.toBeInstanceOf(RegoBuiltinError);
      expect((e as RegoError).rule).toBe("data.t.f");
    }
  });

  it("conflicting object keys", () => {
    const p = policy('p[k] := v if { some k, v in {"a": input.a} }\n\np["a"] := 0');
    expect(() => p.evalPath(["t", "p"], { input: { a: 1 }, strictBuiltinErrors: true })).toThrow(/eval_conflict_error/);
  });

  it("a cycle through `with` is rejected when compiling, so it is never evaluated to a value", () => {
    expect(() => policy("f(x) := y if { y := f(x) with input.z as x }\n\np := f(1)")).toThrow(/rego_recursion_error/);
  });

  it("a replacement function under `with` cannot call itself through the mock", () => {
    const p = policy("f(x) := x + 1\n\ng(x) := f(x) * 10\n\np := v if { v := f(1) with f as g }");
    expect(toJSON(p.evalPath(["t", "p"], { strictBuiltinErrors: true })!)).toBe(20);
  });
});

describe("opa test --strict-builtin-errors", () => {
  const p = compile([
    {
      path: "amount_test.rego",
      source: `package t_test

test_no_deny_for_bad_amount if {
	count({m | some m in []; to_number(" 5000") > 1000}) == 0
	not to_number(" 5000") > 1000
}
`,
    },
  ]);
  it("passes by default and is an ERROR naming the builtin under strict mode", () => {
    expect(runTests(p).map((r) => r.status)).toEqual(["PASS"]);
    const strict = runTests(p, { strictBuiltinErrors: true });
    expect(strict.map((r) => r.status)).toEqual(["ERROR"]);
    expect(strict[0]!.error).toContain(
      'amount_test.rego:5: eval_builtin_error: to_number: strconv.ParseFloat: parsing " 5000"',
    );
  });
});
