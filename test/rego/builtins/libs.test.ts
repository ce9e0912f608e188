import { describe, expect, it } from "vitest";
import * as gt from "../../../rego/builtins/lib/gotime.ts";
import { compileRegex, findAllSubmatch, replaceAll, split } from "../../../rego/builtins/lib/re2.ts";
import { globMatch } from "../../../rego/builtins/lib/glob.ts";
import { globsIntersect } from "../../../rego/builtins/lib/globintersect.ts";
import * as ip from "../../../rego/builtins/lib/ip.ts";
import { parseBytes, parseUnits } from "../../../rego/builtins/lib/units.ts";
import { compareSemver, parseSemver } from "../../../rego/builtins/lib/semver.ts";
import { callJ, callErr } from "./helpers.ts";

describe("Go time layouts", () => {
  it("parses reference layouts and named layouts", () => {
    expect(gt.parse("2006-01-02T15:04:05Z07:00", "2017-06-02T19:00:00-07:00").ns).toBe(1496455200000000000n);
    expect(gt.parse("01/02 03:04:05PM '06 -0700", "06/02 07:00:00PM '17 -0700").ns).toBe(1496455200000000000n);
    expect(gt.parse(gt.NAMED_LAYOUTS.RFC1123!, "Fri, 02 Jun 2017 19:00:00 UTC").ns).toBe(1496430000000000000n);
    expect(gt.parseRFC3339("1677-09-21T00:12:43.145224192-00:00").ns).toBe(-(2n ** 63n));
    expect(() => gt.parse("2006-01-02", "2017-13-01")).toThrow(/month out of range/);
    expect(() => gt.parse("2006-01-02", "17-01-01")).toThrow('cannot parse "17-01-01" as "2006"');
  });
  it("formats with zones and fractional seconds", () => {
    const t = { ns: 1496455200123000000n, zone: gt.loadLocation("America/New_York") };
    expect(gt.format(t, gt.NAMED_LAYOUTS.RFC3339Nano!)).toBe("2017-06-02T22:00:00.123-04:00");
    expect(gt.format(t, "Mon Jan _2 3:04PM MST 2006")).toBe("Fri Jun  2 10:00PM EDT 2017");
    expect(gt.format({ ns: 0n, zone: gt.UTC }, "2006-01-02 15:04:05.000 Z07:00")).toBe("1970-01-01 00:00:00.000 Z");
  });
  it("computes clock, date, weekday, add_date and diff through the builtins", () => {
    expect(callJ("time.clock", [1517832000000000000, "America/New_York"])).toEqual([7, 0, 0]);
    expect(callJ("time.date", [1517814000000000000, "America/Los_Angeles"])).toEqual([2018, 2, 4]);
    expect(callJ("time.weekday", 1517832000000000000)).toBe("Monday");
    expect(callJ("time.add_date", 1517832000000000000, 0, 1, 30)).toBe(1522843200000000000n); // Feb 5 + 1 month + 30 days
    expect(callJ("time.diff", 0, 1517832000000000000)).toEqual([48, 1, 4, 12, 0, 0]);
    expect(callErr("time.clock", 1582977600n * 10n ** 12n).message).toBe("time.clock: timestamp too big");
    expect(callErr("time.parse_rfc3339_ns", "2262-04-11T23:47:16.854775808-00:00").message).toContain(
      "time outside of valid range",
    );
  });
  it("parses Go durations", () => {
    expect(gt.parseDuration("1h30m")).toBe(5400000000000n);
    expect(gt.parseDuration("1.5s")).toBe(1500000000n);
    expect(gt.parseDuration("-3µs")).toBe(-3000n);
    expect(() => gt.parseDuration("3x")).toThrow('time: unknown unit "x" in duration "3x"');
  });
});

describe("RE2 regex", () => {
  it("matches patterns that backtrack catastrophically in JavaScript", () => {
    const re = compileRegex("(a+)+$");
    expect(re.match("a".repeat(5000) + "b")).toBe(false);
    expect(compileRegex("(x+x+)+y").match("x".repeat(5000))).toBe(false);
  });
  it("uses Go syntax and error text", () => {
    expect(compileRegex("(?i)\\pL+").match("ÉCOLE")).toBe(true);
    expect(() => compileRegex("[")).toThrow("error parsing regexp: missing closing ]: `[`");
  });
  it("splits, replaces and finds submatches like Go", () => {
    expect(split(compileRegex("a"), "a", "banana")).toEqual(["b", "n", "n", ""]);
    expect(replaceAll(compileRegex("(\\w+)@(\\w+)"), "x bob@host y", "${2}:$1")).toBe("x host:bob y");
    expect(findAllSubmatch(compileRegex("(a)(b)?"), "a ab", -1)).toEqual([
      ["a", "a", ""],
      ["ab", "a", "b"],
    ]);
  });
});

