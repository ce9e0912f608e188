// RFC 8785 (JCS) examples: the intent digest an attestation carries is only checkable by others if our canonical
// form is byte-for-byte the RFC's.
import { describe, expect, it } from "vitest";
import { canonicalize, jcsDigest } from "../../protocol/jcs.ts";

describe("canonicalize (RFC 8785)", () => {
  it("matches the RFC's section 3.2.2 example: number forms, string escapes, literals, sorted keys", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("sorts keys by UTF-16 code units (RFC section 3.2.3 example)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    const keys = Object.keys(JSON.parse(canonicalize(input)) as object);
    // JSON.parse re-orders integer-like keys first, so compare the raw text order instead
    expect(keys).toContain("1");
    const text = canonicalize(input);
    const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"].map((k) =>
      text.indexOf(JSON.stringify(k) + ":"),
    );
    expect(order.every((p, i) => p >= 0 && (i === 0 || p > order[i - 1]!))).toBe(true);
  });

  it("escapes strings exactly as JSON.stringify does, lone surrogates and controls included", () => {
    const samples = [
      "plain",
      "",
      'q"uote',
      "back\\slash",
      "tab\tnl\n",
      "\u0000\u001f\u007f",
      "\ud800",
      "a\udfffb",
      "\ud83d\ude00",
      "\u2028\u2029",
      "0xA9059cbb",
      "€",
    ];
    for (const s of samples) {
      expect(canonicalize(s)).toBe(JSON.stringify(s));
      expect(canonicalize({ [s]: s })).toBe(`{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
    }
  });

  it("drops undefined members, writes undefined array items as null, and refuses what JSON cannot carry", () => {
    expect(canonicalize({ b: undefined, a: [undefined, 1] })).toBe('{"a":[null,1]}');
    expect(() => canonicalize({ n: NaN })).toThrow(/non-finite/);
    expect(() => canonicalize({ n: 1n })).toThrow(/bigint/);
    expect(jcsDigest({ a: 1 })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
