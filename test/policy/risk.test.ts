// Risk classes (sidecar/policy/risk.ts): from name globs or scope patterns, the highest matching class wins, the
// default is medium; rules in tool_calls, actions and scopes sections match on the class; every verdict of those
// blocks names it when the policy has a `risk` block (and none does without one).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { combineVerdicts, evaluateBlocks, loadPolicy } from "../../sidecar/policy/index.ts";
import { RISK_LEVELS, classify, compileRisk, riskRank, type RiskLevel } from "../../sidecar/policy/risk.ts";
import { callScope } from "../../sidecar/policy/scope.ts";
import type { Principal } from "../../sidecar/principals.ts";
import { intent, tempDir } from "./helpers.ts";

const tool = (name: string) => intent({ action: "tool.call", params: { tool: name, args: {} } });

describe("classify", () => {
  const cfg = compileRisk({
    critical: ["github.delete_*"],
    high: ["github.*", "tool:*/server:prod-*", "org:acme/team:interns"],
    low: ["*.read_*", "*.get_*", "report.*"],
  });
  const cls = (i: ReturnType<typeof tool>, p?: Principal) => classify(cfg, i, callScope(i, p));

  it("the highest matching class wins; none matching is medium", () => {
    expect(cls(tool("github.delete_repo"))).toEqual({ level: "critical", pattern: "github.delete_*" });
    expect(cls(tool("github.read_file"))).toEqual({ level: "high", pattern: "github.*" }); // high beats low
    expect(cls(tool("jira.read_issue"))).toEqual({ level: "low", pattern: "*.read_*" });
    expect(cls(tool("jira.create_issue"))).toEqual({ level: "medium" });
    expect(cls(intent({ action: "report.daily", params: {} }))).toEqual({ level: "low", pattern: "report.*" });
    expect(cls(tool("GitHub.Delete_Repo")).level).toBe("critical"); // tool names: case-insensitive
  });

  it("scope patterns: by server, and by the principal's tenant and team", () => {
    expect(cls(tool("prod-db.read_rows")).level).toBe("high");
    expect(cls(tool("jira.read_issue"), { tenant: "acme", team: "interns" }).level).toBe("high");
    expect(cls(tool("jira.read_issue"), { tenant: "acme", team: "ops" }).level).toBe("low");
  });

  it("the class is the highest of the matching patterns' classes, whatever their order (property)", () => {
    const names = ["a.read_x", "a.b", "gh.delete_x", "prod.x", "r.get_y"];
    const pattern = fc.constantFrom("*.read_*", "gh.*", "*", "prod.*", "*.get_*", "server:prod", "tool:b");
    const entries = fc.array(fc.tuple(fc.constantFrom(...RISK_LEVELS), pattern), { maxLength: 8 });
    fc.assert(
      fc.property(entries, (list) => {
        const block: Partial<Record<RiskLevel, string[]>> = {};
        for (const [l, g] of list) (block[l] ??= []).push(g);
        for (const n of names) {
          const i = tool(n);
          const s = callScope(i, undefined);
          // oracle: each pattern alone
          const hits = list.filter(([l, g]) => classify(compileRisk({ [l]: [g] }), i, s).pattern === g).map(([l]) => l);
          const want = hits.length ? hits.reduce((a, b) => (riskRank(b) > riskRank(a) ? b : a)) : "medium";
          expect(classify(compileRisk(block), i, s).level).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("rules on risk", () => {
  it("tool_calls, actions and scopes rules hold and approve by class; every verdict names the class", async () => {
    const t = await tempDir();
    try {
      const p = await loadPolicy(
        await t.write(
          "p.yaml",
          `
actions:
  allow: ["report.*"]
  rules:
    - {id: critical-anything, risk: critical, effect: hold}
    - {id: low-actions, risk: low, actions: ["ticket.*"], effect: allow}
evm:
  max_value: "1 ether"
tool_calls:
  allow: ["jira.*"]
  rules:
    - {id: hold-high, risk: [high, critical], effect: hold}
    - {id: auto-low, risk: low, effect: allow}
risk:
  critical: ["evm.*", "github.delete_*"]
  high: ["stripe.*"]
  low: ["*.read_*", "ticket.*"]
scopes:
  - scope: "org:acme/team:interns"
    tool_calls:
      rules:
        - {id: interns-medium, risk: medium, effect: hold}
`,
        ),
      );
      const decide = async (i: ReturnType<typeof tool>, principal?: Principal) =>
        combineVerdicts(await evaluateBlocks(p, i, { now: new Date(), ...(principal ? { principal } : {}) }));
      const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);

      expect(rules(await decide(tool("stripe.charge")))).toEqual(["tool_calls/hold-high", "risk/high"]);
      expect((await decide(tool("stripe.charge"))).effect).toBe("hold");
      const read = await decide(tool("confluence.read_page"));
      expect(read.effect).toBe("allow");
      expect(rules(read)).toEqual(["tool_calls/auto-low", "risk/low"]);
      // critical: held by the actions rule, evm included (a block of its own; the actions rule still holds)
      const gh = await decide(tool("github.delete_repo"));
      expect(gh.effect).toBe("hold");
      expect(rules(gh)).toContain("actions/critical-anything");
      const tx = await decide(
        intent({
          action: "evm.transaction",
          params: { chain_id: 8453, to: "0x1111111111111111111111111111111111111111", value: "1" },
        }),
      );
      expect(tx.effect).toBe("hold");
      expect(rules(tx)).toEqual(["actions/critical-anything", "risk/critical"]);
      // a low action allowed by a rule alone; a medium one by actions.allow, naming its class
      expect(rules(await decide(intent({ action: "ticket.close", params: {} })))).toEqual([
        "actions/low-actions",
        "risk/low",
      ]);
      expect(rules(await decide(intent({ action: "report.daily", params: {} })))).toEqual([
        "actions/allow",
        "risk/medium",
      ]);
      // a section holds medium calls for interns only
      expect((await decide(tool("jira.create_issue"), { tenant: "acme", team: "interns" })).effect).toBe("hold");
      expect((await decide(tool("jira.create_issue"), { tenant: "acme", team: "ops" })).effect).toBe("allow");
    } finally {
      await t.cleanup();
    }
  });

  it("without a risk block no reason names a class (decisions as before)", async () => {
    const t = await tempDir();
    try {
      const p = await loadPolicy(await t.write("p.yaml", 'tool_calls:\n  allow: ["jira.*"]\n'));
      const r = combineVerdicts(await evaluateBlocks(p, tool("jira.read_issue"), { now: new Date() }));
      expect(r.reasons.map((x) => x.block)).toEqual(["tool_calls"]);
    } finally {
      await t.cleanup();
    }
  });
});
