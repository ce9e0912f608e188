// Every actions, evm, tool_calls and custom rule of the reference policy gives the decision its comment states,
// through loadPolicy + evaluateBlocks + combineVerdicts, with the block and rule in the reasons.
import { beforeAll, describe, expect, it } from "vitest";
import { encodeFunctionData, erc20Abi, maxUint256, parseAbi, serializeTransaction, parseEther } from "viem";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { decide, intent } from "./helpers.ts";

const REFERENCE = new URL("../../policy-examples/reference/policy.yaml", import.meta.url).pathname;
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
const VENDOR_B = "0x2222222222222222222222222222222222222222";
const STRANGER = "0x3333333333333333333333333333333333333333";
const DEAD = "0x000000000000000000000000000000000000dEaD";
const usdc = (n: number) => BigInt(Math.round(n * 1e6));

const erc20 = (fn: "transfer" | "approve", a: `0x${string}`, amount: bigint) =>
  encodeFunctionData({ abi: erc20Abi, functionName: fn, args: [a, amount] });
const tx = (params: Record<string, unknown>) =>
  intent({ action: "evm.transaction", params: { chain_id: 8453, value: "0", ...params } });

let policy: LoadedPolicy;
beforeAll(async () => {
  policy = await loadPolicy(REFERENCE);
});

const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);

describe("actions", () => {
  it("allows treasury.disburse with a ticket and report.* actions", async () => {
    expect(
      (await decide(policy, intent({ action: "treasury.disburse", params: { amount_usd: "1200", ticket: "FIN-42" } })))
        .effect,
    ).toBe("allow");
    const r = await decide(policy, intent({ action: "report.weekly", params: {} }));
    expect(r.effect).toBe("allow");
  });
  it("denies treasury.close_account by actions.deny", async () => {
    const r = await decide(policy, intent({ action: "treasury.close_account", params: {} }));
    expect(r.effect).toBe("deny");
    expect(rules(r)).toEqual(["actions/deny"]);
  });
  it("denies an action nothing allows (default deny)", async () => {
    const r = await decide(policy, intent({ action: "treasury.rebalance", params: {} }));
    expect(r.effect).toBe("deny");
    expect(r.reasons[0]!.message).toContain("treasury.rebalance is not in actions.allow");
  });
});

