// evaluateBlocks and combineVerdicts: fail closed, default deny, precedence, blocks absent from the policy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  combineVerdicts,
  evaluateBlocks,
  loadPolicy,
  type BlockVerdict,
  type LoadedPolicy,
} from "../../sidecar/policy/index.ts";
import { parseAmount, parseDuration, parseTokenAmount, compileMeasure } from "../../sidecar/policy/index.ts";
import { formatDuration } from "../../sidecar/policy/units.ts";
import { decide, intent, tempDir } from "./helpers.ts";

const v = (block: string, effect: BlockVerdict["effect"], rule = "r"): BlockVerdict => ({
  block,
  effect,
  reasons: effect === "abstain" ? [] : [{ block, rule, message: `${block} ${effect}` }],
});

describe("combineVerdicts", () => {
  it("deny > hold > allow, regardless of order", () => {
    expect(combineVerdicts([v("a", "allow"), v("b", "hold"), v("c", "deny")]).effect).toBe("deny");
    expect(combineVerdicts([v("c", "deny"), v("a", "allow")]).reasons).toEqual([
      { block: "c", rule: "r", message: "c deny" },
    ]);
    expect(combineVerdicts([v("a", "allow"), v("b", "hold")])).toEqual({
      effect: "hold",
      reasons: [{ block: "b", rule: "r", message: "b hold" }],
    });
    expect(combineVerdicts([v("a", "allow"), v("b", "abstain")]).effect).toBe("allow");
  });
  it("denies when nothing allowed (default deny)", () => {
    expect(combineVerdicts([]).effect).toBe("deny");
    expect(combineVerdicts([v("a", "abstain")])).toEqual({
      effect: "deny",
      reasons: [{ block: "policy", rule: "default_deny", message: expect.stringContaining("default deny") }],
    });
  });
});

describe("evaluateBlocks", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let empty: LoadedPolicy;
  beforeAll(async () => {
    t = await tempDir();
    empty = await loadPolicy(await t.write("empty.yaml", "version: 1\n"));
  });
  afterAll(() => t.cleanup());

  it("turns a throwing or rejecting block into a deny naming the block", async () => {
    const p: LoadedPolicy = {
      ...empty,
      evaluators: [
        { block: "actions", evaluate: () => ({ block: "actions", effect: "allow", reasons: [] }) },
        {
          block: "evm",
          evaluate: () => {
            throw new Error("boom");
          },
        },
        {
          block: "custom",
          evaluate: async () => {
            throw new Error("async boom");
          },
        },
      ],
    };
    const vs = await evaluateBlocks(p, intent({ action: "report.x", params: {} }), { now: new Date() });
    expect(vs.filter((x) => x.effect === "deny").map((x) => x.reasons[0])).toEqual([
      { block: "evm", rule: "error", message: expect.stringContaining("boom") },
      { block: "custom", rule: "error", message: expect.stringContaining("async boom") },
    ]);
    expect(combineVerdicts(vs).effect).toBe("deny");
  });

  it("denies kinds whose block is absent, with a clear reason", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["evm.transaction", { chain_id: 1, to: "0x1111111111111111111111111111111111111111", value: "0" }, "evm/missing"],
      ["tool.call", { tool: "slack.post", args: {} }, "tool_calls/missing"],
      ["http.request", { method: "GET", url: "https://example.com/" }, "network/missing"],
      ["report.x", {}, "actions/allow"],
    ];
    for (const [action, params, rule] of cases) {
      const r = await decide(empty, intent({ action, params }));
      expect(r.effect).toBe("deny");
      expect(r.reasons.map((x) => `${x.block}/${x.rule}`)).toEqual([rule]);
    }
  });

  it("actions.allow does not open kinds that have their own block; actions.deny closes any kind", async () => {
    const p = await loadPolicy(
      await t.write("a.yaml", 'actions:\n  allow: ["*"]\n  deny: ["tool.call"]\ntool_calls:\n  allow: ["*"]\n'),
    );
    expect(
      (
        await decide(
          p,
          intent({
            action: "evm.transaction",
            params: { chain_id: 1, to: "0x1111111111111111111111111111111111111111", value: "0" },
          }),
        )
      ).reasons[0]!.rule,
    ).toBe("missing");
    expect(
      (await decide(p, intent({ action: "tool.call", params: { tool: "a.b", args: {} } }))).reasons.map((x) => x.rule),
    ).toEqual(["deny"]);
    expect((await decide(p, intent({ action: "anything.else", params: {} }))).effect).toBe("allow");
  });

  it("http.request goes to the network block (inline Rego from Markdown), which denies here", async () => {
    const p = await loadPolicy(
      await t.write("n.md", "```rego\npackage nemoclaw.network\ndefault allow := false\n```\n"),
    );
    const r = await decide(
      p,
      intent({ action: "http.request", params: { method: "GET", url: "https://example.com/" } }),
    );
    expect(r.effect).toBe("deny");
    expect(r.reasons.map((x) => x.block)).toEqual(["network"]);
  });
});

