// Attacks on the "effects first" evm block (SPEC section 5), against the reference policy and a few small policies.
// Every test asserts the SECURE decision. Tests under `describe("findings of the attack review (closed)")` fail on the current code: each is a way to
// get a decision the policy's contract does not allow (or two encodings of one on-chain effect deciding differently).
// The other describes are regression tests that pass today.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeFunctionData,
  erc20Abi,
  erc721Abi,
  parseAbi,
  parseEther,
  serializeTransaction,
  toHex,
  type Hex,
} from "viem";
import { readFile } from "node:fs/promises";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { ERC1155_ABI, ERC20_EXTENSIONS, PERMIT2_ABI } from "../../sidecar/policy/effects/abis.ts";
import { decide, intent, tempDir } from "./helpers.ts";

const REFERENCE = new URL("../../policy-examples/reference/policy.yaml", import.meta.url).pathname;
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
const NFT = "0x5555555555555555555555555555555555555555";
const ROUTER = "0x6666666666666666666666666666666666666666";
const OTHER_TOKEN = "0x7777777777777777777777777777777777777777";
const ZERO = "0x0000000000000000000000000000000000000000";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
const VENDOR_B = "0x2222222222222222222222222222222222222222";
const STRANGER = "0x3333333333333333333333333333333333333333";
const OWNER = "0x4444444444444444444444444444444444444444";
const usdc = (n: number) => BigInt(Math.round(n * 1e6));
const SIG_R = `0x${"11".repeat(32)}` as Hex;
const SIG_S = `0x${"22".repeat(32)}` as Hex;
const NONCE32 = `0x${"ab".repeat(32)}` as Hex;

let policy: LoadedPolicy;
let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  policy = await loadPolicy(REFERENCE);
  dir = await tempDir();
});
afterAll(async () => {
  await dir.cleanup();
});

let n = 0;
const load = async (yaml: string) => loadPolicy(await dir.write(`p${n++}.yaml`, yaml));
/** The reference policy with extra evm rules appended, without the network block (which needs its files). */
async function referenceWith(extraRules: string): Promise<LoadedPolicy> {
  const text = (await readFile(REFERENCE, "utf8")).replace(/\nnetwork:[\s\S]*?\nholds:/, "\nholds:");
  const withRules = text.replace(
    /(params: \[\{ name: amount, operator: ">", value: "1000000000" \}\]\n)/,
    `$1${extraRules}`,
  );
  expect(withRules).not.toBe(text);
  return load(withRules);
}

const effect = async (p: LoadedPolicy, i: ReturnType<typeof intent>) => (await decide(p, i)).effect;
const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);
const tx = (params: Record<string, unknown>, chain = 8453) =>
  intent({ action: "evm.transaction", params: { chain_id: chain, value: "0", ...params } });
const serialized = (t: Parameters<typeof serializeTransaction>[0], extra: Record<string, unknown> = {}) =>
  intent({ action: "evm.transaction", params: { serialized: serializeTransaction(t), ...extra } });
const typed = (td: Record<string, unknown>, chain = 8453) =>
  intent({ action: "evm.typed_data", params: { chain_id: chain, typed_data: td } });
const call = (abi: readonly unknown[], functionName: string, args: unknown[]): Hex =>
  encodeFunctionData({ abi: abi as never, functionName, args } as never);
const transfer = (to: string, amount: bigint) => call(erc20Abi, "transfer", [to, amount]);

