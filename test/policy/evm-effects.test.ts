// Effects first (SPEC section 5), tried as an attacker would against the reference policy: the same movement of
// value spelled every way the codebase knows (plain, calldata, serialized of every type, typed data, hex/decimal/number
// amounts) gets the same decision, and anything not fully understood is denied.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
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
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { ERC20_EXTENSIONS, PERMIT2_ABI } from "../../sidecar/policy/effects/abis.ts";
import { decide, intent, tempDir } from "./helpers.ts";

const REFERENCE = new URL("../../policy-examples/reference/policy.yaml", import.meta.url).pathname;
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
const VENDOR_B = "0x2222222222222222222222222222222222222222";
const STRANGER = "0x3333333333333333333333333333333333333333";
const OWNER = "0x4444444444444444444444444444444444444444";
const usdc = (n: number) => BigInt(Math.round(n * 1e6));

let policy: LoadedPolicy;
beforeAll(async () => {
  policy = await loadPolicy(REFERENCE);
});

const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);
const tx = (params: Record<string, unknown>) =>
  intent({ action: "evm.transaction", params: { chain_id: 8453, value: "0", ...params } });
const serialized = (t: Parameters<typeof serializeTransaction>[0]) =>
  intent({ action: "evm.transaction", params: { serialized: serializeTransaction(t) } });
const typed = (td: Record<string, unknown>) =>
  intent({ action: "evm.typed_data", params: { chain_id: 8453, typed_data: td } });

const call = (abi: readonly unknown[], functionName: string, args: unknown[]): Hex =>
  encodeFunctionData({ abi: abi as never, functionName, args } as never);

