import { describe, expect, it } from "vitest";
import { call, callErr, callJ } from "./helpers.ts";
import { makeSet, parseJSON, toJSON } from "../../../rego/value.ts";

describe("operator builtins", () => {
  it("keeps big integer arithmetic exact", () => {
    expect(call("plus", 9007199254740993n, 1)).toBe(9007199254740994n);
    expect(call("mul", 123456789123456789n, 1000)).toBe(123456789123456789000n);
    expect(call("minus", 0, 9007199254740993n)).toBe(-9007199254740993n);
    expect(call("div", 10, 4)).toBe(2.5);
    expect(call("div", 10n ** 30n, 10n ** 10n)).toBe(10n ** 20n);
    expect(call("rem", 10, 18446744073709551616n)).toBe(10);
  });
  it("reports OPA's arithmetic errors", () => {
    expect(callErr("div", 1, 0).message).toBe("div: divide by zero");
    expect(callErr("rem", 1.5, 1).message).toBe("rem: modulo on floating-point number");
    const e = callErr("plus", "a", 1);
    expect(e.code).toBe("eval_type_error");
    expect(e.message).toBe("plus: operand 1 must be number but got string");
    expect(callErr("minus", makeSet([1]) as never, 1).message).toBe("minus: operand 2 must be set but got number");
  });
  it("computes set operations and aggregates", () => {
    expect(toJSON(call("and", makeSet([1, 2]), makeSet([2, 3]))!)).toEqual([2]);
    expect(toJSON(call("or", makeSet([1, 2]), makeSet([2, 3]))!)).toEqual([1, 2, 3]);
    expect(callJ("count", "héllo")).toBe(5);
    expect(callJ("sum", [1, 2, 3.5])).toBe(6.5);
    expect(callJ("max", [1, "a", null])).toBe("a");
    expect(callJ("min", [])).toBeUndefined();
    expect(callErr("sum", [1, "x"]).message).toBe(
      "sum: operand 1 must be array of numbers but got array containing string",
    );
  });
  it("formats like Go's fmt in sprintf", () => {
    expect(callJ("sprintf", "%s", [123456789123456789123n])).toBe("123456789123456789123");
    expect(callJ("sprintf", "%d-%s-%v", [1, "a", ["x", 2]])).toBe('1-a-["x", 2]');
    expect(callJ("sprintf", "%.2f|%5d|%-4s|%x", [3.14159, 42, "ab", 255])).toBe("3.14|   42|ab  |ff");
    expect(callJ("sprintf", "%d", [])).toBe("%!d(MISSING)");
    expect(callJ("sprintf", "%d", [1.5])).toBe("%!d(float64=1.5)");
    expect(callJ("sprintf", "%v", [0.000001])).toBe("1e-06");
  });
  it("merges objects recursively with object.union", () => {
    const a = parseJSON('{"a": {"b": 1, "c": 2}, "d": 1}');
    const b = parseJSON('{"a": {"b": 3}, "d": {"x": 1}}');
    expect(toJSON(call("object.union", a, b)!)).toEqual({ a: { b: 3, c: 2 }, d: { x: 1 } });
    expect(callJ("object.union_n", [{ a: { b: 2 } }, { a: 4 }, { a: { c: 3 } }])).toEqual({ a: { c: 3 } });
    expect(callJ("object.get", { a: { b: [1, 2] } }, ["a", "b", 1], "dflt")).toBe(2);
    expect(callJ("object.get", { a: 1 }, "z", "dflt")).toBe("dflt");
  });
  it("marshals JSON with sorted keys and exact numbers", () => {
    expect(callJ("json.marshal", { b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}');
    expect(call("json.marshal", 12345678901234567890n)).toBe("12345678901234567890");
  });
  it("implements string builtins with rune semantics", () => {
    expect(callJ("substring", "héllo", 1, 3)).toBe("éll");
    expect(callJ("indexof", "héllo", "l")).toBe(2);
    expect(callJ("trim", "xxhixx", "x")).toBe("hi");
    expect(callJ("split", "a.b.c", ".")).toEqual(["a", "b", "c"]);
    expect(callJ("strings.split_n", "a.b.c.d", ".", -2)).toEqual(["c", "d"]);
    expect(callJ("strings.replace_n", { a: "1", ab: "2" }, "abab")).toBe("1b1b");
    expect(callErr("substring", "abc", -1, 1).message).toBe("substring: negative offset");
    expect(callJ("concat", ",", ["a", "b"])).toBe("a,b");
    expect(callJ("format_int", 255, 16)).toBe("ff");
  });
});

describe("json.unmarshal errors", () => {
  it("uses Go's encoding/json wording", () => {
    expect(callErr("json.unmarshal", "").message).toBe("json.unmarshal: unexpected end of JSON input");
    expect(callErr("json.unmarshal", "{x}").message).toBe("json.unmarshal: invalid character 'x' looking for beginning of object key string");
    expect(callErr("json.unmarshal", "[1 2]").message).toBe("json.unmarshal: invalid character '2' after array element");
    expect(callErr("json.unmarshal", "1 x").message).toBe("json.unmarshal: invalid character 'x' after top-level value");
    expect(callJ("json.unmarshal", '{"a": [1, 12345678901234567890]}')).toEqual({ a: [1, 12345678901234567890n] });
  });
});

describe("yaml", () => {
  it("marshals like go-yaml v2 and round-trips", () => {
    expect(callJ("yaml.marshal", { b: [1, 2], a: "x" })).toBe("a: x\nb:\n- 1\n- 2\n");
    expect(callJ("yaml.unmarshal", "a: [1, 2]\nb: yes\n")).toEqual({ a: [1, 2], b: true });
    expect(callErr("yaml.unmarshal", "[1,2,3").message).toBe("yaml.unmarshal: yaml: line 1: did not find expected ',' or ']'");
  });
});