const usdcDomain = { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: USDC };
const permit2Domain = { name: "Permit2", chainId: 8453, verifyingContract: PERMIT2 };
const EIP3009_FIELDS = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
];
const eip3009 = (to: string, value: unknown, domain: Record<string, unknown> = usdcDomain, extraTypes = {}) => ({
  domain,
  types: { TransferWithAuthorization: EIP3009_FIELDS, ...extraTypes },
  primaryType: "TransferWithAuthorization",
  message: { from: OWNER, to, value, validAfter: "0", validBefore: "9999999999", nonce: NONCE32 },
});
const TOKEN_PERMISSIONS = [
  { name: "token", type: "address" },
  { name: "amount", type: "uint256" },
];
const permitBatchTransferFrom = (spender: string, amounts: string[], token = USDC) => ({
  domain: permit2Domain,
  types: {
    PermitBatchTransferFrom: [
      { name: "permitted", type: "TokenPermissions[]" },
      { name: "spender", type: "address" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
    TokenPermissions: TOKEN_PERMISSIONS,
  },
  primaryType: "PermitBatchTransferFrom",
  message: { permitted: amounts.map((amount) => ({ token, amount })), spender, nonce: "1", deadline: "9999999999" },
});
const permitWitness = (spender: string, amount: string, witnessName = "witness") => ({
  domain: permit2Domain,
  types: {
    PermitWitnessTransferFrom: [
      { name: "permitted", type: "TokenPermissions" },
      { name: "spender", type: "address" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
      { name: witnessName, type: "Order" },
    ],
    Order: [
      { name: "swapper", type: "address" },
      { name: "minOut", type: "uint256" },
    ],
    TokenPermissions: TOKEN_PERMISSIONS,
  },
  primaryType: "PermitWitnessTransferFrom",
  message: {
    permitted: { token: USDC, amount },
    spender,
    nonce: "1",
    deadline: "9999999999",
    [witnessName]: { swapper: OWNER, minOut: "1" },
  },
});
const eip2612 = (spender: string, value: string, domain: Record<string, unknown> = usdcDomain) => ({
  domain,
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
  message: { owner: OWNER, spender, value, nonce: "0", deadline: "9999999999" },
});
const auth = (address: string, chainId: number) => ({ address: address as Hex, chainId, nonce: 0, r: SIG_R, s: SIG_S, yParity: 0 });

// ---------------------------------------------------------------------------------------------------------------------

describe("findings of the attack review (closed)", () => {
  it("F1: a pre-EIP-155 legacy transaction (no chain id, replayable on every chain) is not approved for chain 8453", async () => {
    // Unsigned legacy form without chainId: viem parses no chain id, so params.chain_id (8453) is trusted. Signed as
    // is, the transaction is valid on Ethereum mainnet and every other chain, which evm.chains forbids.
    const legacy = { to: USDC, value: 0n, data: transfer(VENDOR_A, usdc(10)), gas: 80_000n, gasPrice: 1000n, nonce: 0 };
    const unsigned = serializeTransaction(legacy as never);
    expect.soft(await effect(policy, intent({ action: "evm.transaction", params: { serialized: unsigned, chain_id: 8453 } }))).toBe("deny");
    // The same, already signed with v = 27 (pre-155).
    const signed = serializeTransaction(legacy as never, { r: SIG_R, s: SIG_S, v: 27n } as never);
    expect.soft(await effect(policy, intent({ action: "evm.transaction", params: { serialized: signed, chain_id: 8453 } }))).toBe("deny");
    // A plain 0.01 ETH payment to vendor-a, pre-155: also valid on mainnet.
    const native = serializeTransaction({ to: VENDOR_A, value: parseEther("0.01"), gas: 21_000n, gasPrice: 1000n, nonce: 0 } as never);
    expect.soft(await effect(policy, intent({ action: "evm.transaction", params: { serialized: native, chain_id: 84532 } }))).toBe("deny");
  });

  it("F2: adding a deny rule on a function must not make every other call of that function APPROVED", async () => {
    // Without the rule, execute(...) is unknown calldata (DENIED). The rule's inline ABI is merged into the selector map,
    // so any execute() that does not match the deny rule becomes a known "call" that moves nothing: APPROVED, although
    // it forwards an arbitrary inner call (here: transfer 1,000,000 USDC to a stranger).
    const p = await referenceWith(
      [
        "    - id: no-execute-to-stranger",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        '          abi: [{"type":"function","name":"execute","stateMutability":"payable","outputs":[],"inputs":[{"name":"target","type":"address"},{"name":"value","type":"uint256"},{"name":"data","type":"bytes"}]}]',
        "          function: execute",
        `          params: [{ name: target, operator: "==", value: "${STRANGER}" }]`,
        "",
      ].join("\n"),
    );
    const abi = parseAbi(["function execute(address target, uint256 value, bytes data) payable"]);
    const data = call(abi, "execute", [USDC, 0n, transfer(STRANGER, usdc(1_000_000))]);
    expect.soft(await effect(policy, tx({ to: ROUTER, data }))).toBe("deny"); // the reference policy alone
    const r = await decide(p, tx({ to: ROUTER, data }));
    expect.soft(r.effect, JSON.stringify(r.reasons)).toBe("deny");
  });

  it("F3: one intent moving 10,000 USDC to vendor-a in two 5,000 USDC pieces is not merely held", async () => {
    // Same on-chain outcome as transfer(vendor-a, 10,000 USDC), which is DENIED (max_transfer). Each effect is judged
    // alone, so a Permit2 batch passes max_transfer and only the 1000-USDC hold fires.
    expect.soft(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(10_000)) }))).toBe("deny");
    const sig = await decide(policy, typed(permitBatchTransferFrom(VENDOR_A, [usdc(5000).toString(), usdc(5000).toString()])));
    expect.soft(sig.effect, JSON.stringify(sig.reasons)).toBe("deny");
    const batch = call(PERMIT2_ABI, "transferFrom", [
      [
        { from: OWNER, to: VENDOR_A, amount: usdc(5000), token: USDC },
        { from: OWNER, to: VENDOR_A, amount: usdc(5000), token: USDC },
      ],
    ]);
    expect.soft(await effect(policy, tx({ to: PERMIT2, data: batch }))).toBe("deny");
  });

  it("F3b: 2,000 USDC to vendor-a in two 1,000 USDC pieces needs review like transfer(2,000 USDC)", async () => {
    expect.soft(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(2000)) }))).toBe("hold");
    expect.soft(await effect(policy, typed(permitBatchTransferFrom(VENDOR_A, [usdc(1000).toString(), usdc(1000).toString()])))).toBe("hold");
    const batch = call(PERMIT2_ABI, "transferFrom", [
      [
        { from: OWNER, to: VENDOR_A, amount: usdc(1000), token: USDC },
        { from: OWNER, to: VENDOR_A, amount: usdc(1000), token: USDC },
      ],
    ]);
    expect.soft(await effect(policy, tx({ to: PERMIT2, data: batch }))).toBe("hold");
  });

  it("F4: an ERC-721 moved with transferFrom is caught by deny rules on that NFT (like safeTransferFrom is)", async () => {
    const p = await load(
      [
        "version: 1",
        "evm:",
        "  rules:",
        "    - id: no-nft-42",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc721",
        "          function: transferFrom",
        '          params: [{ name: tokenId, operator: "==", value: "42" }]',
        "    - id: no-nft-42-safe",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc721",
        "          function: safeTransferFrom",
        '          params: [{ name: tokenId, operator: "==", value: "42" }]',
      ].join("\n"),
    );
    // The safe variant is denied...
    expect.soft(await effect(p, tx({ to: NFT, data: call(erc721Abi, "safeTransferFrom", [OWNER, VENDOR_A, 42n]) }))).toBe("deny");
    // ...but the same NFT moved by transferFrom (same on-chain effect) is APPROVED: transferFrom is read as an ERC-20
    // transfer effect, whose fields have no `id`, and the decoded call (s.decoded) is never given to the rules.
    const r = await decide(p, tx({ to: NFT, data: call(erc721Abi, "transferFrom", [OWNER, VENDOR_A, 42n]) }));
    expect.soft(r.effect, JSON.stringify(r.reasons)).toBe("deny");
  });

  it("F5: evmData rules on ERC-1155 safeBatchTransferFrom, Permit2 permit or non-role params do match", async () => {
    const batchAbi = JSON.stringify([
      {
        type: "function",
        name: "safeBatchTransferFrom",
        stateMutability: "nonpayable",
        outputs: [],
        inputs: [
          { name: "from", type: "address" },
          { name: "to", type: "address" },
          { name: "ids", type: "uint256[]" },
          { name: "amounts", type: "uint256[]" },
          { name: "data", type: "bytes" },
        ],
      },
    ]);
    const permit2PermitAbi = JSON.stringify(PERMIT2_ABI.filter((f) => f.type === "function" && f.name === "permit").slice(0, 1));
    const p = await load(
      [
        "version: 1",
        "evm:",
        "  rules:",
        "    - id: no-batch-to-b",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        `          abi: ${batchAbi}`,
        "          function: safeBatchTransferFrom",
        `          params: [{ name: to, operator: "==", value: "${VENDOR_B}" }]`,
        "    - id: no-permit2-permit-by-owner",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        `          abi: ${permit2PermitAbi}`,
        "          function: permit",
        `          params: [{ name: owner, operator: "==", value: "${OWNER}" }]`,
        "    - id: no-eip2612-permit-by-owner",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc20",
        "          function: permit",
        `          params: [{ name: owner, operator: "==", value: "${OWNER}" }]`,
      ].join("\n"),
    );
    const batch = await decide(p, tx({ to: NFT, data: call(ERC1155_ABI, "safeBatchTransferFrom", [OWNER, VENDOR_B, [1n], [1n], "0x"]) }));
    expect.soft(batch.effect, "safeBatchTransferFrom to vendor-b").toBe("deny");
    const permit2 = await decide(
      p,
      tx({
        to: PERMIT2,
        data: call(PERMIT2_ABI, "permit", [
          OWNER,
          { details: { token: USDC, amount: 1n, expiration: 1, nonce: 0 }, spender: VENDOR_B, sigDeadline: 1n },
          "0x",
        ]),
      }),
    );
    expect.soft(permit2.effect, "permit2 permit by owner").toBe("deny");
    const eip2612Call = await decide(
      p,
      tx({ to: USDC, data: call(ERC20_EXTENSIONS, "permit", [OWNER, VENDOR_B, 1n, 9999999999n, 27, SIG_R, SIG_S]) }),
    );
    expect.soft(eip2612Call.effect, "EIP-2612 permit by owner").toBe("deny");
  });

  it("F6: allow rules making transactions an allowlist also cover typed-data approvals (permit vs approve)", async () => {
    const p = await load(
      [
        "version: 1",
        "evm:",
        `  recipients: { allow: ["${VENDOR_A}", "${VENDOR_B}"] }`,
        "  rules:",
        "    - id: only-transfers-to-a",
        "      effect: allow",
        "      operation: sendTransaction",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc20",
        "          function: transfer",
        `          params: [{ name: recipient, operator: "==", value: "${VENDOR_A}" }]`,
      ].join("\n"),
    );
    // approve(vendor-b) as a transaction: DENIED (no allow rule matches the approval).
    expect.soft(await effect(p, tx({ to: USDC, data: call(erc20Abi, "approve", [VENDOR_B, usdc(100)]) }))).toBe("deny");
    // The same allowance as an EIP-2612 permit signature: the allow rule does not "apply" to a typed-data approval, so
    // no allow rule is counted and the allowlist is silently off: APPROVED.
    const r = await decide(p, typed(eip2612(VENDOR_B, usdc(100).toString())));
    expect.soft(r.effect, JSON.stringify(r.reasons)).toBe("deny");
  });

  it("F7: an evmAddress 'not in' deny rule is not dodged by having no address (typed data without verifyingContract, creation)", async () => {
    const p = await load(
      [
        "version: 1",
        "evm:",
        "  allow_typed_data: [{ primary_type: Mail }]",
        "  allow_contract_creation: true",
        "  rules:",
        "    - id: only-our-contract",
        "      effect: deny",
        "      criteria:",
        "        - type: evmAddress",
        '          operator: "not in"',
        `          addresses: ["${VENDOR_A}"]`,
      ].join("\n"),
    );
    const mail = (domain: Record<string, unknown>) =>
      typed({ domain, types: { Mail: [{ name: "contents", type: "string" }] }, primaryType: "Mail", message: { contents: "hi" } });
    expect.soft(await effect(p, mail({ name: "x", chainId: 8453, verifyingContract: STRANGER }))).toBe("deny");
    expect.soft(await effect(p, mail({ name: "x", chainId: 8453 })), "typed data without verifyingContract").toBe("deny");
    const create = serialized({ chainId: 8453, value: 0n, data: "0x6000", gas: 60_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
    expect.soft(await effect(p, create), "contract creation").toBe("deny");
  });
});

