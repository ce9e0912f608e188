// The PII detectors (sidecar/policy/pii/): each fires on true positives, stays quiet on benign values (hashes,
// addresses, UUIDs, timestamps, order numbers, semver, IPs, amounts; generated with fast-check), and the redactor
// replaces exactly the spans found.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BUILTIN_DETECTORS,
  createScanner,
  itFiscalCodeValid,
  patternProblem,
  redactValue,
  type BuiltinDetector,
} from "../../sidecar/policy/pii/index.ts";

const all = createScanner(BUILTIN_DETECTORS);
const found = (value: unknown) => all.scan(value, "params").map((f) => f.detector);

const TRUE_POSITIVES: Record<BuiltinDetector, string[]> = {
  email: ["alice.smith+tag@example.co.uk", "write to bob@mail.example.com."],
  phone: ["+1 415 555 2671", "+44 20 7946 0958", "+4915123456789", "call (415) 555-2671 today", "415.555.2671"],
  payment_card: [
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "6011111111111117",
    "3530111333300000",
    "card 4012888888881881 exp 12/29",
  ],
  iban: ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "IBAN: FR1420041010050500013M02606"],
  us_ssn: ["536-22-1234", "his SSN is 536 22 1234", "SSN: 536221234"],
  uk_nino: ["AB123456C", "NI number AB 12 34 56 C"],
  es_dni: ["12345678Z", "NIE X1234567L"],
  it_codice_fiscale: ["RSSMRA85T10A562S"],
  br_cpf: ["111.444.777-35"],
  secret: [
    "AKIAIOSFODNN7EXAMPLE",
    `ghp_${"a1B2c3D4e5".repeat(3)}abcdef`,
    `github_pat_${"A1b2C3d4E5".repeat(8)}`,
    "xoxb-123456789012-abcdefghijkl",
    `sk_live_${"4eC39HqLyjWDarjtT1zdp7dc"}`,
    `sk-proj-${"Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2"}`,
    `AIza${"SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6q"}`,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.abcDEF123_-x",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
  ],
};

describe("pii detectors: true positives", () => {
  for (const [detector, samples] of Object.entries(TRUE_POSITIVES)) {
    for (const sample of samples) {
      it(`${detector} finds ${JSON.stringify(sample.slice(0, 40))}`, () => {
        const scanner = createScanner([detector as BuiltinDetector]);
        const fs = scanner.scan({ text: sample }, "params");
        expect(fs.map((f) => f.detector)).toEqual([detector]);
        expect(fs[0]!.path).toBe("params.text");
        // the span covers the value itself, not its surroundings
        const redacted = redactValue({ text: sample }, fs, "params") as { text: string };
        expect(redacted.text).toContain(`[REDACTED:${detector}]`);
      });
    }
  }

  it("a 9-digit SSN needs context: a key naming it or the words before", () => {
    const ssn = createScanner(["us_ssn"]);
    expect(ssn.scan({ ssn: "536221234" }, "p")).toHaveLength(1);
    expect(ssn.scan({ tax_id: "x", reference: "536221234" }, "p")).toHaveLength(0);
    expect(ssn.scan({ n: "536221234" }, "p")).toHaveLength(0);
  });

  it("SSN rules: area 000/666/9xx, group 00 and serial 0000 are not SSNs", () => {
    for (const bad of ["000-12-3456", "666-12-3456", "912-12-3456", "536-00-1234", "536-22-0000", "078-05-1120"])
      expect(found({ v: bad }), bad).not.toContain("us_ssn");
  });

  it("checksums: a changed digit is no longer found", () => {
    expect(found({ v: "4111 1111 1111 1112" })).not.toContain("payment_card");
    expect(found({ v: "DE89 3704 0044 0532 0130 01" })).not.toContain("iban");
    expect(found({ v: "12345678A" })).not.toContain("es_dni");
    expect(found({ v: "111.444.777-36" })).not.toContain("br_cpf");
    expect(itFiscalCodeValid("RSSMRA85T10A562S")).toBe(true);
    expect(itFiscalCodeValid("RSSMRA85T10A562T")).toBe(false);
    expect(found({ v: "+1 415 555 267" })).not.toContain("phone");
  });

  it("walks nested objects, arrays and strings holding JSON; a card sent as a number is found", () => {
    const fs = all.scan(
      { a: [{ b: "x alice@example.com" }], body: JSON.stringify({ user: { ssn: "536-22-1234" } }), n: 4111111111111111 },
      "params",
    );
    expect(fs.map((f) => [f.detector, f.path]).sort()).toEqual([
      ["email", "params.a.0.b"],
      ["payment_card", "params.n"],
      ["us_ssn", "params.body.(json).user.ssn"],
    ]);
    const r = redactValue(
      { a: [{ b: "x alice@example.com" }], body: JSON.stringify({ user: { ssn: "536-22-1234" } }), n: 4111111111111111, keep: { z: 1 } },
      fs,
      "params",
    ) as Record<string, unknown>;
    expect(r).toEqual({
      a: [{ b: "x [REDACTED:email]" }],
      body: JSON.stringify({ user: { ssn: "[REDACTED:us_ssn]" } }),
      n: "[REDACTED:payment_card]",
      keep: { z: 1 },
    });
  });

  it("object keys that are PII: found, shown in paths as their marker, renamed when redacted", () => {
    const value = { scores: { "alice@example.com": 5, "bob@example.com": { note: "ssn 536-22-1234" }, plain: 1 } };
    const fs = all.scan(value, "params");
    expect(fs.map((f) => [f.detector, f.path, f.key?.index])).toEqual([
      ["email", "params.scores.[REDACTED:email]", 0],
      ["email", "params.scores.[REDACTED:email]#2", 1],
      ["us_ssn", "params.scores.[REDACTED:email]#2.note", undefined],
    ]);
    expect(JSON.stringify(fs)).not.toMatch(/alice|bob/);
    expect(redactValue(value, fs, "params")).toEqual({
      scores: { "[REDACTED:email]": 5, "[REDACTED:email]#2": { note: "ssn [REDACTED:us_ssn]" }, plain: 1 },
    });
    // only the SSN applied (emails allowed): the keys stay, the SSN under one of them is still found by its path
    expect(redactValue(value, fs.filter((f) => f.detector === "us_ssn"), "params", fs)).toEqual({
      scores: { "alice@example.com": 5, "bob@example.com": { note: "ssn [REDACTED:us_ssn]" }, plain: 1 },
    });
  });

  it("findings never carry the matched text", () => {
    const fs = all.scan({ e: "alice@example.com", s: "536-22-1234" }, "params");
    expect(JSON.stringify(fs)).not.toMatch(/alice|536/);
  });

  it("nesting past the depth bound is reported as a limit finding (the block denies it)", () => {
    let v: unknown = "x";
    for (let i = 0; i < 80; i++) v = { v };
    expect(all.scan(v, "params").map((f) => f.detector)).toEqual(["limit"]);
  });
});

