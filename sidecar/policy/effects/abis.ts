// The ABIs the effects module knows, and what their functions do. ERC-20 with its approval and signature-transfer
// extensions (EIP-2612, DAI permit, EIP-3009), ERC-721, ERC-1155 and Permit2. The policy's `evm.abis` and the ABIs
// of its evmData criteria are added at load; their functions are known calls that move nothing the sidecar can see.
import { erc20Abi, erc721Abi, parseAbi, type Abi } from "viem";

export const ERC20_EXTENSIONS = parseAbi([
  "function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
  "function permit(address holder, address spender, uint256 nonce, uint256 expiry, bool allowed, uint8 v, bytes32 r, bytes32 s)",
  "function increaseAllowance(address spender, uint256 addedValue) returns (bool)",
  "function decreaseAllowance(address spender, uint256 subtractedValue) returns (bool)",
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature)",
  "function receiveWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
  "function receiveWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature)",
  "function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
  "function nonces(address owner) view returns (uint256)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
]);

export const ERC1155_ABI = parseAbi([
  "function safeTransferFrom(address from, address to, uint256 id, uint256 amount, bytes data)",
  "function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] amounts, bytes data)",
  "function setApprovalForAll(address operator, bool approved)",
  "function balanceOf(address account, uint256 id) view returns (uint256)",
  "function isApprovedForAll(address account, address operator) view returns (bool)",
]);

export const PERMIT2_ABI = parseAbi([
  "struct PermitDetails { address token; uint160 amount; uint48 expiration; uint48 nonce; }",
  "struct PermitSingle { PermitDetails details; address spender; uint256 sigDeadline; }",
  "struct PermitBatch { PermitDetails[] details; address spender; uint256 sigDeadline; }",
  "struct AllowanceTransferDetails { address from; address to; uint160 amount; address token; }",
  "struct TokenSpenderPair { address token; address spender; }",
  "function approve(address token, address spender, uint160 amount, uint48 expiration)",
  "function transferFrom(address from, address to, uint160 amount, address token)",
  "function transferFrom(AllowanceTransferDetails[] transferDetails)",
  "function permit(address owner, PermitSingle permitSingle, bytes signature)",
  "function permit(address owner, PermitBatch permitBatch, bytes signature)",
  "function lockdown(TokenSpenderPair[] approvals)",
  "function invalidateNonces(address token, address spender, uint48 newNonce)",
  "function invalidateUnorderedNonces(uint256 wordPos, uint256 mask)",
]);

export const ERC20_ABI: Abi = [...erc20Abi, ...ERC20_EXTENSIONS];
export const ERC721_ABI: Abi = [...erc721Abi];

/** ABIs an evmData criterion may name by string. */
export const NAMED_ABIS: Record<string, Abi> = {
  erc20: ERC20_ABI,
  erc721: ERC721_ABI,
  erc1155: ERC1155_ABI,
  permit2: PERMIT2_ABI,
};

export function functionNames(abi: Abi): string[] {
  return [...new Set(abi.filter((i) => i.type === "function").map((i) => (i as { name: string }).name))];
}
