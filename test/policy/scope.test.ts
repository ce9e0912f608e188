// Scope strings and scope patterns (sidecar/policy/scope.ts): the scope comes from the principal and the tool name,
// missing pieces are `-` and only `-` matches them, a `*` never crosses `/` (each segment matches its own field),
// bad patterns fail the load at line:col, and tool_calls.rules keep deny > hold > allow.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { wildcardMatch } from "../../protocol/glob.ts";
import { PolicyError, loadPolicy } from "../../sidecar/policy/index.ts";
import { combineVerdicts, evaluateBlocks } from "../../sidecar/policy/index.ts";
import {
  SCOPE_KEYS,
  callScope,
  matchScope,
  parseScopePattern,
  scopeString,
  type CallScope,
  type ScopePattern,
} from "../../sidecar/policy/scope.ts";
import type { Principal } from "../../sidecar/principals.ts";
import { intent, tempDir } from "./helpers.ts";

const pattern = (s: string): ScopePattern => {
  const r = parseScopePattern(s);
  if ("error" in r) throw new Error(r.error);
  return r.pattern;
};
const call = (tool: string) => intent({ action: "tool.call", params: { tool, args: {} } });

describe("scope strings", () => {
  it("org and team from the principal, server and tool from the tool name; missing pieces are -", () => {
    const p: Principal = { tenant: "acme", team: "payments" };
    expect(scopeString(callScope(call("jira.read_issue"), p))).toBe(
      "org:acme/team:payments/server:jira/tool:read_issue",
    );
    expect(scopeString(callScope(call("github.issues.create"), { tenant: "acme" }))).toBe(
      "org:acme/team:-/server:github/tool:issues.create",
    );
    expect(scopeString(callScope(call("slack.post"), undefined))).toBe("org:-/team:-/server:slack/tool:post");
    expect(scopeString(callScope(intent({ action: "report.daily", params: {} }), p))).toBe(
      "org:acme/team:payments/server:-/tool:-",
    );
  });

  it("never reads the intent's context", () => {
    const i = intent({
      action: "tool.call",
      params: { tool: "a.b", args: {} },
      context: { tenant: "evil", team: "x" },
    });
    expect(callScope(i, undefined)).toEqual({ server: "a", tool: "b" });
  });

  it("a / or % in a tenant name is encoded in the string and cannot forge another segment", () => {
    const s = callScope(call("jira.read"), { tenant: "acme/team:payments" });
    expect(scopeString(s)).toBe("org:acme%2Fteam:payments/team:-/server:jira/tool:read");
    expect(matchScope(pattern("org:acme/team:payments"), s)).toBe(false);
    expect(matchScope(pattern("org:acme*/team:-"), s)).toBe(true); // its own field, matched alone
  });
});

