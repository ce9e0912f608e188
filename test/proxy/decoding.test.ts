// Unit tests of the pieces that close the attack review's findings (test/proxy/attack.test.ts): the header view,
// form/query decoding, JSON number exactness, case-insensitive duplicate keys, JSON media types, ambiguous dots.
import { describe, expect, it } from "vitest";
import { HeaderRefused, readRequestHead } from "../../proxy/headers.ts";
import { HIDDEN_HEADERS, isJsonContentType, buildInput } from "../../proxy/input.ts";
import { decodeUrlEncoded, UrlEncodedRefused } from "../../proxy/urlencoded.ts";
import { inexactJsonNumbers } from "../../proxy/json-numbers.ts";
import { duplicateJsonKey } from "../../proxy/json-keys.ts";
import { normalizePath, normalizeTarget, PathRefused } from "../../proxy/path.ts";
import { bodyDigests } from "../../proxy/attestation.ts";
import { httpBodyDigest, sha256Digest } from "../../protocol/index.ts";

describe("header view", () => {
  it("is prototype-less, lower-case, list headers joined, hidden ones left out", () => {
    const { view } = readRequestHead(
      ["Host", "h", "Accept", "a", "ACCEPT", "b", "__proto__", "x", "constructor", "y", "X-Intent-Attestation", "t"],
      HIDDEN_HEADERS,
    );
    expect(Object.getPrototypeOf(view)).toBeNull();
    expect(Object.entries(view)).toEqual([
      ["host", "h"],
      ["accept", "a, b"],
      ["__proto__", "x"],
      ["constructor", "y"],
    ]);
    expect(Object.keys(view)).toEqual(["host", "accept", "__proto__", "constructor"]);
  });
  it.each([
    [["Content-Type", "a", "content-type", "b"]],
    [["Authorization", "a", "Authorization", "a"]],
    [["X-Custom", "a", "x-custom", "b"]],
    [["Connection", "close, Host", "Host", "h"]],
    [["Connection", "content-type"]],
  ])("refuses %j", (raw) => {
    expect(() => readRequestHead(raw, HIDDEN_HEADERS)).toThrow(HeaderRefused);
  });
  it("drops extension headers named by Connection", () => {
    const { view } = readRequestHead(["Connection", "keep-alive, X-Hop", "X-Hop", "1", "X-Kept", "2"], HIDDEN_HEADERS);
    expect({ ...view }).toEqual({ connection: "keep-alive, X-Hop", "x-kept": "2" });
  });
});

describe("urlencoded", () => {
  it("decodes like URLSearchParams where that is lossless", () => {
    for (const s of ["a=1&a=2&b", "a=x+y&c=%2F%26", "%C3%A9=%E2%82%AC", "=&&a==b", "é=1"]) {
      const want: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(s)) (want[k] ??= []).push(v);
      expect({ ...decodeUrlEncoded(s) }).toEqual(want);
    }
  });
  it("keeps prototype member names as names", () => {
    const o = decodeUrlEncoded("__proto__=1&constructor=2&toString=3");
    expect(Object.getPrototypeOf(o)).toBeNull();
    expect(o["__proto__"]).toEqual(["1"]);
    expect(o["constructor"]).toEqual(["2"]);
  });
  it.each(["a=%zz", "a=%", "a=%F", "a=%FF", "%C3=1", "a=%00", "a=\0"])("refuses %j", (s) => {
    expect(() => decodeUrlEncoded(s)).toThrow(UrlEncodedRefused);
  });
  it("queries are refused the same way; the input shows them decoded", () => {
    expect(() => normalizeTarget("/p?a=%FF")).toThrow(PathRefused);
    const input = buildInput({
      method: "POST",
      host: "h",
      port: 443,
      pathAndQuery: "/p?constructor=1",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=x+y",
      source: { binary: null, pid: null, sandbox_id: null },
      attestation: null,
      now: new Date(0),
    });
    expect({ ...input.request.query }).toEqual({ constructor: ["1"] });
    expect({ ...(input.request.body as object) }).toEqual({ a: ["x y"] });
  });
});

describe("JSON numbers", () => {
  it.each(["0.1", "1.50", "1e2", "-3", "0", "0.0", "12345678901234567000", "9007199254740992", "5e-324", "-1.5E+3"])(
    "%s is exact",
    (n) => {
      expect(inexactJsonNumbers(`[${n}]`)).toEqual([]);
    },
  );
  it.each(["12345678901234567891", "9007199254740993", "0.1000000000000000000001", "1e-400", "-0", "-0.0"])(
    "%s is not",
    (n) => {
      expect(inexactJsonNumbers(`{"a":[${n}]}`)[0]!.kind).toBe("inexact");
    },
  );
  it("1e400 overflows; numbers inside strings are not numbers", () => {
    expect(inexactJsonNumbers("[1e400]")[0]!.kind).toBe("overflow");
    expect(inexactJsonNumbers('["12345678901234567891", "\\"9007199254740993"]')).toEqual([]);
  });
});

describe("duplicate keys without case", () => {
  it("finds keys equal but for case only when asked", () => {
    expect(duplicateJsonKey('{"amount":1,"AMOUNT":2}')).toBeNull();
    expect(duplicateJsonKey('{"amount":1,"AMOUNT":2}', { foldCase: true })).toBe('amount" / "AMOUNT');
    expect(duplicateJsonKey('{"sk":1,"\\u017fk":2}', { foldCase: true })).not.toBeNull();
    expect(duplicateJsonKey('{"a":{"k":1},"b":{"K":1}}', { foldCase: true })).toBeNull();
  });
});

describe("JSON media types", () => {
  it.each([
    ["application/json", true],
    ["text/json", true],
    ["application/x-json", true],
    ["text/x-json", true],
    ["application/vnd.api+json; charset=utf-8", true],
    ["image/svg+json", true],
    ["application/jsonl", false],
    ["text/plain", false],
    [undefined, false],
  ])("%s → %s", (ct, json) => {
    expect(isJsonContentType(ct)).toBe(json);
  });
});

describe("ambiguous dot segments", () => {
  it.each([
    "/a/..;/b",
    "/a/.;x/b",
    "/a/..%2Fb",
    "/a/x%2f..%2fb",
    "/a/%2e%2e%3B/b",
    "/a/%5C",
    "/a/%5c",
    "/a/%252e",
    "/a/%252F",
  ])("%s is refused", (p) => {
    expect(() => normalizePath(p)).toThrow(PathRefused);
  });
  it.each([
    ["/a;b/c", "/a;b/c"],
    ["/a/...;/b", "/a/...;/b"],
    ["/a/%2F", "/a/%2F"],
    ["/a/%25", "/a/%25"],
  ])("%s stays %s", (p, want) => {
    expect(normalizePath(p)).toBe(want);
  });
});

describe("attested body digests", () => {
  const json = "application/json";
  it("offers the JCS digest only for a body with one meaning", () => {
    const b = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s) : s);
    expect(bodyDigests(b('{"b":1.50,"a":1}'), json)).toContain(httpBodyDigest({ a: 1, b: 1.5 }));
    expect(bodyDigests(b('{"a":12345678901234567891}'), json)).toEqual([sha256Digest('{"a":12345678901234567891}')]);
    expect(bodyDigests(b('{"a":1,"A":2}'), json)).toHaveLength(1);
    expect(bodyDigests(Buffer.from([0x22, 0xff, 0x22]), json)).toHaveLength(1);
    expect(bodyDigests(b('{"a":1}'), "text/json")).toHaveLength(2);
  });
});