// ---------------------------------------------------------------------------------------------------------------------

describe("regressions: amounts at the boundaries (reference policy)", () => {
  it("1000 USDC is approved, 1000.000001 held, 5000 held, 5000.000001 denied", async () => {
    expect(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(1000)) }))).toBe("allow");
    expect(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(1000) + 1n) }))).toBe("hold");
    expect(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(5000)) }))).toBe("hold");
    expect(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(5000) + 1n) }))).toBe("deny");
    expect(await effect(policy, typed(eip3009(VENDOR_A, toHex(usdc(5000) + 1n))))).toBe("deny");
  });
  it("approvals: 2^255 denied as unlimited, 2^255-1 of USDC denied by max_transfer, Permit2 2^160-1 denied", async () => {
    const approve = (spender: string, amount: bigint, to = USDC) => tx({ to, data: call(erc20Abi, "approve", [spender, amount]) });
    expect(rules(await decide(policy, approve(VENDOR_A, 2n ** 255n)))).toContain("evm/unlimited_approval");
    expect(rules(await decide(policy, approve(VENDOR_A, 2n ** 255n - 1n)))).toContain("evm/max_transfer");
    expect(rules(await decide(policy, approve(VENDOR_A, 2n ** 256n - 1n, OTHER_TOKEN)))).toContain("evm/unlimited_approval");
    const p2 = (amount: bigint, token = OTHER_TOKEN) =>
      tx({ to: PERMIT2, data: call(PERMIT2_ABI, "approve", [token, VENDOR_A, amount, 1]) });
    expect(rules(await decide(policy, p2(2n ** 160n - 1n)))).toContain("evm/unlimited_approval");
    expect(rules(await decide(policy, p2(2n ** 160n - 2n, USDC)))).toContain("evm/max_transfer");
    expect(await effect(policy, approve(VENDOR_A, usdc(5000)))).toBe("allow");
  });
  it("max_value: exactly 0.05 ETH approved, one wei more denied, a 78-digit value denied", async () => {
    expect(await effect(policy, tx({ to: VENDOR_A, value: parseEther("0.05").toString() }))).toBe("allow");
    expect(await effect(policy, tx({ to: VENDOR_A, value: (parseEther("0.05") + 1n).toString() }))).toBe("deny");
    expect(await effect(policy, tx({ to: VENDOR_A, value: "9".repeat(78) }))).toBe("deny");
  });
  it("a USDC-address token on Base Sepolia is not the listed USDC (the listing is per chain), but the hold rule still applies", async () => {
    // Documented behaviour: tokens are keyed by chain. 10,000 units on 84532 are held (not denied by max_transfer).
    expect(await effect(policy, tx({ to: USDC, data: transfer(VENDOR_A, usdc(10_000)) }, 84532))).toBe("hold");
    expect(await effect(policy, tx({ to: USDC, data: transfer(STRANGER, 1n) }, 84532))).toBe("deny");
  });
});