describe("scope patterns", () => {
  const s: CallScope = { org: "acme", team: "payments", server: "jira", tool: "read_issue" };
  it("per-segment globs, any order, omitted keys match anything", () => {
    expect(matchScope(pattern("org:acme/team:*/server:jira/tool:read_*"), s)).toBe(true);
    expect(matchScope(pattern("tool:*/server:jir?"), s)).toBe(true);
    expect(matchScope(pattern("org:acme"), s)).toBe(true);
    expect(matchScope(pattern("org:acme/tool:write_*"), s)).toBe(false);
    expect(matchScope(pattern("server:JIRA/tool:Read_*"), s)).toBe(true); // tool and server: case-insensitive
    expect(matchScope(pattern("org:ACME"), s)).toBe(false); // tenants as the config writes them
  });

  it("only - matches a missing piece; * does not", () => {
    const noTeam: CallScope = { org: "acme", server: "jira", tool: "read" };
    expect(matchScope(pattern("org:acme/team:*"), noTeam)).toBe(false);
    expect(matchScope(pattern("org:acme/team:-"), noTeam)).toBe(true);
    expect(matchScope(pattern("org:acme/team:-"), s)).toBe(false);
    expect(matchScope(pattern("org:*"), {})).toBe(false);
  });

  it("a * never crosses /: a match is exactly every segment's glob matching its own field (property)", () => {
    const name = fc.stringMatching(/^[a-z0-9_.-]{1,8}$/);
    const glob = fc.stringMatching(/^[a-z0-9_*?-]{1,6}$/);
    fc.assert(
      fc.property(
        fc.record({ org: name, team: name, server: name, tool: name }, { requiredKeys: [] }),
        fc.uniqueArray(fc.constantFrom(...SCOPE_KEYS), { minLength: 1 }),
        fc.array(glob, { minLength: 4, maxLength: 4 }),
        (scope, keys, globs) => {
          const src = keys.map((k, i) => `${k}:${globs[i]}`).join("/");
          const expected = keys.every((k, i) => {
            const v = scope[k];
            const g = globs[i]!;
            if (v === undefined) return g === "-";
            const fold = k === "server" || k === "tool";
            return g !== "-" && wildcardMatch(fold ? g.toLowerCase() : g, fold ? v.toLowerCase() : v);
          });
          expect(matchScope(pattern(src), scope)).toBe(expected);
          // the joined scope string never matters: a glob spanning two fields in it matches nothing
          if (keys.length === 1 && scope.org !== undefined && scope.team !== undefined) {
            expect(matchScope(pattern(`org:${scope.org}*`), { ...scope, org: scope.org })).toBe(true);
            expect(matchScope(pattern(`org:*${scope.team}/team:-`), scope)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses bad patterns with what to fix", () => {
    const err = (s: string) => parseScopePattern(s) as { error: string; index: number };
    expect(err("")).toMatchObject({ index: 0 });
    expect(err("org:acme/tem:x").error).toMatch(/segment "tem:x" .* key among org, team, server, tool/);
    expect(err("org:acme/tem:x").index).toBe(9);
    expect(err("org:a/org:b").error).toMatch(/names org twice/);
    expect(err("org:").error).toMatch(/org in scope "org:": is empty/);
    expect(err("github.*").error).toMatch(/not key:glob/);
  });
});

describe("scoped rules in a policy", () => {
  it("bad scope patterns, risk classes and rule shapes fail the load at line:col", async () => {
    const t = await tempDir();
    try {
      const file = await t.write(
        "p.yaml",
        [
          "tool_calls:",
          "  allow: []",
          "  rules:",
          '    - {id: r1, scope: "org:acme/tem:x", effect: deny}',
          "    - {id: r2, risk: severe, effect: hold}",
          "    - {id: r3, effect: allow}",
          "scopes:",
          '  - scope: "org:acme/org:b"',
          "risk:",
          '  high: ["org:"]',
          "rate_limits:",
          "  - {id: r4, scope: agent, actions: [a], tools: [b.c], max: 1, per: 1m}",
          "",
        ].join("\n"),
      );
      const e = await loadPolicy(file).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(PolicyError);
      const issues = (e as PolicyError).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
      expect(issues).toEqual([
        expect.stringMatching(/^4:23 tool_calls\.rules\.0\.scope: segment "tem:x"/),
        expect.stringMatching(/^5:22 tool_calls\.rules\.1\.risk: must be a risk class/),
        expect.stringMatching(/^8:12 scopes\.0\.scope: scope "org:acme\/org:b" names org twice/),
        expect.stringMatching(/^10:10 risk\.high\.0: org in scope "org:": is empty/),
      ]);
      // with those fixed, the cross-field checks: an empty rule, a rate limit with both actions and tools
      const file2 = await t.write(
        "p2.yaml",
        [
          "tool_calls:",
          "  rules:",
          "    - {id: r3, effect: allow}",
          "rate_limits:",
          "  - {id: r4, scope: agent, actions: [a], tools: [b.c], max: 1, per: 1m}",
          "",
        ].join("\n"),
      );
      const e2 = (await loadPolicy(file2).catch((x: unknown) => x)) as PolicyError;
      expect(e2.issues.map((i) => `${i.line}:${i.column} ${i.message}`)).toEqual([
        expect.stringMatching(/^3:7 rule r3 matches every call; give it a scope, tools or risk/),
        expect.stringMatching(/^5:42 rate limit r4 has both actions and tools/),
      ]);
    } finally {
      await t.cleanup();
    }
  });

  it("holds.overrides may name hold rules of tool_calls.rules and rate limits that hold, not those that deny", async () => {
    const t = await tempDir();
    try {
      const base = [
        "tool_calls:",
        "  rules:",
        "    - {id: review-high, risk: high, effect: hold}",
        '    - {id: no-prod, scope: "server:prod", effect: deny}',
        "rate_limits:",
        "  - {id: burst, scope: agent, max: 1, per: 1m, on_exceed: hold}",
        "  - {id: hard, scope: agent, max: 1, per: 1m}",
        "holds:",
        "  overrides:",
        "    - {rule: review-high, approvals_required: 2}",
        "    - {rule: burst, ttl: 1h}",
      ];
      const ok = await loadPolicy(await t.write("ok.yaml", base.join("\n")));
      expect([...ok.config.holds.overrides.keys()]).toEqual(["review-high", "burst"]);
      const bad = await loadPolicy(
        await t.write(
          "bad.yaml",
          [...base, "    - {rule: hard, ttl: 1h}", "    - {rule: no-prod, ttl: 1h}"].join("\n"),
        ),
      ).catch((e: PolicyError) => e);
      expect((bad as PolicyError).issues.map((i) => `${i.line} ${i.message.slice(0, 30)}`)).toEqual([
        '12 no rule "hard" can raise a hol',
        '13 no rule "no-prod" can raise a ',
      ]);
    } finally {
      await t.cleanup();
    }
  });

  it("deny > hold > allow among rules and lists, whatever the order", async () => {
    const t = await tempDir();
    try {
      const p = await loadPolicy(
        await t.write(
          "p.yaml",
          `
tool_calls:
  allow: ["jira.*"]
  rules:
    - {id: allow-pay, scope: "org:acme/team:payments", tools: ["stripe.*"], effect: allow}
    - {id: hold-refund, tools: ["stripe.refund"], effect: hold}
    - {id: deny-interns, scope: "team:interns", effect: deny}
    - {id: allow-interns, scope: "team:interns", effect: allow}
`,
        ),
      );
      const decide = async (tool: string, principal?: Principal) =>
        combineVerdicts(await evaluateBlocks(p, call(tool), { now: new Date(), ...(principal ? { principal } : {}) }));
      const pay = { tenant: "acme", team: "payments" };
      expect((await decide("stripe.charge", pay)).effect).toBe("allow");
      expect((await decide("stripe.charge", { tenant: "acme", team: "ops" })).effect).toBe("deny");
      expect((await decide("stripe.charge")).effect).toBe("deny");
      const refund = await decide("stripe.refund", pay);
      expect(refund).toMatchObject({ effect: "hold", reasons: [{ block: "tool_calls", rule: "hold-refund" }] });
      const intern = await decide("jira.read", { tenant: "acme", team: "interns" });
      expect(intern.effect).toBe("deny");
      expect(intern.reasons[0]).toMatchObject({
        rule: "deny-interns",
        message:
          'tool jira.read matches tool_calls.rules[2] (scope org:acme/team:interns/server:jira/tool:read matches "team:interns") and is denied',
      });
    } finally {
      await t.cleanup();
    }
  });
});