describe("evm rules precedence and criteria", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  let p: LoadedPolicy;
  const A = "0x1111111111111111111111111111111111111111";
  const B = "0x2222222222222222222222222222222222222222";
  beforeAll(async () => {
    t = await tempDir();
    p = await loadPolicy(
      await t.write(
        "evm.yaml",
        [
          "evm:",
          "  rules:",
          "    - id: allow-base",
          "      effect: allow",
          "      operation: sendTransaction",
          "      criteria: [{ type: evmNetwork, operator: in, networks: [base] }]",
          "    - id: review-big",
          "      effect: hold",
          '      criteria: [{ type: ethValue, operator: ">", ethValue: "1 ether" }]',
          "    - id: block-b",
          "      effect: deny",
          '      criteria: [{ type: evmAddress, operator: in, addresses: ["' + B + '"] }]',
        ].join("\n"),
      ),
    );
  });
  afterAll(() => t.cleanup());
  const send = (chain_id: number, to: string, value: string) =>
    intent({ action: "evm.transaction", params: { chain_id, to, value } });

  it("deny beats hold beats allow whatever the order", async () => {
    expect((await decide(p, send(8453, B, "2000000000000000000"))).reasons.map((r) => r.rule)).toEqual(["block-b"]);
    expect((await decide(p, send(8453, A, "2000000000000000000"))).reasons.map((r) => r.rule)).toEqual(["review-big"]);
    expect((await decide(p, send(8453, A, "1"))).effect).toBe("allow");
  });
  it("allow rules make the operation an allowlist", async () => {
    expect((await decide(p, send(1, A, "1"))).reasons.map((r) => r.rule)).toEqual(["rules"]);
  });
});

describe("units and measures", () => {
  it("parses amounts", () => {
    expect(parseAmount("0.05 ether")).toEqual({ ok: true, value: 50_000_000_000_000_000n });
    expect(parseAmount("20 gwei")).toEqual({ ok: true, value: 20_000_000_000n });
    expect(parseAmount("1000 wei")).toEqual({ ok: true, value: 1000n });
    expect(parseAmount("123456789012345678901234567890")).toEqual({ ok: true, value: 123456789012345678901234567890n });
    expect(parseAmount(42)).toEqual({ ok: true, value: 42n });
    for (const bad of ["0.05 eth", "1.5 wei", "-1", "1e18", 0.5, "ether"]) expect(parseAmount(bad).ok).toBe(false);
  });
  it("parses token amounts and durations", () => {
    expect(parseTokenAmount("5000", 6)).toEqual({ ok: true, value: 5_000_000_000n });
    expect(parseTokenAmount("0.5", 6)).toEqual({ ok: true, value: 500_000n });
    expect(parseTokenAmount("0.1234567", 6).ok).toBe(false);
    expect(parseDuration("24h")).toEqual({ ok: true, value: 86_400_000 });
    expect(parseDuration("90m")).toEqual({ ok: true, value: 5_400_000 });
    expect(parseDuration("30s")).toEqual({ ok: true, value: 30_000 });
    expect(parseDuration("7d")).toEqual({ ok: true, value: 604_800_000 });
    expect(parseDuration("1h30m")).toEqual({ ok: true, value: 5_400_000 });
    for (const bad of ["24", "1 day", "0s", 3600, "1.5h", ""]) expect(parseDuration(bad).ok).toBe(false);
    // the ledger's reasons print windows with formatDuration; what it prints parses back to the same window
    for (const [ms, text] of [
      [86_400_000, "1d"],
      [5_400_000, "90m"],
      [45_000, "45s"],
      [3_600_000, "1h"],
      [1_500, "1500ms"],
    ] as const) {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toEqual({ ok: true, value: ms });
    }
  });
  it("compileMeasure gives numbers and rejects non-numeric expressions at compile time", () => {
    const i = intent({ action: "treasury.disburse", params: { amount_usd: "1250.5" } });
    expect(compileMeasure("count")(i, { now: new Date() })).toBe(1);
    expect(compileMeasure("double(intent.params.amount_usd)")(i, { now: new Date() })).toBe(1250.5);
    expect(compileMeasure("size(intent.params)")(i, { now: new Date() })).toBe(1);
    expect(() => compileMeasure("intent.params.amount_usd == 1")).toThrow(/must give a number/);
    expect(() => compileMeasure("double(intent.params.nope)")(i, { now: new Date() })).toThrow(/measure failed/);
  });
});
