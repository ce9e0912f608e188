// Hold summaries: what an operator reads before approving, from the same effects decoding the decision used, with
// names from the policy (address-list comments, evm.labels, token symbols).
import { beforeAll, describe, expect, it } from "vitest";
import { encodeFunctionData, erc20Abi, maxUint256, parseEther } from "viem";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { Summarizer, formatUnitsGrouped } from "../../sidecar/policy/summary.ts";
import { intent } from "./helpers.ts";

const REFERENCE = new URL("../../policy-examples/reference/policy.yaml", import.meta.url).pathname;
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
const VENDOR_B = "0x2222222222222222222222222222222222222222";

let s: Summarizer;
let policy: LoadedPolicy;
beforeAll(async () => {
  policy = await loadPolicy(REFERENCE);
  s = new Summarizer(policy);
});

describe("summaries", () => {
  it("names vendors from the policy's comments", () => {
    expect(policy.labels.get(VENDOR_A)).toBe("vendor-a");
  });
  it("an ERC-20 transfer in token units, with the label, on the chain", () => {
    const i = intent({
      action: "evm.transaction",
      params: {
        chain_id: 8453,
        to: USDC,
        value: "0",
        data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [VENDOR_A, 2_000_000_000n] }),
      },
    });
    expect(s.summarize(i).text).toBe("Send 2,000 USDC to vendor-a (0x1111…1111) on Base");
  });
  it("an unlimited approve", () => {
    const i = intent({
      action: "evm.transaction",
      params: {
        chain_id: 8453,
        to: USDC,
        value: "0",
        data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [VENDOR_B, maxUint256] }),
      },
    });
    expect(s.summarize(i).text).toBe("Approve vendor-b (0x2222…2222) to spend unlimited USDC on Base");
  });
  it("a typed-data permit", () => {
    const i = intent({
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
          message: { owner: VENDOR_A, spender: VENDOR_B, value: "1500000", nonce: "0", deadline: "1" },
        },
      },
    });
    expect(s.summarize(i).text).toBe("Sign: Approve vendor-b (0x2222…2222) to spend 1.5 USDC on Base");
  });
  it("native value, a tool call and a business action", () => {
    const native = intent({ action: "evm.transaction", params: { chain_id: 84532, to: VENDOR_A, value: parseEther("0.01").toString() } });
    expect(s.summarize(native).text).toBe("Send 0.01 ETH to vendor-a (0x1111…1111) on Base Sepolia");
    const tool = intent({ action: "tool.call", params: { tool: "payments.refund", args: { id: "r1", amount: 120 } } });
    expect(s.summarize(tool).text).toBe("Call payments.refund with {id: r1, amount: 120}");
    const biz = intent({ action: "treasury.disburse", params: { amount_usd: "900000", ticket: "FIN-1" } });
    expect(s.summarize(biz).text).toBe("treasury.disburse with {amount_usd: 900000, ticket: FIN-1}");
  });
  it("an http.request shows no query string", () => {
    const h = intent({ action: "http.request", params: { method: "GET", url: "https://api.github.com/x?token=secret" } });
    expect(s.summarize(h).text).toBe("GET https://api.github.com/x");
  });
  it("groups thousands and trims zeros", () => {
    expect(formatUnitsGrouped(1234567890123n, 6)).toBe("1,234,567.890123");
    expect(formatUnitsGrouped(10n ** 18n, 18)).toBe("1");
  });
});