describe("regressions: calldata encodings", () => {
  it("trailing bytes, upper-case hex and a lower-case `to` do not change the decision", async () => {
    const data = transfer(VENDOR_A, usdc(6000));
    expect(await effect(policy, tx({ to: USDC, data: `${data}${"00".repeat(40)}` as Hex }))).toBe("deny");
    expect(await effect(policy, tx({ to: USDC.toLowerCase(), data: `0x${data.slice(2).toUpperCase()}` }))).toBe("deny");
    expect(await effect(policy, tx({ to: USDC, data: `${transfer(VENDOR_A, usdc(10))}ff` as Hex }))).toBe("allow");
  });
  it("a non-canonical offset for a dynamic array decodes to the same effects", async () => {
    const canonical = call(PERMIT2_ABI, "transferFrom", [[{ from: OWNER, to: STRANGER, amount: 1n, token: USDC }]]);
    // selector | offset 0x20 | length | element... → selector | offset 0x40 | junk | length | element...
    const body = canonical.slice(10);
    const moved = `${canonical.slice(0, 10)}${(0x40).toString(16).padStart(64, "0")}${"ee".repeat(32)}${body.slice(64)}` as Hex;
    expect(await effect(policy, tx({ to: PERMIT2, data: canonical }))).toBe("deny");
    expect(rules(await decide(policy, tx({ to: PERMIT2, data: moved })))).toContain("evm/recipients");
  });
  it("a bytes signature whose offset overlaps the static arguments still reads the static to/value", async () => {
    const data = call(ERC20_EXTENSIONS, "transferWithAuthorization", [OWNER, STRANGER, 10n, 0n, 1n, NONCE32, "0x1234"]);
    // Point the `signature` offset (7th word) at the 3rd word (value), which is read as a 10-byte length.
    const words = data.slice(10).match(/.{64}/g)!;
    words[6] = (0x40).toString(16).padStart(64, "0");
    const r = await decide(policy, tx({ to: USDC, data: `${data.slice(0, 10)}${words.join("")}` as Hex }));
    expect(r.effect).toBe("deny");
  });
  it("ERC-721/1155 transfers to a stranger, dirty bools and mismatched batches are denied", async () => {
    expect(await effect(policy, tx({ to: NFT, data: call(erc721Abi, "transferFrom", [OWNER, STRANGER, 1n]) }))).toBe("deny");
    expect(await effect(policy, tx({ to: NFT, data: call(ERC1155_ABI, "safeTransferFrom", [OWNER, STRANGER, 1n, 1n, "0x"]) }))).toBe("deny");
    expect(
      await effect(policy, tx({ to: NFT, data: call(ERC1155_ABI, "safeBatchTransferFrom", [OWNER, VENDOR_A, [1n, 2n], [1n, 1n], "0x"]) })),
    ).toBe("allow");
    const sa = call(ERC1155_ABI, "setApprovalForAll", [VENDOR_A, false]);
    const dirtyBool = `${sa.slice(0, -2)}02` as Hex;
    expect(rules(await decide(policy, tx({ to: NFT, data: dirtyBool })))).toEqual(["evm/unknown_calldata"]);
    const mismatch = await decide(
      policy,
      tx({ to: NFT, data: call(ERC1155_ABI, "safeBatchTransferFrom", [OWNER, VENDOR_A, [1n, 2n], [1n], "0x"]) }),
    );
    expect(mismatch.effect).toBe("deny"); // a throw inside the effects module, caught by the evm block
  });
  it("unknown functions (Permit2 permitTransferFrom calldata, burn, multicall) are denied", async () => {
    const unknown = parseAbi([
      "function multicall(bytes[] data)",
      "function burn(uint256 amount)",
      "function permitTransferFrom(((address token, uint256 amount) permitted, uint256 nonce, uint256 deadline) permit, (address to, uint256 requestedAmount) transferDetails, address owner, bytes signature)",
    ]);
    expect(rules(await decide(policy, tx({ to: ROUTER, data: call(unknown, "multicall", [[transfer(STRANGER, 1n)]]) })))).toEqual([
      "evm/unknown_calldata",
    ]);
    expect(await effect(policy, tx({ to: USDC, data: call(unknown, "burn", [1n]) }))).toBe("deny");
    const ptf = call(unknown, "permitTransferFrom", [
      { permitted: { token: USDC, amount: 1n }, nonce: 0n, deadline: 1n },
      { to: STRANGER, requestedAmount: 1n },
      OWNER,
      "0x",
    ]);
    expect(await effect(policy, tx({ to: PERMIT2, data: ptf }))).toBe("deny");
  });
});

