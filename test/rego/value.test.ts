// The value model shared with the builtins: OPA's ordering, JSON conversion, exact big integers.
import { describe, expect, it } from "vitest";
import { compare, equals, fromJSON, makeObject, makeSet, numFromString, parseJSON, toJSON, toJSONString, toRegoString, typeName } from "../../rego/value.ts";

describe("value model", () => {
  it("orders values like OPA: null < boolean < number < string < array < object < set", () => {
    const vals = [makeSet([1]), makeObject([["a", 1]]), [1], "a", 1, true, null];
    const sorted = [...vals].sort(compare).map(typeName);
    expect(sorted).toEqual(["null", "boolean", "number", "string", "array", "object", "set"]);
    expect(compare([1, 2], [1, 2, 0])).toBe(-1);
    expect(compare("é", "z")).toBe(1); // by code point, like Go's byte order
    expect(compare("\u{1F600}", "\uFFFF")).toBe(1);
  });

  it("keeps integers past 2^53 exact and compares them with floats", () => {
    const big = numFromString("9007199254740993")!;
    expect(typeof big).toBe("bigint");
    expect(toJSONString(big)).toBe("9007199254740993");
    expect(compare(big, 9007199254740992)).toBe(1);
    expect(numFromString("42")).toBe(42);
    expect(toJSONString(parseJSON('{"n": 123456789012345678901234567890}'))).toBe('{"n":123456789012345678901234567890}');
  });

  it("uses composite keys and converts to JSON like OPA", () => {
    const o = makeObject([
      [[1, 2], "arr"],
      ["b", 2],
      ["a", 1],
    ]);
    expect(o.get([1, 2])).toBe("arr");
    expect(toJSON(o)).toEqual({ "[1,2]": "arr", a: 1, b: 2 });
    expect(toJSON(makeSet(["b", "a", "b"]))).toEqual(["a", "b"]);
    expect(toRegoString(makeSet([]))).toBe("set()");
    expect(equals(fromJSON({ a: [1, { b: null }] }), fromJSON({ a: [1, { b: null }] }))).toBe(true);
    expect(equals(makeSet([1, 2]), makeSet([2, 1]))).toBe(true);
  });
});
