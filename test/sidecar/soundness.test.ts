// Issue "decision soundness", end to end: the attacker's examples of each class, declared over real HTTP on the agent
// API of a daemon serving the bundled reference policy, are never APPROVED; its allowed paths still are.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFunctionData, erc20Abi, parseEther, serializeTransaction } from "viem";
import { http, removeDir, startTestDaemon } from "./helpers.ts";
import { STRANGER, USDC, VENDOR_A, usdc, usdcTransfer } from "./intents.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

async function decide(params: Record<string, unknown>, action = "evm.transaction") {
  const r = await http(`${d.url}/v1/intents`, { body: { agent: "treasury-bot", action, params } });
  expect([200, 202], JSON.stringify(r.body)).toContain(r.status);
  return r.body as { decision: string; reasons: { block: string; rule: string; message: string }[]; attestation?: string };
}
const rules = (b: { reasons: { block: string; rule: string }[] }) => b.reasons.map((r) => `${r.block}/${r.rule}`);

describe("the issue's examples, over HTTP", () => {
  it("1. native value beside calldata to an unlisted address: DENIED", async () => {
    const r = await decide({
      chain_id: 8453,
      to: STRANGER,
      value: parseEther("0.05").toString(),
      data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [VENDOR_A, 0n] }),
    });
    expect(r.decision).toBe("DENIED");
    expect(rules(r)).toContain("evm/recipients");
  });
  it("2. EIP-3009 TransferWithAuthorization of 1,000,000 USDC to an unlisted address: DENIED", async () => {
    const r = await decide(
      {
        chain_id: 8453,
        typed_data: {
          domain: { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: USDC },
          types: {
            TransferWithAuthorization: [
              { name: "from", type: "address" },
              { name: "to", type: "address" },
              { name: "value", type: "uint256" },
              { name: "validAfter", type: "uint256" },
              { name: "validBefore", type: "uint256" },
              { name: "nonce", type: "bytes32" },
            ],
          },
          primaryType: "TransferWithAuthorization",
          message: {
            from: VENDOR_A,
            to: STRANGER,
            value: (1_000_000n * 10n ** 6n).toString(),
            validAfter: "0",
            validBefore: "9999999999",
            nonce: `0x${"00".repeat(32)}`,
          },
        },
      },
      "evm.typed_data",
    );
    expect(r.decision).toBe("DENIED");
    expect(rules(r)).toEqual(expect.arrayContaining(["evm/recipients", "evm/max_transfer"]));
  });
  it("3. transferFrom of 4,999 USDC to vendor-a: PENDING (the >1000 USDC review)", async () => {
    const r = await decide({
      chain_id: 8453,
      to: USDC,
      value: "0",
      data: encodeFunctionData({ abi: erc20Abi, functionName: "transferFrom", args: [STRANGER, VENDOR_A, usdc(4999n)] }),
    });
    expect(r.decision).toBe("PENDING");
    expect(rules(r)).toEqual(["evm/usdc-over-1000-needs-review"]);
  });
  it("4. a serialized transaction that can burn 3,000 ETH in fees: DENIED", async () => {
    const r = await decide({
      serialized: serializeTransaction({
        chainId: 8453,
        to: VENDOR_A,
        value: 1n,
        gas: 30_000_000n,
        maxFeePerGas: parseEther("0.0001"),
        maxPriorityFeePerGas: 1n,
      }),
    });
    expect(r.decision).toBe("DENIED");
    expect(rules(r)).toEqual(["evm/max_fee"]);
  });
  it("5. tool call args with URL spellings clients send to pastebin.com: DENIED", async () => {
    for (const url of [
      "https:/pastebin.com/raw/x",
      "https:pastebin.com",
      "https:\\\\pastebin.com",
      "https://api.github.com'@pastebin.com",
    ]) {
      const r = await decide({ tool: "web.fetch", args: { url } }, "tool.call");
      expect(r.decision, url).toBe("DENIED");
      expect(rules(r), url).toContain("tool_calls/domains");
    }
  });
  it("the allowed paths stay APPROVED: 500 USDC and 0.01 ETH to vendor-a, web.fetch of api.github.com", async () => {
    const a = await http(`${d.url}/v1/intents`, { body: usdcTransfer(VENDOR_A, usdc(500n)) });
    expect(a.body.decision).toBe("APPROVED");
    expect((await decide({ chain_id: 8453, to: VENDOR_A, value: parseEther("0.01").toString() })).decision).toBe(
      "APPROVED",
    );
    const f = await decide({ tool: "web.fetch", args: { url: "https://api.github.com/repos/x/y" } }, "tool.call");
    expect(f.decision).toBe("APPROVED");
    expect(f.attestation).toBeTruthy();
  });
});