describe("globs", () => {
  it("follows gobwas/glob separators", () => {
    expect(globMatch("*.github.com", ["."], "api.github.com")).toBe(true);
    expect(globMatch("*.github.com", ["."], "a.b.github.com")).toBe(false);
    expect(globMatch("**.github.com", ["."], "a.b.github.com")).toBe(true);
    expect(globMatch("{api,www}.example.[a-c]om", ["."], "www.example.com")).toBe(true);
    expect(globMatch("[!a]?", [], "ba")).toBe(true);
  });
  it("intersects regex globs", () => {
    expect(globsIntersect("a.a.[0-9]+z", ".b.b2359825792*594823z")).toBe(true);
    expect(globsIntersect("[a-z]+", "[0-9]*")).toBe(false); // + needs one char, and no char is in both classes
    expect(() => globsIntersect("pqrs]", "[a-b]+")).toThrow(
      "input:pqrs], pos:5, set-close ']' with no preceding '[': the input provided is invalid",
    );
  });
});

describe("CIDR", () => {
  it("parses and contains like Go's net package", () => {
    const n = ip.parseCIDR("10.0.0.0/8");
    expect(ip.contains(n, ip.parseIP("10.1.2.3")!)).toBe(true);
    expect(ip.contains(n, ip.parseIP("11.0.0.0")!)).toBe(false);
    expect(ip.parseIP("010.1.2.3")).toBeUndefined();
    expect(ip.ipString(ip.parseIP("2001:db8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1");
    expect(() => ip.parseCIDR("10.0.0.0/33")).toThrow("invalid CIDR address: 10.0.0.0/33");
  });
  it("merges and expands through the builtins", () => {
    expect(callJ("net.cidr_merge", ["192.0.128.0/24", "192.0.129.0/24"])).toEqual(["192.0.128.0/23"]);
    expect(callJ("net.cidr_merge", ["192.0.128.0/24", "0.0.0.0/0"])).toEqual(["0.0.0.0/0"]);
    expect(callJ("net.cidr_expand", "192.168.0.0/31")).toEqual(["192.168.0.0", "192.168.0.1"]);
    expect(callJ("net.cidr_contains", "10.0.0.0/8", "10.2.0.0/16")).toBe(true);
    expect(callJ("net.cidr_contains_matches", ["10.0.0.0/8", "192.168.0.0/16"], "10.1.1.1")).toEqual([[0, "10.1.1.1"]]);
    expect(callErr("net.cidr_merge", ["::1"]).message).toBe("net.cidr_merge: IPv6 invalid: needs prefix length");
  });
});

describe("units and semver", () => {
  it("parses units exactly", () => {
    expect(parseUnits("10Ki")).toBe(10240n);
    expect(parseUnits("100m")).toBe("0.1000000000");
    expect(parseUnits("1e3")).toBe(1000n);
    expect(parseBytes("1.5KiB")).toBe(1536n);
    expect(parseBytes("12345678901234567890")).toBe(12345678901234567890n);
    expect(() => parseUnits("1 K")).toThrow("spaces not allowed");
    expect(() => parseBytes("1e1234567")).toThrow("exponent too large");
  });
  it("compares semantic versions", () => {
    expect(compareSemver(parseSemver("1.0.0-alpha")!, parseSemver("1.0.0")!)).toBe(-1);
    expect(compareSemver(parseSemver("1.0.0-alpha.10")!, parseSemver("1.0.0-alpha.2")!)).toBe(1);
    expect(parseSemver("v1.0.0")).toBeUndefined();
    expect(callErr("semver.compare", "1.0.0", "1").message).toBe(
      'semver.compare: operand 2: string "1" is not a valid SemVer',
    );
  });
});

describe("zone abbreviations", () => {
  it("prints Go's tzdata abbreviations", () => {
    const t = (zone: string, ns: bigint) => gt.format({ ns, zone: gt.loadLocation(zone) }, "15:04 MST");
    expect(t("Europe/Paris", 1517832000000000000n)).toBe("13:00 CET");
    expect(t("Europe/Paris", 1530000000000000000n)).toBe("10:00 CEST");
    expect(t("Asia/Kolkata", 1517832000000000000n)).toBe("17:30 IST");
    expect(t("America/Los_Angeles", 1517832000000000000n)).toBe("04:00 PST");
    expect(() => gt.loadLocation("Not/AZone")).toThrow("unknown time zone Not/AZone");
  });
});

describe("hostile inputs stay bounded", () => {
  it("refuses enormous widths, shifts, ranges and expansions", () => {
    expect(callJ("sprintf", "%99999999d", [1])).toBe("%!(BADWIDTH)1");
    expect(callErr("bits.lsh", 1, 1_000_000_000).message).toContain("shift too large");
    expect(callErr("numbers.range", 0, 1e12).message).toContain("range too large");
    expect(callErr("net.cidr_expand", "10.0.0.0/8").message).toContain("too large to expand");
  });
  it("matches globs with many stars in linear time", () => {
    expect(globMatch("*a*a*a*a*a*a*a*a*a*a*b", [], "a".repeat(5000))).toBe(false);
  });
});