describe("evm", () => {
  it("APPROVES a 500 USDC transfer to vendor-a on Base", async () => {
    const r = await decide(policy, tx({ to: USDC, data: erc20("transfer", VENDOR_A, usdc(500)) }));
    expect(r).toMatchObject({ effect: "allow" });
  });
  it("holds a 1500 USDC transfer (rule usdc-over-1000-needs-review)", async () => {
    const r = await decide(policy, tx({ to: USDC, data: erc20("transfer", VENDOR_A, usdc(1500)) }));
    expect(r.effect).toBe("hold");
    expect(r.reasons).toEqual([
      {
        block: "evm",
        rule: "usdc-over-1000-needs-review",
        message: "matches rule usdc-over-1000-needs-review: transfer amount 1500 USDC > 1000 USDC",
      },
    ]);
  });
  it("allows exactly 1000 USDC (the rule is strictly greater)", async () => {
    expect((await decide(policy, tx({ to: USDC, data: erc20("transfer", VENDOR_B, usdc(1000)) }))).effect).toBe(
      "allow",
    );
  });
  it("denies a 6000 USDC transfer by max_transfer, saying so in token units", async () => {
    const r = await decide(policy, tx({ to: USDC, data: erc20("transfer", VENDOR_A, usdc(6000)) }));
    expect(r.effect).toBe("deny");
    expect(r.reasons).toContainEqual({
      block: "evm",
      rule: "max_transfer",
      message: "transfer of 6000 USDC exceeds max_transfer 5000 USDC",
    });
  });
  it("denies other chains (rule chains)", async () => {
    const r = await decide(
      policy,
      intent({ action: "evm.transaction", params: { chain_id: 1, to: VENDOR_A, value: "1000" } }),
    );
    expect(rules(r)).toEqual(["evm/chains"]);
  });
  it("allows Base Sepolia", async () => {
    const r = await decide(
      policy,
      intent({ action: "evm.transaction", params: { chain_id: 84532, to: VENDOR_A, value: "1000" } }),
    );
    expect(r.effect).toBe("allow");
  });
  it("denies native value above max_value with amounts in ETH", async () => {
    const r = await decide(policy, tx({ to: VENDOR_A, value: parseEther("0.2").toString() }));
    expect(r.reasons).toEqual([
      { block: "evm", rule: "max_value", message: "value 0.2 ETH exceeds max_value 0.05 ETH" },
    ]);
    expect((await decide(policy, tx({ to: VENDOR_A, value: parseEther("0.05").toString() }))).effect).toBe("allow");
  });
  it("denies the 0x…dEaD contract (contracts.deny)", async () => {
    const r = await decide(policy, tx({ to: DEAD, value: "1" }));
    expect(rules(r)).toContain("evm/contracts");
  });
  it("denies a native transfer to a recipient not in recipients.allow", async () => {
    const r = await decide(policy, tx({ to: STRANGER, value: "1000" }));
    expect(r.reasons).toEqual([
      { block: "evm", rule: "recipients", message: "recipient 0x3333…3333 is not in recipients.allow" },
    ]);
  });
  it("checks the decoded ERC-20 recipient, not the token contract", async () => {
    const r = await decide(policy, tx({ to: USDC, data: erc20("transfer", STRANGER, usdc(10)) }));
    expect(rules(r)).toEqual(["evm/recipients"]);
  });
  it("checks transferFrom's `to` and approve's spender", async () => {
    const tf = encodeFunctionData({ abi: erc20Abi, functionName: "transferFrom", args: [VENDOR_A, STRANGER, usdc(1)] });
    expect(rules(await decide(policy, tx({ to: USDC, data: tf })))).toEqual(["evm/recipients"]);
    expect(rules(await decide(policy, tx({ to: USDC, data: erc20("approve", STRANGER, usdc(1)) })))).toEqual([
      "evm/recipients",
    ]);
    expect((await decide(policy, tx({ to: USDC, data: erc20("approve", VENDOR_A, usdc(100)) }))).effect).toBe("allow");
  });
  it("denies unlimited approvals", async () => {
    const r = await decide(policy, tx({ to: USDC, data: erc20("approve", VENDOR_A, maxUint256) }));
    expect(rules(r)).toEqual(["evm/unlimited_approval"]);
    const permit = encodeFunctionData({
      abi: parseAbi([
        "function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
      ]),
      functionName: "permit",
      args: [VENDOR_B, VENDOR_A, 2n ** 255n, 0n, 27, `0x${"00".repeat(32)}`, `0x${"00".repeat(32)}`],
    });
    expect(rules(await decide(policy, tx({ to: USDC, data: permit })))).toEqual(["evm/unlimited_approval"]);
  });
  it("denies calldata no known ABI decodes", async () => {
    const r = await decide(policy, tx({ to: USDC, data: "0xdeadbeef00000000" }));
    expect(rules(r)).toEqual(["evm/unknown_calldata"]);
    expect(r.reasons[0]!.message).toContain("0xdeadbeef");
  });
  it("decodes serialized transactions with viem", async () => {
    const s = serializeTransaction({
      chainId: 8453,
      to: USDC,
      data: erc20("transfer", VENDOR_A, usdc(1500)),
      value: 0n,
      type: "eip1559",
      maxFeePerGas: 1n,
      maxPriorityFeePerGas: 1n,
      gas: 100000n,
      nonce: 0,
    });
    const r = await decide(policy, intent({ action: "evm.transaction", params: { serialized: s } }));
    expect(rules(r)).toEqual(["evm/usdc-over-1000-needs-review"]);
    const big = serializeTransaction({
      chainId: 10,
      to: VENDOR_A,
      value: parseEther("1"),
      type: "eip1559",
      maxFeePerGas: 1n,
      maxPriorityFeePerGas: 1n,
      gas: 21000n,
      nonce: 0,
    });
    expect(rules(await decide(policy, intent({ action: "evm.transaction", params: { serialized: big } })))).toEqual([
      "evm/chains",
      "evm/max_value",
    ]);
  });
  it("evaluates EIP-712 permits: spender against recipients, unlimited amounts", async () => {
    const permit = (spender: string, value: string) =>
      intent({
        action: "evm.typed_data",
        params: {
          chain_id: 8453,
          typed_data: {
            domain: { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: USDC },
            types: {
              Permit: [
                { name: "owner", type: "address" },
                { name: "spender", type: "address" },
                { name: "value", type: "uint256" },
                { name: "nonce", type: "uint256" },
                { name: "deadline", type: "uint256" },
              ],
            },
            primaryType: "Permit",
            message: { owner: VENDOR_B, spender, value, nonce: "0", deadline: "1900000000" },
          },
        },
      });
    expect((await decide(policy, permit(VENDOR_A, "1000000"))).effect).toBe("allow");
    expect(rules(await decide(policy, permit(STRANGER, "1000000")))).toEqual(["evm/recipients"]);
    expect(rules(await decide(policy, permit(VENDOR_A, maxUint256.toString())))).toEqual(["evm/unlimited_approval"]);
    expect(rules(await decide(policy, permit(VENDOR_A, "6000000000")))).toEqual(["evm/max_transfer"]);
  });
});

