// Intents for the reference policy (policy-examples/reference/policy.yaml).
import { encodeFunctionData, erc20Abi, parseEther } from "viem";

export const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
export const VENDOR_A = "0x1111111111111111111111111111111111111111";
export const VENDOR_B = "0x2222222222222222222222222222222222222222";
export const STRANGER = "0x3333333333333333333333333333333333333333";
export const DEAD = "0x000000000000000000000000000000000000dEaD";

export const usdc = (n: bigint) => n * 10n ** 6n;

export function usdcTransfer(to: string, units: bigint, chain_id = 8453) {
  return {
    agent: "treasury-bot",
    action: "evm.transaction",
    params: {
      chain_id,
      to: USDC,
      value: "0",
      data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [to as `0x${string}`, units] }),
    },
    context: { tenant: "acme" },
  };
}

export function usdcApprove(spender: string, units: bigint) {
  return {
    agent: "treasury-bot",
    action: "evm.transaction",
    params: {
      chain_id: 8453,
      to: USDC,
      value: "0",
      data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [spender as `0x${string}`, units] }),
    },
  };
}

export function nativeTransfer(to: string, ether: string, chain_id = 8453, data?: string) {
  return {
    agent: "treasury-bot",
    action: "evm.transaction",
    params: { chain_id, to, value: parseEther(ether).toString(), ...(data ? { data } : {}) },
  };
}

export function toolCall(tool: string, args: Record<string, unknown> = {}) {
  return { agent: "ops-bot", action: "tool.call", params: { tool, args } };
}

export function disburse(params: Record<string, unknown>) {
  return { agent: "treasury-bot", action: "treasury.disburse", params };
}
