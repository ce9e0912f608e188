// `scopes` sections can only narrow: for random base policies (tool_calls and actions lists and scoped rules, risk
// classes) and random sections, the decision with the sections is never more permissive than without them
// (deny < hold < allow), for every principal and call. Compile + evaluate level, through loadPolicy.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { combineVerdicts, evaluateBlocks, loadPolicy } from "../../sidecar/policy/index.ts";
import type { Principal } from "../../sidecar/principals.ts";
import { intent, tempDir } from "./helpers.ts";

const TOOLS = ["slack.post", "slack.read_channel", "jira.read_issue", "stripe.refund", "github.delete_repo"];
const GLOBS = ["slack.*", "*.read_*", "stripe.*", "github.*", "*", "jira.read_issue"];
const SCOPES = [
  "org:acme",
  "org:acme/team:payments",
  "team:*",
  "team:-",
  "server:slack",
  "org:globex/tool:read*",
  "org:-",
];
const PRINCIPALS: (Principal | undefined)[] = [
  undefined,
  { tenant: "acme", team: "payments" },
  { tenant: "acme", team: "ops" },
  { tenant: "acme" },
  { tenant: "globex", team: "payments" },
];
const RANK = { deny: 0, hold: 1, allow: 2 } as const;

const sub = <T>(xs: readonly T[]) => fc.subarray([...xs]);
const effect = fc.constantFrom("deny", "hold", "allow");
const rule = (names: "tools" | "actions") =>
  fc
    .record(
      {
        effect,
        scope: fc.constantFrom(...SCOPES),
        [names]: sub(names === "tools" ? GLOBS : ["report.*", "tool.call", "*"]),
        risk: fc.subarray(["low", "medium", "high", "critical"], { minLength: 1 }),
      },
      { requiredKeys: ["effect"] },
    )
    .filter((r) => Object.keys(r).length > 1); // a rule needs a condition
const rules = (names: "tools" | "actions") => fc.array(rule(names), { maxLength: 3 });
const toolCalls = fc.record(
  { allow: sub(GLOBS), deny: sub(GLOBS), hold: sub(GLOBS), rules: rules("tools") },
  { requiredKeys: [] },
);
const actions = fc.record(
  { allow: sub(["report.*", "x.*"]), deny: sub(["report.weekly"]), rules: rules("actions") },
  {
    requiredKeys: [],
  },
);
const risk = fc.record({ high: sub(["stripe.*", "github.delete_*", "server:slack"]), low: sub(["*.read_*"]) });
const section = fc.record(
  { scope: fc.constantFrom(...SCOPES), tool_calls: toolCalls, actions },
  { requiredKeys: ["scope"] },
);

/** Gives every rule a unique id (ids are unique policy-wide). */
function withIds(policy: Record<string, unknown>): Record<string, unknown> {
  let n = 0;
  const visit = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(visit);
    if (v && typeof v === "object") {
      const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
      if ("effect" in o) o.id = `r${n++}`;
      return o;
    }
    return v;
  };
  return visit(policy) as Record<string, unknown>;
}

describe("scopes sections only narrow (property)", () => {
  it("base + sections is never more permissive than base, for every principal and call", async () => {
    const t = await tempDir();
    try {
      let i = 0;
      let narrowed = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.record({ tool_calls: toolCalls, actions, risk }, { requiredKeys: [] }),
          fc.array(section, { minLength: 1, maxLength: 3 }),
          async (baseRaw, sections) => {
            const base = withIds(baseRaw);
            const both = withIds({ ...baseRaw, scopes: sections });
            const pBase = await loadPolicy(await t.write(`b${i}.yaml`, JSON.stringify(base)));
            const pBoth = await loadPolicy(await t.write(`s${i++}.yaml`, JSON.stringify(both)));
            const calls = [
              ...TOOLS.map((tool) => intent({ action: "tool.call", params: { tool, args: {} } })),
              intent({ action: "report.daily", params: {} }),
              intent({ action: "report.weekly", params: {} }),
            ];
            for (const principal of PRINCIPALS) {
              const env = { now: new Date(), ...(principal ? { principal } : {}) };
              for (const c of calls) {
                const a = combineVerdicts(await evaluateBlocks(pBase, c, env)).effect;
                const b = combineVerdicts(await evaluateBlocks(pBoth, c, env)).effect;
                if (RANK[b] > RANK[a])
                  throw new Error(`${c.action} ${JSON.stringify(c.params)} ${JSON.stringify(principal)}: ${a} -> ${b}`);
                if (RANK[b] < RANK[a]) narrowed++;
              }
            }
          },
        ),
        { numRuns: 120 },
      );
      // the generator does exercise sections that narrow (the property is not vacuous)
      expect(narrowed).toBeGreaterThan(50);
    } finally {
      await t.cleanup();
    }
  }, 60_000);

  it("a team section cannot undo a tenant section's or the base's deny", async () => {
    const t = await tempDir();
    try {
      const p = await loadPolicy(
        await t.write(
          "p.yaml",
          `
tool_calls:
  allow: ["slack.*", "stripe.*"]
  deny: ["stripe.refund"]
scopes:
  - scope: "org:acme"
    tool_calls: {deny: ["slack.delete_*"]}
  - scope: "org:acme/team:payments"
    tool_calls:
      allow: ["slack.*", "stripe.*"]
      rules:
        - {id: pay-all, tools: ["*"], effect: allow}
`,
        ),
      );
      const env = { now: new Date(), principal: { tenant: "acme", team: "payments" } };
      const d = async (tool: string) =>
        combineVerdicts(await evaluateBlocks(p, intent({ action: "tool.call", params: { tool, args: {} } }), env));
      expect((await d("stripe.refund")).effect).toBe("deny");
      expect(await d("slack.delete_msg")).toMatchObject({
        effect: "deny",
        reasons: [
          {
            block: "scopes",
            rule: "deny",
            message: 'tool slack.delete_msg matches tool_calls.deny "slack.delete_*" in scopes[0] (org:acme)',
          },
        ],
      });
      expect((await d("github.read")).effect).toBe("deny"); // not in the base allow: the section's allow does not add it
      expect((await d("slack.post")).effect).toBe("allow");
    } finally {
      await t.cleanup();
    }
  });
});