const usdcDomain = { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: USDC };
const eip3009 = (to: string, value: unknown, primaryType = "TransferWithAuthorization") => ({
  domain: usdcDomain,
  types: {
    [primaryType]: [
      { name: "from", type: "address" },
      { name: "to", type: "address" },
      { name: "value", type: "uint256" },
      { name: "validAfter", type: "uint256" },
      { name: "validBefore", type: "uint256" },
      { name: "nonce", type: "bytes32" },
    ],
  },
  primaryType,
  message: { from: OWNER, to, value, validAfter: "0", validBefore: "9999999999", nonce: `0x${"ab".repeat(32)}` },
});
const permit2Domain = { name: "Permit2", chainId: 8453, verifyingContract: PERMIT2 };
const permitTransferFrom = (spender: string, amount: unknown) => ({
  domain: permit2Domain,
  types: {
    PermitTransferFrom: [
      { name: "permitted", type: "TokenPermissions" },
      { name: "spender", type: "address" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
    TokenPermissions: [
      { name: "token", type: "address" },
      { name: "amount", type: "uint256" },
    ],
  },
  primaryType: "PermitTransferFrom",
  message: { permitted: { token: USDC, amount }, spender, nonce: "1", deadline: "9999999999" },
});
const permitBatch = (spender: string, amounts: unknown[]) => ({
  domain: permit2Domain,
  types: {
    PermitBatch: [
      { name: "details", type: "PermitDetails[]" },
      { name: "spender", type: "address" },
      { name: "sigDeadline", type: "uint256" },
    ],
    PermitDetails: [
      { name: "token", type: "address" },
      { name: "amount", type: "uint160" },
      { name: "expiration", type: "uint48" },
      { name: "nonce", type: "uint48" },
    ],
  },
  primaryType: "PermitBatch",
  message: {
    details: amounts.map((amount) => ({ token: USDC, amount, expiration: "9999999999", nonce: "0" })),
    spender,
    sigDeadline: "9999999999",
  },
});
const eip2612 = (spender: string, value: unknown) => ({
  domain: usdcDomain,
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
const daiPermit = (spender: string, allowed: boolean) => ({
  domain: usdcDomain,
  types: {
    Permit: [
      { name: "holder", type: "address" },
      { name: "spender", type: "address" },
      { name: "nonce", type: "uint256" },
      { name: "expiry", type: "uint256" },
      { name: "allowed", type: "bool" },
    ],
  },
  primaryType: "Permit",
  message: { holder: OWNER, spender, nonce: "0", expiry: "9999999999", allowed },
});

describe("class 1: native value beside calldata", () => {
  it("denies value to an unlisted address even when the calldata names vendor-a", async () => {
    const r = await decide(
      policy,
      tx({ to: STRANGER, value: parseEther("0.05").toString(), data: call(erc20Abi, "transfer", [VENDOR_A, 0n]) }),
    );
    expect(r.effect).toBe("deny");
    expect(rules(r)).toContain("evm/recipients");
    expect(r.reasons.map((x) => x.message).join(" ")).toContain("0x3333");
  });
  it("denies the same in a serialized 1559 transaction, and value sent to the token contract itself", async () => {
    const r = await decide(
      policy,
      serialized({
        chainId: 8453,
        to: STRANGER,
        value: 1n,
        data: call(erc20Abi, "approve", [VENDOR_A, 1n]),
        gas: 60000n,
        maxFeePerGas: 1_000_000_000n,
        maxPriorityFeePerGas: 1n,
      }),
    );
    expect(rules(r)).toContain("evm/recipients");
    const toToken = await decide(
      policy,
      tx({ to: USDC, value: "1", data: call(erc20Abi, "transfer", [VENDOR_A, usdc(10)]) }),
    );
    expect(toToken.effect).toBe("deny");
    expect(rules(toToken)).toEqual(["evm/recipients"]);
  });
});

describe("class 2: token movements the old decoder did not know", () => {
  it("denies EIP-3009 TransferWithAuthorization of 1,000,000 USDC to an unlisted address", async () => {
    const r = await decide(policy, typed(eip3009(STRANGER, usdc(1_000_000).toString())));
    expect(r.effect).toBe("deny");
    expect(rules(r)).toEqual(expect.arrayContaining(["evm/recipients", "evm/max_transfer"]));
  });
  it("holds EIP-3009 of 4,999 USDC to vendor-a (the transfer rule judges the signature too)", async () => {
    for (const pt of ["TransferWithAuthorization", "ReceiveWithAuthorization"]) {
      const r = await decide(policy, typed(eip3009(VENDOR_A, usdc(4999).toString(), pt)));
      expect(r.effect).toBe("hold");
      expect(rules(r)).toEqual(["evm/usdc-over-1000-needs-review"]);
    }
  });
  it("denies Permit2 signature transfers and batch allowances to an unlisted spender, and their amounts", async () => {
    expect(rules(await decide(policy, typed(permitTransferFrom(STRANGER, usdc(10).toString()))))).toContain(
      "evm/recipients",
    );
    const big = await decide(policy, typed(permitTransferFrom(VENDOR_A, usdc(6000).toString())));
    expect(rules(big)).toContain("evm/max_transfer");
    const batch = await decide(policy, typed(permitBatch(VENDOR_A, [usdc(1).toString(), (2n ** 160n - 1n).toString()])));
    expect(rules(batch)).toContain("evm/unlimited_approval");
    expect(rules(await decide(policy, typed(permitBatch(STRANGER, ["1"]))))).toContain("evm/recipients");
  });
  it("reads permit values written as hex or JSON numbers exactly, and refuses what it cannot read exactly", async () => {
    const hex = await decide(policy, typed(eip2612(VENDOR_A, toHex(2n ** 256n - 1n))));
    expect(rules(hex)).toContain("evm/unlimited_approval");
    const num = await decide(policy, typed(eip2612(VENDOR_A, 6_000_000_000)));
    expect(rules(num)).toContain("evm/max_transfer");
    for (const v of [1e30, " 5000", "5e9", "-1", "5000.0", [5000], { v: 1 }, null, true]) {
      const r = await decide(policy, typed(eip2612(VENDOR_A, v)));
      expect(r.effect, JSON.stringify(v)).toBe("deny");
    }
  });
  it("denies DAI-style allowed: true, setApprovalForAll and unlisted operators", async () => {
    expect(rules(await decide(policy, typed(daiPermit(VENDOR_A, true))))).toContain("evm/unlimited_approval");
    expect(rules(await decide(policy, typed(daiPermit(STRANGER, true))))).toContain("evm/recipients");
    const nft = await decide(
      policy,
      tx({ to: STRANGER, data: call(erc721Abi, "setApprovalForAll", [VENDOR_A, true]) }),
    );
    expect(rules(nft)).toContain("evm/unlimited_approval");
    const dai = await decide(
      policy,
      tx({
        to: USDC,
        data: call(ERC20_EXTENSIONS, "permit", [OWNER, VENDOR_A, 0n, 9999999999n, true, 27, `0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`]),
      }),
    );
    expect(rules(dai)).toContain("evm/unlimited_approval");
  });
  it("denies typed data of a primary type it does not understand, and a look-alike Permit", async () => {
    const operator = await decide(
      policy,
      typed({
        domain: usdcDomain,
        types: { Approval: [{ name: "operator", type: "address" }, { name: "approved", type: "bool" }] },
        primaryType: "Approval",
        message: { operator: STRANGER, approved: true },
      }),
    );
    expect(rules(operator)).toEqual(["evm/unknown_typed_data"]);
    expect(operator.reasons[0]!.message).toContain("evm.allow_typed_data");
    const lookalike = eip2612(VENDOR_A, "1");
    (lookalike.types.Permit as { name: string; type: string }[])[1] = { name: "Spender", type: "address" };
    (lookalike.message as Record<string, unknown>).Spender = STRANGER;
    expect(rules(await decide(policy, typed(lookalike)))).toEqual(["evm/unknown_typed_data"]);
  });
});

describe("class 3: rules bound to effects, not function names", () => {
  it("holds transferFrom, transferWithAuthorization and Permit2 transferFrom of 4,999 USDC to vendor-a", async () => {
    const spellings: [string, Hex, string][] = [
      ["transferFrom", call(erc20Abi, "transferFrom", [OWNER, VENDOR_A, usdc(4999)]), USDC],
      [
        "transferWithAuthorization",
        call(ERC20_EXTENSIONS, "transferWithAuthorization", [OWNER, VENDOR_A, usdc(4999), 0n, 9999999999n, `0x${"ab".repeat(32)}`, 27, `0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`]),
        USDC,
      ],
      ["permit2.transferFrom", call(PERMIT2_ABI, "transferFrom", [OWNER, VENDOR_A, usdc(4999), USDC]), PERMIT2],
    ];
    for (const [name, data, to] of spellings) {
      const r = await decide(policy, tx({ to, data }));
      expect(r.effect, name).toBe("hold");
      expect(rules(r), name).toEqual(["evm/usdc-over-1000-needs-review"]);
    }
  });
  it("denies increaseAllowance to an unlisted spender and an unlimited one", async () => {
    expect(rules(await decide(policy, tx({ to: USDC, data: call(ERC20_EXTENSIONS, "increaseAllowance", [STRANGER, 1n]) })))).toContain("evm/recipients");
    expect(rules(await decide(policy, tx({ to: USDC, data: call(ERC20_EXTENSIONS, "increaseAllowance", [VENDOR_A, 2n ** 255n]) })))).toContain("evm/unlimited_approval");
  });
  it("denies a known selector whose arguments carry dirty address bits", async () => {
    const data = call(erc20Abi, "transfer", [VENDOR_A, 1n]);
    const dirty = `${data.slice(0, 10)}ff${data.slice(12)}` as Hex;
    expect(rules(await decide(policy, tx({ to: USDC, data: dirty })))).toEqual(["evm/unknown_calldata"]);
  });
});

describe("class 4: fees, delegations, creation", () => {
  it("denies a serialized transaction whose fee ceiling exceeds max_value (the fee limit when max_fee is unset)", async () => {
    const r = await decide(
      policy,
      serialized({ chainId: 8453, to: VENDOR_A, value: 1n, gas: 30_000_000n, maxFeePerGas: parseEther("0.0001"), maxPriorityFeePerGas: 1n }),
    );
    expect(rules(r)).toEqual(["evm/max_fee"]);
    const legacy = await decide(policy, serialized({ chainId: 8453, to: VENDOR_A, value: 1n, gas: 30_000_000n, gasPrice: parseEther("0.0001") }));
    expect(rules(legacy)).toEqual(["evm/max_fee"]);
    const objectForm = await decide(policy, tx({ to: VENDOR_A, value: "1", gas: "30000000", max_fee_per_gas: parseEther("0.0001").toString() }));
    expect(rules(objectForm)).toEqual(["evm/max_fee"]);
  });
  it("denies EIP-7702 delegations and contract creation", async () => {
    const r = await decide(
      policy,
      serialized({
        type: "eip7702",
        chainId: 8453,
        to: VENDOR_A,
        value: 0n,
        gas: 50000n,
        maxFeePerGas: 1n,
        maxPriorityFeePerGas: 1n,
        authorizationList: [{ address: STRANGER, chainId: 0, nonce: 0, r: `0x${"11".repeat(32)}`, s: `0x${"22".repeat(32)}`, yParity: 0 }],
      }),
    );
    expect(rules(r)).toEqual(["evm/delegations"]);
    expect(r.reasons[0]!.message).toContain("every chain");
    const create = await decide(policy, serialized({ chainId: 8453, value: 0n, data: "0x6000", gas: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }));
    expect(rules(create)).toEqual(["evm/contracts"]);
  });
  it("an explicit max_fee requires declared fees, and delegations.allow / allow_contract_creation allow explicitly", async () => {
    const t = await tempDir();
    try {
      const file = await t.write(
        "p.yaml",
        [
          "version: 1",
          "evm:",
          '  max_fee: "0.001 ether"',
          `  delegations: { allow: ["${STRANGER}"] }`,
          "  allow_contract_creation: true",
        ].join("\n"),
      );
      const p = await loadPolicy(file);
      expect(rules(await decide(p, tx({ to: VENDOR_A, value: "1" })))).toEqual(["evm/max_fee"]);
      expect((await decide(p, tx({ to: VENDOR_A, value: "1", gas: "21000", max_fee_per_gas: "1000000000" }))).effect).toBe("allow");
      const del = serialized({
        type: "eip7702", chainId: 8453, to: VENDOR_A, value: 0n, gas: 50000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n,
        authorizationList: [{ address: STRANGER, chainId: 8453, nonce: 0, r: `0x${"11".repeat(32)}`, s: `0x${"22".repeat(32)}`, yParity: 0 }],
      });
      expect((await decide(p, del)).effect).toBe("allow");
      expect((await decide(p, serialized({ chainId: 8453, value: 0n, data: "0x6000", gas: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }))).effect).toBe("allow");
    } finally {
      await t.cleanup();
    }
  });
});

describe("the reference policy's allowed paths stay APPROVED", () => {
  it("500 USDC to vendor-a, 0.01 ETH to vendor-a (object and serialized forms)", async () => {
    expect((await decide(policy, tx({ to: USDC, data: call(erc20Abi, "transfer", [VENDOR_A, usdc(500)]) }))).effect).toBe("allow");
    expect((await decide(policy, tx({ to: VENDOR_A, value: parseEther("0.01").toString() }))).effect).toBe("allow");
    expect(
      (await decide(policy, serialized({ chainId: 8453, to: VENDOR_A, value: parseEther("0.01"), gas: 21000n, maxFeePerGas: 10n ** 9n, maxPriorityFeePerGas: 1n }))).effect,
    ).toBe("allow");
    expect((await decide(policy, typed(eip3009(VENDOR_B, usdc(500).toString())))).effect).toBe("allow");
  });
});

// The oracle: what the reference policy's comments say about moving `amount` USDC units to `to`.
function expected(to: string, amount: bigint): "allow" | "hold" | "deny" {
  if (to !== VENDOR_A && to !== VENDOR_B) return "deny";
  if (amount > usdc(5000)) return "deny";
  if (amount > usdc(1000)) return "hold";
  return "allow";
}

type Spelling = (to: `0x${string}`, amount: bigint, enc: (n: bigint) => unknown) => ReturnType<typeof intent>;
const SPELLINGS: Record<string, Spelling> = {
  transfer: (to, amount) => tx({ to: USDC, data: call(erc20Abi, "transfer", [to, amount]) }),
  "transfer (checksummed to)": (to, amount) => tx({ to: USDC.toLowerCase(), data: call(erc20Abi, "transfer", [to, amount]).toUpperCase().replace("0X", "0x") }),
  transferFrom: (to, amount) => tx({ to: USDC, data: call(erc20Abi, "transferFrom", [OWNER, to, amount]) }),
  "serialized 1559 transfer": (to, amount) =>
    serialized({ chainId: 8453, to: USDC, value: 0n, data: call(erc20Abi, "transfer", [to, amount]), gas: 80000n, maxFeePerGas: 10n ** 9n, maxPriorityFeePerGas: 1n }),
  "serialized legacy transferFrom": (to, amount) =>
    serialized({ chainId: 8453, to: USDC, value: 0n, data: call(erc20Abi, "transferFrom", [OWNER, to, amount]), gas: 80000n, gasPrice: 10n ** 9n }),
  "serialized 2930": (to, amount) =>
    serialized({ type: "eip2930", chainId: 8453, to: USDC, value: 0n, data: call(erc20Abi, "transfer", [to, amount]), gas: 80000n, gasPrice: 10n ** 9n, accessList: [] }),
  "transferWithAuthorization (bytes signature)": (to, amount) =>
    tx({ to: USDC, data: call(ERC20_EXTENSIONS, "transferWithAuthorization", [OWNER, to, amount, 0n, 1n, `0x${"ab".repeat(32)}`, "0x1234"]) }),
  "receiveWithAuthorization": (to, amount) =>
    tx({ to: USDC, data: call(ERC20_EXTENSIONS, "receiveWithAuthorization", [OWNER, to, amount, 0n, 1n, `0x${"ab".repeat(32)}`, 27, `0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`]) }),
  "permit2 transferFrom": (to, amount) => tx({ to: PERMIT2, data: call(PERMIT2_ABI, "transferFrom", [OWNER, to, amount, USDC]) }),
  "EIP-3009 typed data": (to, amount, enc) => typed(eip3009(to, enc(amount))),
  "EIP-3009 receive typed data": (to, amount, enc) => typed(eip3009(to, enc(amount), "ReceiveWithAuthorization")),
  "Permit2 PermitTransferFrom": (to, amount, enc) => typed(permitTransferFrom(to, enc(amount))),
};
const ENCODINGS: Record<string, (n: bigint) => unknown> = {
  decimal: (n) => n.toString(),
  hex: (n) => toHex(n),
  "upper hex": (n) => `0x${n.toString(16).toUpperCase()}`,
  number: (n) => Number(n), // amounts here stay below 2^53
  "leading zeros": (n) => `000${n}`,
};

describe("property: one movement, every spelling, one decision", () => {
  it("token transfers of USDC decide as the reference policy says, whatever the mechanism or encoding", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(VENDOR_A, VENDOR_B, STRANGER, OWNER),
        fc.oneof(fc.bigInt({ min: 0n, max: usdc(10_000) }), fc.constantFrom(usdc(1000), usdc(1000) + 1n, usdc(5000), usdc(5000) + 1n)),
        fc.constantFrom(...Object.keys(SPELLINGS)),
        fc.constantFrom(...Object.keys(ENCODINGS)),
        async (to, amount, spelling, encoding) => {
          const r = await decide(policy, SPELLINGS[spelling]!(to as `0x${string}`, amount, ENCODINGS[encoding]!));
          expect(r.effect, `${spelling} ${encoding} ${to} ${amount}: ${JSON.stringify(r.reasons)}`).toBe(expected(to, amount));
        },
      ),
      { numRuns: 400 },
    );
  });
  it("native value decides the same in every transaction form, and value beside any calldata is judged", async () => {
    const forms: Record<string, (to: `0x${string}`, value: bigint, data?: Hex) => ReturnType<typeof intent>> = {
      object: (to, value, data) => tx({ to, value: value.toString(), ...(data ? { data } : {}) }),
      legacy: (to, value, data) => serialized({ chainId: 8453, to, value, gas: 21000n, gasPrice: 1n, ...(data ? { data } : {}) }),
      eip1559: (to, value, data) => serialized({ chainId: 8453, to, value, gas: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, ...(data ? { data } : {}) }),
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(VENDOR_A, VENDOR_B, STRANGER),
        fc.oneof(fc.bigInt({ min: 0n, max: parseEther("0.1") }), fc.constantFrom(parseEther("0.05"), parseEther("0.05") + 1n)),
        fc.constantFrom(...Object.keys(forms)),
        fc.boolean(),
        async (to, value, form, withCalldata) => {
          const data = withCalldata ? call(erc20Abi, "transfer", [VENDOR_A, 0n]) : undefined;
          const r = await decide(policy, forms[form]!(to as `0x${string}`, value, data));
          const native = value > 0n || !withCalldata;
          const bad = value > parseEther("0.05") || (native && to === STRANGER);
          expect(r.effect, `${form} ${to} ${value} ${withCalldata}`).toBe(bad ? "deny" : "allow");
        },
      ),
      { numRuns: 300 },
    );
  });
  it("no typed-data amount that cannot be read exactly is ever approved", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.double(),
          fc.constant(" 1"),
          fc.constant("1 "),
          fc.constant("+1"),
          fc.constant("0x"),
          fc.constant("1e3"),
          fc.array(fc.nat()),
          fc.constant(null),
          fc.constant(2 ** 53 + 2),
        ),
        fc.constantFrom("eip3009", "permit", "permit2"),
        async (v, kind) => {
          const td = kind === "eip3009" ? eip3009(VENDOR_A, v) : kind === "permit" ? eip2612(VENDOR_A, v) : permitTransferFrom(VENDOR_A, v);
          const exact =
            (typeof v === "string" && /^([0-9]{1,78}|0x[0-9a-fA-F]{1,64})$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0);
          const r = await decide(policy, typed(td));
          if (!exact) expect(r.effect, JSON.stringify(v)).toBe("deny");
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("parse failures deny", () => {
  it("a serialized transaction that does not parse, or typed data that is not EIP-712", async () => {
    expect((await decide(policy, intent({ action: "evm.transaction", params: { serialized: "0x02f8" } }))).effect).toBe("deny");
    const bad = eip3009(VENDOR_A, "1");
    (bad.types.TransferWithAuthorization as { name: string; type: string }[])[2] = { name: "value", type: "uint999" };
    expect((await decide(policy, typed(bad))).effect).toBe("deny");
    expect(parseAbi(["function f()"]).length).toBe(1);
  });
});
