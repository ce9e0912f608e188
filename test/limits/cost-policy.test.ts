// The `costs` and `budgets` blocks through the real loader: compiled values, and every mistake at its line:col with
// what to fix.
import { afterAll, describe, expect, it } from "vitest";
import { loadPolicy, PolicyError } from "../../sidecar/policy/index.ts";
import type { PolicyConfig } from "../../sidecar/policy/config.ts";
import { decide, tempDir } from "../policy/helpers.ts";
import { parseIntent, type Intent } from "../../protocol/index.ts";

const t = await tempDir();
afterAll(() => t.cleanup());

async function issuesOf(yaml: string): Promise<string[]> {
  const f = await t.write(`p${Math.random().toString(36).slice(2)}.yaml`, yaml);
  try {
    await loadPolicy(f);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return e.issues.map((i) => `${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ""}${i.message}`);
  }
  throw new Error("expected the policy to fail to load");
}

describe("costs and budgets in the policy", () => {
  it("compiles measures and budgets", async () => {
    const f = await t.write(
      "ok.yaml",
      `actions:
  allow: ["llm.*"]
costs:
  - id: tokens
    actions: ["llm.*"]
    measure: double(intent.params.tokens) * 0.000002
    currency: USD
budgets:
  - id: team-daily
    scope: team
    per: day
    limit: "500 USD"
    alert_at: [1.0, 0.5, 0.8]
    on_exceed: deny
  - id: agent-30d
    scope: agent
    per: 30d
    limit: "12.5 USD"
holds:
  overrides:
    - rule: agent-30d
      approvals_required: 2
`,
    );
    const p = await loadPolicy(f);
    const c = (p.config as PolicyConfig).costs!;
    expect(c.measures.map((m) => m.id)).toEqual(["tokens"]);
    expect(c.measures[0]!.measure({ agent: "a", action: "llm.x", params: { tokens: 1000 }, context: {} }, { now: new Date() })).toBeCloseTo(0.002);
    expect(c.budgets[0]).toMatchObject({ id: "team-daily", scope: "team", per: { calendar: "day" }, limitUnits: 500_000_000, currency: "USD", alertAt: [0.5, 0.8, 1], onExceed: "deny" });
    expect(c.budgets[1]).toMatchObject({ per: { everyMs: 30 * 86_400_000 }, limitUnits: 12_500_000, alertAt: [1], onExceed: "hold" });
  });

  it("reports mistakes at line:col", async () => {
    const issues = await issuesOf(`budgets:
  - id: b1
    scope: org
    per: fortnight
    limit: 500
    alert_at: [0, 0.5]
    on_exceed: block
  - id: b1
    scope: team
    per: day
    limit: "5 USD"
costs:
  - id: m
    measure: intent.params.tokens +
    currency: usd
`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3:12: budgets\.0\.scope: must be "agent", "team" or "tenant"/),
        expect.stringMatching(/^4:10: budgets\.0\.per: "fortnight" is not a budget window; use "day", "week", "month"/),
        expect.stringMatching(/^5:12: budgets\.0\.limit: 500 is not a budget limit; write the amount and its currency, e\.g\. "500 USD"/),
        expect.stringMatching(/^6:16: budgets\.0\.alert_at\.0: must be greater than 0/),
        expect.stringMatching(/^7:16: budgets\.0\.on_exceed: must be "hold" or "deny"/),
        expect.stringMatching(/^15:15: costs\.0\.currency: must be an upper-case currency/),
      ]),
    );
  });

  it("duplicate ids, bad CEL, currencies no budget counts and reserved soft-limit ids", async () => {
    const issues = await issuesOf(`soft_limits:
  - id: "cost:agent:USD"
    measure: count
    scope: agent
    window: 1h
    max: 3
budgets:
  - id: b1
    scope: team
    per: day
    limit: "5 USD"
  - id: b1
    scope: agent
    per: week
    limit: "5 USD"
costs:
  - id: m
    measure: "intent.params.tokens +"
    currency: USD
  - id: e
    measure: "1.0"
    currency: EUR
`);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^2:9: soft_limits\.0\.id: ids starting with "cost:" are reserved for cost totals/),
        expect.stringMatching(/^12:9: budgets\.1\.id: rule id "b1" is already used at budgets\.0\.id/),
        expect.stringMatching(/^18:\d+: costs\.0\.measure: /),
        expect.stringMatching(/^22:15: costs\.1\.currency: no budget counts EUR \(budgets count USD\)/),
      ]),
    );
  });

  it("custom CEL rules can read the declared cost (has(intent.cost) only when declared)", async () => {
    const f = await t.write(
      "cel.yaml",
      `actions:
  allow: ["llm.*"]
custom:
  - id: pricey
    hold: has(intent.cost) && intent.cost.currency == "USD" && double(intent.cost.amount) > 5.0
    reason: "expensive call"
  - id: unpriced
    deny: '!has(intent.cost)'
    reason: "declare what it costs"
`,
    );
    const p = await loadPolicy(f);
    const i = (cost?: { amount: string; currency: string }): Intent => {
      const r = parseIntent({ agent: "a", action: "llm.run", params: {}, ...(cost ? { cost } : {}) });
      if (!r.ok) throw new Error("bad test intent");
      return r.intent;
    };
    expect((await decide(p, i({ amount: "5", currency: "USD" }))).effect).toBe("allow");
    expect((await decide(p, i({ amount: "5.000001", currency: "USD" }))).effect).toBe("hold");
    expect((await decide(p, i({ amount: "9", currency: "EUR" }))).effect).toBe("allow");
    expect((await decide(p, i())).effect).toBe("deny");
  });
});