describe("regressions: serialized transactions of every type", () => {
  const fees = { gas: 80_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n };
  it("EIP-155 legacy on chain 1 or a chain_id that contradicts the transaction is denied", async () => {
    expect(await effect(policy, serialized({ chainId: 1, to: VENDOR_A, value: 1n, gas: 21_000n, gasPrice: 1n }))).toBe("deny");
    expect(await effect(policy, serialized({ chainId: 8453, to: VENDOR_A, value: 1n, gas: 21_000n, gasPrice: 1n }, { chain_id: 84532 }))).toBe("deny");
    expect(await effect(policy, serialized({ chainId: 8453, to: VENDOR_A, value: 1n, gas: 21_000n, gasPrice: 1n }))).toBe("allow");
  });
  it("2930 with an access list, 4844 with blob fees, 7702 authorizations", async () => {
    expect(
      await effect(
        policy,
        serialized({ type: "eip2930", chainId: 8453, to: USDC, value: 0n, data: transfer(STRANGER, 1n), gas: 80_000n, gasPrice: 1n, accessList: [{ address: STRANGER, storageKeys: [] }] }),
      ),
    ).toBe("deny");
    const blob = { type: "eip4844", chainId: 8453, to: VENDOR_A, value: 1n, ...fees, blobVersionedHashes: [`0x01${"ab".repeat(31)}` as Hex] } as const;
    expect(await effect(policy, serialized({ ...blob, maxFeePerBlobGas: 1n }))).toBe("allow");
    expect(rules(await decide(policy, serialized({ ...blob, maxFeePerBlobGas: parseEther("0.000001") })))).toEqual(["evm/max_fee"]);
    const d = (a: ReturnType<typeof auth>[]) => serialized({ type: "eip7702", chainId: 8453, to: VENDOR_A, value: 0n, ...fees, authorizationList: a });
    expect(await effect(policy, d([auth(ZERO, 0)]))).toBe("allow"); // clearing a delegation
    expect(await effect(policy, d([auth(ZERO, 8453), auth(STRANGER, 8453)]))).toBe("deny");
    expect(await effect(policy, d([auth(VENDOR_A, 0)]))).toBe("deny"); // even a listed vendor is not a delegate
  });
  it("value beside calldata in a serialized transaction is judged against the native `to`", async () => {
    expect(await effect(policy, serialized({ chainId: 8453, to: USDC, value: 1n, data: transfer(VENDOR_A, 1n), ...fees }))).toBe("deny");
    expect(await effect(policy, serialized({ chainId: 8453, to: VENDOR_A, value: 0n, data: "0x", ...fees }))).toBe("allow");
  });
});

