// The one policy glob matcher (protocol/glob.ts), through every caller: action globs (actions, soft_limits compiled
// by the policy), soft-limit action lists given as plain strings (the ledger), tool globs (case-insensitive), host
// globs (tool_calls.domains) and the proxy's require_attestation. The cases are those the former matchers' tests
// asserted (sidecar/policy/glob.ts, sidecar/limits/glob.ts, proxy hostGlob), plus the `?` cases where they differed.
import { describe, expect, it } from "vitest";
import { compileGlobs, compileHostGlobs, globProblem, wildcardMatch } from "../../protocol/glob.ts";
import { proxyPolicy } from "../../proxy/policy.ts";

type Caller = "actions" | "limit-strings" | "tools" | "hosts" | "require_attestation";

/** Whether `name` matches `pattern` as each caller matches it. */
const callers: Record<Caller, (pattern: string, name: string) => boolean> = {
  actions: (p, n) => compileGlobs([p]).test(n),
  "limit-strings": (p, n) => wildcardMatch(p, n),
  tools: (p, n) => compileGlobs([p], { caseInsensitive: true }).test(n),
  hosts: (p, n) => compileHostGlobs([p]).test(n),
  require_attestation: (p, n) =>
    proxyPolicy({ decide: () => ({ allow: true, reasons: [] }), requireAttestation: [p] }).requireAttestation(n),
};
const NAMES: Caller[] = ["actions", "limit-strings"];
const CASELESS: Caller[] = ["tools", "hosts", "require_attestation"];
const ALL: Caller[] = [...NAMES, ...CASELESS];

// [pattern, name, expected, callers]
const cases: [string, string, boolean, Caller[]][] = [
  // `*`: any run of characters, dots included, the empty run too
  ["github.*", "github.delete_repo", true, ALL],
  ["github.*", "github.issues.create", true, ALL],
  ["github.*", "githubx.y", false, ALL],
  ["github.*", "github", false, ALL],
  ["treasury.*", "treasury.disburse", true, ALL],
  ["report.*", "report.daily", true, ALL],
  ["*", "anything.at.all", true, ALL],
  ["*", "", true, ALL],
  ["a*b*c", "abc", true, ALL],
  ["a*b*c", "axxbyyc", true, ALL],
  ["a*b*c", "axxbyy", false, ALL],
  // exact names
  ["slack.post_message", "slack.post_message", true, ALL],
  ["treasury.disburse", "treasury.disburse", true, ALL],
  ["tool.call", "tool.call", true, ALL],
  ["tool.call", "tool.calls", false, ALL],
  ["gov.example.com", "gov.example.com", true, ALL],
  ["gov.example.com", "api.example.com", false, ALL],
  // `.` is a literal dot, not a regex wildcard
  ["report.daily", "reportxdaily", false, ALL],
  // `?`: exactly one character. The ledger's and the proxy's former matchers read it literally (so it matched
  // nothing: action and host names cannot contain `?`); one character is the stricter reading for both.
  ["report.?", "report.a", true, ALL],
  ["report.?", "report.ab", false, ALL],
  ["report.?", "report.", false, ALL],
  ["api?.example.com", "api2.example.com", true, ALL],
  ["a?c", "a.c", true, ALL],
  // host globs: `*.company.com` is every subdomain, however deep, never the apex nor a look-alike
  ["*.company.com", "a.company.com", true, ALL],
  ["*.company.com", "a.b.company.com", true, ALL],
  ["*.company.com", "company.com", false, ALL],
  ["*.company.com", "evilcompany.com", false, ALL],
  ["*.company.com", "company.com.evil.io", false, ALL],
  ["*.pay.example.com", "eu.pay.example.com", true, ALL],
  ["*.pay.example.com", "pay.example.com", false, ALL],
  ["*.ngrok.io", "abc.ngrok.io", true, ALL],
  // case: actions are case-sensitive; tools and hosts are not (`Shell.exec` cannot dodge `shell.*`)
  ["shell.*", "Shell.exec", true, CASELESS],
  ["shell.*", "Shell.exec", false, NAMES],
  ["*.company.com", "A.B.Company.COM", true, CASELESS],
  ["Slack.Post_Message", "slack.post_message", true, CASELESS],
  ["Slack.Post_Message", "slack.post_message", false, NAMES],
  ["GOV.example.com", "gov.EXAMPLE.com", true, CASELESS],
];

describe("policy globs, every caller", () => {
  for (const [pattern, name, expected, who] of cases) {
    for (const caller of who) {
      it(`${caller}: ${JSON.stringify(pattern)} ${expected ? "matches" : "does not match"} ${JSON.stringify(name)}`, () => {
        expect(callers[caller](pattern, name)).toBe(expected);
      });
    }
  }
});

describe("compiled glob sets", () => {
  it("match gives the first pattern that matches, exact names before wildcards", () => {
    const g = compileGlobs(["github.*", "report.?", "slack.post_message"]);
    expect(g.match("github.delete_repo")).toBe("github.*");
    expect(g.match("slack.post_message")).toBe("slack.post_message");
    expect(g.match("nope")).toBeUndefined();
    expect(compileGlobs(["*", "tool.call"]).match("tool.call")).toBe("tool.call");
    expect(compileGlobs(["a.*", "*.b"]).match("a.b")).toBe("a.*");
    expect(compileGlobs(["Shell.*"], { caseInsensitive: true }).match("SHELL.exec")).toBe("Shell.*");
    expect(compileGlobs(["Tool.Call"], { caseInsensitive: true }).match("tool.call")).toBe("Tool.Call");
  });
  it("an empty set matches nothing", () => {
    expect(compileGlobs([]).test("x")).toBe(false);
    expect(compileHostGlobs().test("example.com")).toBe(false);
    expect(proxyPolicy({ decide: () => ({ allow: true, reasons: [] }) }).requireAttestation("example.com")).toBe(false);
  });
  it("stays linear-ish on adversarial names (no regular expressions, no backtracking blow-up)", () => {
    const t0 = performance.now();
    expect(wildcardMatch("*a*a*a*b", `a.${"a".repeat(50_000)}`)).toBe(false);
    expect(wildcardMatch("*a*a*a*b", `a.${"a".repeat(5_000)}b`)).toBe(true);
    expect(compileHostGlobs(["*.*.*.*.company.com"]).test(`${"a.".repeat(20_000)}evil.com`)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe("glob validation", () => {
  it.each([
    ["", /is empty/],
    [" *.company.com", /whitespace/],
    ["github .*", /whitespace/],
  ])("%j is refused", (pattern, message) => {
    expect(globProblem(pattern)).toMatch(message);
  });
  it.each(["github.*", "*.company.com", "report.?", "*"])("%j is a glob", (pattern) => {
    expect(globProblem(pattern)).toBeUndefined();
  });
  it("the proxy refuses a require_attestation glob that could govern nothing", () => {
    expect(() =>
      proxyPolicy({ decide: () => ({ allow: true, reasons: [] }), requireAttestation: [" gov.example.com"] }),
    ).toThrow(/require_attestation: .*whitespace/);
  });
});
