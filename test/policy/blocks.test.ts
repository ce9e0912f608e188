// Block behaviour beyond the reference policy: CEL variables, typed-data rules, evmData set operators, hold-only
// tools, contracts.allow scope, deny_unknown_calldata off.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFunctionData, erc20Abi } from "viem";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { decide, intent, tempDir } from "./helpers.ts";

const A = "0x1111111111111111111111111111111111111111";
const B = "0x2222222222222222222222222222222222222222";
const TOKEN = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const ROUTER = "0x4444444444444444444444444444444444444444";

let t: Awaited<ReturnType<typeof tempDir>>;
let p: LoadedPolicy;
beforeAll(async () => {
  t = await tempDir();
  p = await loadPolicy(
    await t.write(
      "policy.yaml",
      `
actions:
  allow: ["ops.*"]
custom:
  - id: office-hours
    when: 'intent.action.startsWith("ops.")'
    deny: 'now.getHours() < 8 || now.getHours() >= 18'
    reason: "ops actions only 08:00-18:00 UTC"
  - id: interns-review
    hold: 'agent.startsWith("intern-") && intent.context.team == "finance"'
    reason: "interns' finance actions need review"
tool_calls:
  allow: ["github.*"]
  hold: ["payments.*"]
evm:
  contracts:
    allow: ["${TOKEN}"]
  deny_unknown_calldata: false
  tokens:
    USDC: { address: "${TOKEN}", chain: base, decimals: 6 }
  rules:
    - id: no-b
      effect: deny
      operation: sendTransaction
      criteria:
        - type: evmData
          abi: erc20
          function: transfer
          params: [{ name: recipient, operator: in, values: ["${B}"] }]
    - id: review-big
      effect: hold
      criteria:
        - type: evmData
          abi: erc20
          function: transfer
          params: [{ name: amount, operator: ">=", value: "100000000" }]
    - id: no-signing-for-router
      effect: deny
      operation: signTypedData
      criteria: [{ type: evmAddress, operator: in, addresses: ["${ROUTER}"] }]
`,
    ),
  );
});
afterAll(() => t.cleanup());

const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);
const at = (hh: number) => new Date(`2026-03-20T${String(hh).padStart(2, "0")}:30:00Z`);

describe("custom CEL variables", () => {
  it("`now` is the evaluation time", async () => {
    expect((await decide(p, intent({ action: "ops.restart", params: {} }), at(10))).effect).toBe("allow");
    const night = await decide(p, intent({ action: "ops.restart", params: {} }), at(22));
    expect(night.reasons).toEqual([
      { block: "custom", rule: "office-hours", message: "ops actions only 08:00-18:00 UTC" },
    ]);
  });
  it("`agent` and `intent.context`", async () => {
    const r = await decide(
      p,
      intent({ action: "ops.restart", agent: "intern-7", params: {}, context: { team: "finance" } }),
      at(10),
    );
    expect(r.effect).toBe("hold");
    expect(rules(r)).toEqual(["custom/interns-review"]);
  });
  it("a missing context field is an evaluation error, which denies", async () => {
    const r = await decide(p, intent({ action: "ops.restart", agent: "intern-7", params: {} }), at(10));
    expect(r.effect).toBe("deny");
    expect(r.reasons[0]).toMatchObject({ block: "custom", rule: "interns-review" });
  });
});

describe("CEL over nested JSON", () => {
  it("lists, nested maps, `in`, map equality; prototype keys are not fields", async () => {
    const { compileCel, celBindings } = await import("../../sidecar/policy/cel.ts");
    const i = intent({ action: "x.y", params: { xs: [1, 2, { k: "v" }], o: { a: 1 }, n: null, s: "hi" } });
    const truths = [
      "intent.params.xs.exists(x, x == 2.0)",
      "size(intent.params) == 4",
      '"o" in intent.params',
      '!("constructor" in intent.params) && !has(intent.params.constructor)',
      'intent.params.o == {"a": 1.0}',
      "intent.params.n == null",
      'intent.params.xs[2].k == "v"',
      "intent.context.size() == 0 && intent.params.s.size() == 2",
    ];
    for (const e of truths) expect([e, compileCel(e, "bool")(celBindings(i, new Date()))]).toEqual([e, true]);
  });
});

describe("tool_calls", () => {
  it("a tool listed only under hold is held, not denied", async () => {
    const r = await decide(p, intent({ action: "tool.call", params: { tool: "payments.refund", args: {} } }));
    expect(r.effect).toBe("hold");
  });
});