describe("tool_calls", () => {
  const call = (tool: string, args: Record<string, unknown> = {}) =>
    intent({ action: "tool.call", params: { tool, args } });
  it("allows listed tools", async () => {
    expect(
      (await decide(policy, call("slack.post_message", { channel: "#ops", text: "see https://slack.com/x" }))).effect,
    ).toBe("allow");
    expect(
      (await decide(policy, call("github.create_issue", { repo: "https://api.github.com/repos/a/b" }))).effect,
    ).toBe("allow");
  });
  it("denies shell.* and github.delete_* (deny wins over allow)", async () => {
    expect(rules(await decide(policy, call("shell.exec")))).toEqual(["tool_calls/deny"]);
    expect(rules(await decide(policy, call("github.delete_repo")))).toEqual(["tool_calls/deny"]);
    expect(rules(await decide(policy, call("Shell.Exec")))).toEqual(["tool_calls/deny"]);
  });
  it("holds payments.* for review", async () => {
    const r = await decide(policy, call("payments.send", { amount: "10" }));
    expect(r.effect).toBe("hold");
    expect(rules(r)).toEqual(["tool_calls/hold"]);
  });
  it("denies tools not in allow", async () => {
    expect(rules(await decide(policy, call("notion.search")))).toEqual(["tool_calls/allow"]);
  });
  it("checks every URL anywhere in args against domains", async () => {
    expect((await decide(policy, call("web.fetch", { url: "https://wiki.company.com/page" }))).effect).toBe("allow");
    const outside = await decide(
      policy,
      call("web.fetch", { nested: { list: ["text before https://evil.example/x?q=1 after"] } }),
    );
    expect(outside.reasons).toEqual([
      { block: "tool_calls", rule: "domains", message: "host evil.example in args is not in domains.allow" },
    ]);
    expect(rules(await decide(policy, call("web.fetch", { url: "https://pastebin.com/raw/1" })))).toEqual([
      "tool_calls/domains",
    ]);
    const ngrok = await decide(policy, call("slack.post_message", { text: "exfil to http://abc.eu.ngrok.io/ now" }));
    expect(ngrok.reasons[0]!.message).toContain('matches domains.deny "*.ngrok.io"');
  });
  it("applies domains to http.request urls", async () => {
    const r = await decide(
      policy,
      intent({ action: "http.request", params: { method: "GET", url: "https://pastebin.com/x" } }),
    );
    expect(rules(r)).toContain("tool_calls/domains");
  });
  it("denies args over max_args_bytes", async () => {
    const r = await decide(policy, call("slack.post_message", { text: "x".repeat(70_000) }));
    expect(rules(r)).toEqual(["tool_calls/max_args_bytes"]);
  });
});

describe("custom", () => {
  const disburse = (params: Record<string, unknown>) => intent({ action: "treasury.disburse", params });
  it("denies a disbursement without a ticket (missing or empty)", async () => {
    for (const params of [{ amount_usd: "100" }, { amount_usd: "100", ticket: "" }]) {
      const r = await decide(policy, disburse(params));
      expect(r.reasons).toEqual([
        {
          block: "custom",
          rule: "no-large-disbursement-without-ticket",
          message: "disbursements need a ticket reference",
        },
      ]);
    }
  });
  it("holds a disbursement above $50k", async () => {
    const r = await decide(policy, disburse({ amount_usd: "60000", ticket: "FIN-1" }));
    expect(r).toEqual({
      effect: "hold",
      reasons: [
        { block: "custom", rule: "big-disbursement-review", message: "disbursements above $50k need human review" },
      ],
    });
  });
  it("denies when an expression cannot be evaluated, naming the rule", async () => {
    const r = await decide(policy, disburse({ ticket: "FIN-1" }));
    expect(r.effect).toBe("deny");
    expect(rules(r)).toEqual(["custom/big-disbursement-review"]);
    expect(r.reasons[0]!.message).toContain("failed to evaluate");
  });
  it("denies an amount that is not a number instead of skipping the $50k hold", async () => {
    for (const amount_usd of ["lots", "", "Infinity"]) {
      const r = await decide(policy, disburse({ amount_usd, ticket: "FIN-1" }));
      expect(r.effect).toBe("deny");
      expect(rules(r)).toEqual(["custom/big-disbursement-review"]);
    }
  });
  it("leaves other actions alone", async () => {
    expect((await decide(policy, intent({ action: "report.daily", params: {} }))).effect).toBe("allow");
  });
});