describe("pii detectors: benign corpus stays quiet", () => {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  const HEX = (n: number) => fc.stringMatching(new RegExp(`^[0-9A-F]{${n}}$`));
  const benign = fc.oneof(
    hex(64).map((h) => `0x${h}`), // tx hashes
    hex(40).map((h) => `0x${h}`), // addresses
    HEX(40).map((h) => `0x${h}`),
    hex(64), // bare sha256
    fc.uuid(),
    fc.uuid().map((u) => u.toUpperCase()),
    fc.date({ min: new Date("1970-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) =>
      d.toISOString().replace("Z", "+05:30"),
    ),
    fc.integer({ min: 0, max: 4_102_444_800 }).map(String), // unix seconds
    fc.integer({ min: 0, max: 4_102_444_800_000 }).map(String), // unix ms
    fc.tuple(fc.integer({ min: 2000, max: 2100 }), fc.integer({ min: 0, max: 999_999 })).map(
      ([y, n]) => `ORD-${y}-${String(n).padStart(6, "0")}`,
    ),
    fc.tuple(fc.nat(99), fc.nat(99), fc.nat(999)).map(([a, b, c]) => `v${a}.${b}.${c}`),
    fc.tuple(fc.nat(99), fc.nat(99), fc.nat(999), fc.nat(99999999)).map(([a, b, c, d]) => `${a}.${b}.${c}+build.${d}`),
    fc.ipV4(),
    fc.ipV6(),
    fc.tuple(fc.nat(10_000_000), fc.nat(99)).map(([a, b]) => `${a}.${String(b).padStart(2, "0")}`), // amounts
    fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 9, max: 18 })).map(
      ([a, z]) => `${a}${"0".repeat(z)}`, // wei / token base units
    ),
    fc.stringMatching(/^[0-9]{1,78}$/).map((v) => ({ value: v })), // any uint string under an amount key
    fc.stringMatching(/^[0-9]{4,10}$/), // short numbers
  );

  it("no detector fires on hashes, addresses, UUIDs, timestamps, order numbers, semver, IPs, amounts", () => {
    fc.assert(
      fc.property(fc.array(benign, { minLength: 1, maxLength: 8 }), fc.constantFrom(" ", ", ", "\n", "|"), (vs, sep) => {
        const joined = vs.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(sep);
        const fs = all.scan({ items: vs, joined }, "params");
        expect(fs, joined).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});

describe("operator patterns (RE2)", () => {
  it("finds matches with RE2 semantics", () => {
    const s = createScanner([], [{ id: "employee_id", regex: "EMP-[0-9]{6}" }]);
    const fs = s.scan({ note: "é😀 EMP-123456 and EMP-000001" }, "params");
    expect(fs.map((f) => [f.detector, f.start, f.end])).toEqual([
      ["employee_id", 4, 14],
      ["employee_id", 19, 29],
    ]);
    expect(redactValue({ note: "é😀 EMP-123456 and EMP-000001" }, fs, "params")).toEqual({
      note: "é😀 [REDACTED:employee_id] and [REDACTED:employee_id]",
    });
  });

  it("matches within one string only: anchors and patterns that could run across strings", () => {
    const anchored = createScanner([], [{ id: "whole", regex: "^EMP-[0-9]+$" }]);
    expect(anchored.scan({ a: "EMP-1", b: "x EMP-2", c: "EMP-3" }, "p").map((f) => f.path)).toEqual(["p.a", "p.c"]);
    const greedy = createScanner([], [{ id: "tail", regex: "EMP[^x]*" }]);
    const fs = greedy.scan({ a: "EMP-1", b: "y" }, "p");
    expect(fs.map((f) => [f.path, f.start, f.end])).toEqual([["p.a", 0, 5]]);
  });

  it("refuses lookaround, backreferences and patterns matching the empty string, saying why", () => {
    expect(patternProblem("(?=EMP)EMP")).toMatch(/RE2 has no lookahead, lookbehind or backreferences/);
    expect(patternProblem("(a)\\1")).toMatch(/RE2 has no lookahead/);
    expect(patternProblem("(?<!x)a")).toMatch(/not an RE2 regular expression/);
    expect(patternProblem("a*")).toMatch(/empty string/);
    expect(patternProblem("EMP-[0-9]{6}")).toBeUndefined();
  });
});