describe("evm rules", () => {
  const transfer = (to: `0x${string}`, amount: bigint) =>
    intent({
      action: "evm.transaction",
      params: {
        chain_id: 8453,
        to: TOKEN,
        value: "0",
        data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [to, amount] }),
      },
    });
  it("evmData `in` compares addresses case-insensitively", async () => {
    expect(rules(await decide(p, transfer(B, 1n)))).toEqual(["evm/no-b"]);
    expect((await decide(p, transfer(A, 1n))).effect).toBe("allow");
  });
  it("hold reasons read in token units", async () => {
    const r = await decide(p, transfer(A, 150_000_000n));
    expect(r.reasons).toEqual([
      { block: "evm", rule: "review-big", message: "matches rule review-big: transfer amount 150 USDC >= 100 USDC" },
    ]);
  });
  it("signTypedData rules match typed data by verifyingContract", async () => {
    const typed = (verifyingContract: string) =>
      intent({
        action: "evm.typed_data",
        params: {
          chain_id: 8453,
          typed_data: {
            domain: { name: "Router", version: "1", chainId: 8453, verifyingContract },
            types: {
              Order: [
                { name: "maker", type: "address" },
                { name: "amount", type: "uint256" },
              ],
            },
            primaryType: "Order",
            message: { maker: A, amount: "5" },
          },
        },
      });
    // "Order" is no kind the sidecar understands: denied unless evm.allow_typed_data names it; rules still report.
    expect(rules(await decide(p, typed(ROUTER)))).toEqual([
      "evm/contracts",
      "evm/unknown_typed_data",
      "evm/no-signing-for-router",
    ]);
    const anonymous = await decide(
      p,
      intent({
        action: "evm.typed_data",
        params: {
          chain_id: 8453,
          typed_data: {
            domain: { name: "X", chainId: 8453 },
            types: { M: [{ name: "a", type: "uint256" }] },
            primaryType: "M",
            message: { a: "1" },
          },
        },
      }),
    );
    expect(anonymous.reasons[0]).toEqual({
      block: "evm",
      rule: "contracts",
      message: "typed data without a domain verifyingContract cannot match contracts.allow",
    });
    expect(rules(anonymous)).toEqual(["evm/contracts", "evm/unknown_typed_data"]);
    expect(rules(await decide(p, typed(TOKEN)))).toEqual(["evm/unknown_typed_data"]);
  });
  it("contracts.allow applies to calls; unknown calldata passes when deny_unknown_calldata is false", async () => {
    expect(
      (await decide(p, intent({ action: "evm.transaction", params: { chain_id: 1, to: A, value: "1" } }))).effect,
    ).toBe("allow");
    const call = await decide(
      p,
      intent({ action: "evm.transaction", params: { chain_id: 1, to: A, value: "0", data: "0x12345678" } }),
    );
    expect(call.reasons).toEqual([
      { block: "evm", rule: "contracts", message: "contract 0x1111…1111 is not in contracts.allow" },
    ]);
    expect(
      (
        await decide(
          p,
          intent({ action: "evm.transaction", params: { chain_id: 1, to: TOKEN, value: "0", data: "0x12345678" } }),
        )
      ).effect,
    ).toBe("allow");
  });
  it("a typed data domain on another chain than chain_id is denied", async () => {
    const r = await decide(
      p,
      intent({
        action: "evm.typed_data",
        params: {
          chain_id: 8453,
          typed_data: {
            domain: { name: "X", chainId: 1 },
            types: { M: [{ name: "a", type: "uint256" }] },
            primaryType: "M",
            message: { a: "1" },
          },
        },
      }),
    );
    expect(r.reasons[0]).toMatchObject({ block: "evm", rule: "chains" });
  });
});

describe("inputs chosen to be slow or to hide things", () => {
  let q: LoadedPolicy;
  beforeAll(async () => {
    q = await loadPolicy(
      await t.write(
        "adversarial.yaml",
        'tool_calls:\n  allow: ["*a*a*a*b", "web.*"]\n  domains:\n    allow: ["*.company.com"]\n',
      ),
    );
  });
  it("globs match long names without backtracking blow-up", async () => {
    const r = await decide(q, intent({ action: "tool.call", params: { tool: `a.${"a".repeat(50_000)}`, args: {} } }));
    expect(r.reasons.map((x) => x.rule)).toEqual(["allow"]);
    expect(
      (await decide(q, intent({ action: "tool.call", params: { tool: `a.${"a".repeat(5_000)}b`, args: {} } }))).effect,
    ).toBe("allow");
  });
  it("URL scanning stays linear on long dotted text", async () => {
    const text = `${"a.".repeat(100_000)} https://evil.example/`;
    const r = await decide(q, intent({ action: "tool.call", params: { tool: "web.fetch", args: { text } } }));
    expect(r.effect).toBe("deny");
    expect(r.reasons[0]!.rule).toBe("domains");
  });
  it("a URL nested thousands of levels deep is still found", async () => {
    let args: Record<string, unknown> = { url: "https://evil.example/" };
    for (let i = 0; i < 5_000; i++) args = { x: args };
    const r = await decide(q, intent({ action: "tool.call", params: { tool: "web.fetch", args } }));
    expect(r.reasons).toEqual([
      { block: "tool_calls", rule: "domains", message: "host evil.example in args is not in domains.allow" },
    ]);
  });
});