describe("regressions: typed data tricks", () => {
  it("EIP712Domain in types, extra unused types and hex-string chainIds do not change the decision", async () => {
    const big = usdc(6000).toString();
    expect(await effect(policy, typed(eip3009(VENDOR_A, big)))).toBe("deny");
    const domainType = [
      { name: "name", type: "string" },
      { name: "version", type: "string" },
      { name: "chainId", type: "uint256" },
      { name: "verifyingContract", type: "address" },
    ];
    expect(await effect(policy, typed(eip3009(VENDOR_A, big, usdcDomain, { EIP712Domain: domainType })))).toBe("deny");
    expect(await effect(policy, typed(eip3009(VENDOR_A, big, usdcDomain, { Unused: [{ name: "a", type: "uint256" }] })))).toBe("deny");
    expect(await effect(policy, typed(eip3009(VENDOR_A, big, { ...usdcDomain, chainId: "0x2105" })))).toBe("deny");
    // domain chainId 8453 signed for an intent declared on 84532 (where USDC is not listed): denied by chains.
    expect(rules(await decide(policy, typed(eip3009(VENDOR_A, big, { ...usdcDomain, chainId: "0x2105" }), 84532)))).toContain("evm/chains");
    expect(rules(await decide(policy, typed(eip3009(VENDOR_A, "1", { ...usdcDomain, chainId: 1 }))))).toContain("evm/chains");
  });
  it("odd-case addresses and extra differently-cased message fields are not misread", async () => {
    expect(await effect(policy, typed(eip3009(STRANGER.toUpperCase().replace("0X", "0x"), "1")))).toBe("deny");
    expect(await effect(policy, typed(eip3009(`0X${STRANGER.slice(2)}`, "1")))).toBe("deny");
    const td = eip3009(STRANGER, "1");
    (td.message as Record<string, unknown>).To = VENDOR_A;
    expect(await effect(policy, typed(td))).toBe("deny");
    const upperVc = eip3009(VENDOR_A, usdc(6000).toString(), { ...usdcDomain, verifyingContract: `0x${USDC.slice(2).toUpperCase()}` });
    expect(await effect(policy, typed(upperVc))).toBe("deny");
  });
  it("Permit2 witness transfers are judged as the signature transfer; a renamed witness is unknown", async () => {
    expect(rules(await decide(policy, typed(permitWitness(STRANGER, "1"))))).toContain("evm/recipients");
    expect(rules(await decide(policy, typed(permitWitness(VENDOR_A, usdc(6000).toString()))))).toContain("evm/max_transfer");
    expect(await effect(policy, typed(permitWitness(VENDOR_A, usdc(2000).toString())))).toBe("hold");
    expect(rules(await decide(policy, typed(permitWitness(VENDOR_A, "1", "order"))))).toEqual(["evm/unknown_typed_data"]);
  });
  it("a self-referencing primary type, EIP712Domain as primary type and arrays of unknown structs are denied", async () => {
    const self = typed({
      domain: usdcDomain,
      types: { Node: [{ name: "next", type: "Node[]" }, { name: "to", type: "address" }] },
      primaryType: "Node",
      message: { next: [], to: VENDOR_A },
    });
    expect(await effect(policy, self)).toBe("deny");
    const dom = typed({
      domain: usdcDomain,
      types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }] },
      primaryType: "EIP712Domain",
      message: {},
    });
    expect(await effect(policy, dom)).toBe("deny");
  });
  it("EIP-2612 permits on a token other than USDC: spender still listed; unlimited still denied", async () => {
    const other = { ...usdcDomain, name: "Other", verifyingContract: OTHER_TOKEN };
    expect(await effect(policy, typed(eip2612(STRANGER, "1", other)))).toBe("deny");
    expect(rules(await decide(policy, typed(eip2612(VENDOR_A, (2n ** 255n).toString(), other))))).toContain("evm/unlimited_approval");
    expect(await effect(policy, typed(eip2612(VENDOR_A, "1", other)))).toBe("allow");
  });
});
