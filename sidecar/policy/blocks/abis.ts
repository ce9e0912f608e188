// ABIs the evm block knows: ERC-20 (with EIP-2612 permit) and ERC-721, plus the policy's extra ABIs.
import { erc20Abi, erc721Abi, parseAbi, type Abi } from "viem";

export const PERMIT_ABI = parseAbi([
  "function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
]);

export const ERC20_ABI: Abi = [...erc20Abi, ...PERMIT_ABI];
export const ERC721_ABI: Abi = [...erc721Abi];

export const NAMED_ABIS: Record<string, Abi> = { erc20: ERC20_ABI, erc721: ERC721_ABI };

export function functionNames(abi: Abi): string[] {
  return [...new Set(abi.filter((i) => i.type === "function").map((i) => (i as { name: string }).name))];
}
