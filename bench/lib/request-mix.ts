// The request mix of the decision benchmarks (bench/decisions.ts, bench/record.ts), so both measure the same work.
import { encodeFunctionData, erc20Abi, parseEther } from "viem";

const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";

/** The request mix: four APPROVED kinds (EVM decode, tool call with URL scan, CEL, native value) and one DENIED.
 * Agents rotate over 2,000 names so the reference soft limits (200 tool calls/h, $100k/day per agent) stay clear. */
export function intentFor(i: number): Record<string, unknown> {
  const agent = `agent-${i % 2000}`;
  switch (i % 5) {
    case 0:
      return {
        agent,
        action: "evm.transaction",
        params: {
          chain_id: 8453,
          to: USDC,
          value: "0",
          data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [VENDOR_A, 500_000_000n] }),
        },
        context: { tenant: "acme", invoice: `inv-${i}` },
      };
    case 1:
      return {
        agent,
        action: "tool.call",
        params: { tool: "slack.post_message", args: { channel: "#ops", text: `paid https://pay.company.com/i/${i}` } },
      };
    case 2:
      return { agent, action: "treasury.disburse", params: { ticket: `FIN-${i}`, amount_usd: "120.50" } };
    case 3:
      return {
        agent,
        action: "evm.transaction",
        params: { chain_id: 8453, to: VENDOR_A, value: parseEther("0.01").toString() },
      };
    default:
      return { agent, action: "evm.transaction", params: { chain_id: 1, to: VENDOR_A, value: "1" } }; // DENIED: chains
  }
}
