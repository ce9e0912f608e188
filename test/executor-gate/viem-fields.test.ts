// "Class 4": the viem wrapper binds every field the policy judged. A transaction that differs from the attested one in
// any single field (type, chain, nonce, gas, each fee, recipient, value, calldata, access list, EIP-7702 authorizations,
// blobs) is refused with a message naming that field; the exact attested transaction is signed. Tokens are minted with a
// pinned test key (the serialized form and arbitrary fee fields are not something the test sidecar's policy decides).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  bytesToHex,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  type Hex,
  type TransactionSerializable,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Intent } from "../../protocol/index.ts";
import { checkTransactionMatchesIntent, createGate, gatedAccount, GateError } from "../../executor-gate/index.ts";
import { claimsFor, newKey, signJws } from "./mint.ts";
import { evmIntent, OTHER_RECIPIENT, RECIPIENT } from "./intents.ts";
import { testReplay } from "./test-replay.ts";

const key = newKey();
const gate = createGate({ replay: testReplay(), jwks: [key.publicJwk] });
const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

/** A transaction loosely typed, so a case can set any field to anything (viem's own type is a strict union). */
interface Tx {
  [k: string]: unknown;
  type?: string;
  chainId?: number;
  to?: Hex | null;
  data?: Hex;
  nonce?: number;
  accessList?: { address: Hex; storageKeys: Hex[] }[];
  authorizationList?: { address: Hex; chainId: number; nonce: number; r: Hex; s: Hex; yParity: number }[];
  blobVersionedHashes?: Hex[];
}

/** A gated signer holding a fresh attestation for `intent`. */
function signerFor(intent: Intent) {
  const attestation = signJws(key, claimsFor(intent));
  const signer = gatedAccount(account, gate, { attestationFor: () => ({ attestation, intent }) });
  return {
    signTransaction: (tx: Tx, options?: { serializer?: unknown }) =>
      (signer.signTransaction as (t: unknown, o?: unknown) => Promise<Hex>)(tx, options),
    signAuthorization: signer.signAuthorization!,
    sign: signer.sign!,
  };
}

const serializedIntent = (tx: Tx): Intent => ({
  agent: "treasury-bot",
  action: "evm.transaction",
  params: { serialized: serializeTransaction(tx as TransactionSerializable) },
  context: {},
});

async function refusal(p: Promise<unknown>): Promise<GateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GateError);
  expect((err as GateError).code).toBe("digest_mismatch");
  return err as GateError;
}

const GWEI = 1_000_000_000n;
const TRANSFER =
  "0xa9059cbb0000000000000000000000002222222222222222222222222222222222222222000000000000000000000000000000000000000000000000000000000000002a" as Hex;
const SLOT = ("0x" + "00".repeat(31) + "01") as Hex;
const SLOT2 = ("0x" + "00".repeat(31) + "02") as Hex;
const HASH = ("0x01" + "ab".repeat(31)) as Hex;
const HASH2 = ("0x01" + "cd".repeat(31)) as Hex;
const SIG = { r: ("0x" + "1b".repeat(32)) as Hex, s: ("0x" + "2c".repeat(32)) as Hex, yParity: 1 };

const common = { chainId: 8453, to: RECIPIENT, value: 1_000_000_000_000_000n, data: TRANSFER, nonce: 7, gas: 60_000n };
const eip1559: Tx = {
  ...common,
  type: "eip1559",
  maxFeePerGas: 2n * GWEI,
  maxPriorityFeePerGas: GWEI,
  accessList: [
    { address: RECIPIENT, storageKeys: [SLOT] },
    { address: OTHER_RECIPIENT, storageKeys: [] },
  ],
};
const legacy: Tx = { ...common, type: "legacy", gasPrice: 3n * GWEI };
const eip2930: Tx = { ...common, type: "eip2930", gasPrice: 3n * GWEI, accessList: [] };
const eip7702: Tx = {
  ...common,
  type: "eip7702",
  maxFeePerGas: 2n * GWEI,
  maxPriorityFeePerGas: GWEI,
  authorizationList: [{ address: OTHER_RECIPIENT, chainId: 8453, nonce: 3, ...SIG }],
};
const eip4844: Tx = {
  ...common,
  type: "eip4844",
  maxFeePerGas: 2n * GWEI,
  maxPriorityFeePerGas: GWEI,
  maxFeePerBlobGas: 5n,
  blobVersionedHashes: [HASH],
};

/** The fields of a transaction without its signature, for comparing what was signed with what was declared. */
function unsignedFields(tx: Record<string, unknown>): Record<string, unknown> {
  const { r: _r, s: _s, v: _v, yParity: _y, ...rest } = tx;
  return rest;
}

describe("serialized intent: every field is bound", () => {
  it.each([
    ["legacy", legacy],
    ["eip2930", eip2930],
    ["eip1559", eip1559],
    ["eip7702", eip7702],
    ["eip4844", eip4844],
  ] as const)("signs the exact declared %s transaction", async (_type, declared) => {
    const intent = serializedIntent(declared);
    const parsed = parseTransaction(intent.params.serialized as Hex);
    const signed = await signerFor(intent).signTransaction(parsed as Tx);
    expect(unsignedFields(parseTransaction(signed))).toEqual(unsignedFields(parsed));
    expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
  });

  const cases: { field: string; declared: Tx; tx: Tx; message: RegExp }[] = [
    {
      field: "type",
      declared: legacy,
      tx: { ...legacy, type: "eip2930", accessList: [] },
      message: /type is eip2930, attested legacy/,
    },
    { field: "chain id", declared: eip1559, tx: { ...eip1559, chainId: 1 }, message: /chain id is 1, attested 8453/ },
    { field: "nonce", declared: eip1559, tx: { ...eip1559, nonce: 8 }, message: /nonce is 8, attested 7/ },
    { field: "gas", declared: eip1559, tx: { ...eip1559, gas: 60_001n }, message: /: gas is 60001, attested 60000/ },
    {
      field: "gas absent",
      declared: eip1559,
      tx: { ...eip1559, gas: undefined },
      message: /: gas is absent, attested 60000/,
    },
    {
      field: "gas price",
      declared: legacy,
      tx: { ...legacy, gasPrice: 10n ** 21n },
      message: /gas price is 10{21} wei/,
    },
    {
      field: "max fee per gas",
      declared: eip1559,
      tx: { ...eip1559, maxFeePerGas: 10n ** 21n },
      message: /: max fee per gas is 10{21} wei, attested 2000000000 wei/,
    },
    {
      field: "max priority fee per gas",
      declared: eip1559,
      tx: { ...eip1559, maxPriorityFeePerGas: 2n * GWEI },
      message: /max priority fee per gas is 2000000000 wei, attested 1000000000 wei/,
    },
    {
      field: "max fee per blob gas",
      declared: eip4844,
      tx: { ...eip4844, maxFeePerBlobGas: 6n },
      message: /max fee per blob gas is 6 wei, attested 5 wei/,
    },
    { field: "recipient", declared: eip1559, tx: { ...eip1559, to: OTHER_RECIPIENT }, message: /recipient is 0x2222/ },
    {
      field: "contract creation",
      declared: eip1559,
      tx: { ...eip1559, to: undefined },
      message: /recipient is absent \(contract creation\), attested 0x1111/,
    },
    {
      field: "value",
      declared: eip1559,
      tx: { ...eip1559, value: common.value + 1n },
      message: /value is 1000000000000001 wei/,
    },
    {
      field: "calldata",
      declared: eip1559,
      tx: { ...eip1559, data: (TRANSFER.slice(0, -2) + "2b") as Hex },
      message: /calldata is 0xa9059cbb/,
    },
    {
      field: "access list (entry added)",
      declared: eip1559,
      tx: { ...eip1559, accessList: [...(eip1559.accessList ?? []), { address: RECIPIENT, storageKeys: [SLOT2] }] },
      message: /access list is/,
    },
    {
      field: "access list (reordered)",
      declared: eip1559,
      tx: { ...eip1559, accessList: [...(eip1559.accessList ?? [])].reverse() },
      message: /access list is/,
    },
    {
      field: "access list (dropped)",
      declared: eip1559,
      tx: { ...eip1559, accessList: [] },
      message: /access list is \[\]/,
    },
    {
      field: "authorization list (delegate)",
      declared: eip7702,
      tx: { ...eip7702, authorizationList: [{ address: RECIPIENT, chainId: 8453, nonce: 3, ...SIG }] },
      message: /authorization list is/,
    },
    {
      field: "authorization list (chain 0)",
      declared: eip7702,
      tx: { ...eip7702, authorizationList: [{ address: OTHER_RECIPIENT, chainId: 0, nonce: 3, ...SIG }] },
      message: /authorization list is/,
    },
    {
      field: "authorization list (nonce)",
      declared: eip7702,
      tx: { ...eip7702, authorizationList: [{ address: OTHER_RECIPIENT, chainId: 8453, nonce: 4, ...SIG }] },
      message: /authorization list is/,
    },
    {
      field: "authorization list (signature)",
      declared: eip7702,
      tx: {
        ...eip7702,
        authorizationList: [{ address: OTHER_RECIPIENT, chainId: 8453, nonce: 3, ...SIG, yParity: 0 }],
      },
      message: /authorization list is/,
    },
    {
      field: "authorization list on a 1559 intent",
      declared: eip1559,
      tx: { ...eip1559, type: undefined, accessList: undefined, authorizationList: eip7702.authorizationList },
      message: /type is eip7702, attested eip1559/,
    },
    {
      field: "blob versioned hashes",
      declared: eip4844,
      tx: { ...eip4844, blobVersionedHashes: [HASH2] },
      message: /blob versioned hashes are \["0x01cd/,
    },
  ];

  it.each(cases)("refuses a transaction whose $field differs, naming it", async ({ declared, tx, message }) => {
    const intent = serializedIntent(declared);
    const err = await refusal(signerFor(intent).signTransaction(tx));
    expect(err.message).toMatch(/^the action differs from the attested intent: /);
    expect(err.message).toMatch(message);
  });

  it("treats absent and zero alike where the encoding does: value, nonce, access list", async () => {
    const declared: Tx = { chainId: 8453, to: RECIPIENT, type: "eip1559", gas: 21_000n, maxFeePerGas: GWEI };
    const intent = serializedIntent(declared);
    const tx = { ...declared, value: 0n, nonce: 0, accessList: [], maxPriorityFeePerGas: 0n, data: "0x" as Hex };
    const signed = await signerFor(intent).signTransaction(tx);
    expect(parseTransaction(signed)).toMatchObject({ chainId: 8453, to: RECIPIENT, gas: 21_000n, maxFeePerGas: GWEI });
  });

  it("binds a pre-EIP-155 legacy transaction to the declared chain_id", async () => {
    const { chainId: _c, ...noChain } = legacy;
    const intent: Intent = {
      agent: "treasury-bot",
      action: "evm.transaction",
      params: { chain_id: 8453, serialized: serializeTransaction(noChain as TransactionSerializable) },
      context: {},
    };
    // without a chain id the signature would be valid on every chain
    const err = await refusal(signerFor(intent).signTransaction(noChain));
    expect(err.message).toMatch(/chain id is absent, attested 8453/);
    const signed = await signerFor(intent).signTransaction(legacy);
    expect(parseTransaction(signed).chainId).toBe(8453);
  });
});

describe("object intent: declared fields are bound, undeclared kinds refused", () => {
  const declared = evmIntent({
    data: TRANSFER,
    nonce: 7,
    gas: "60000",
    max_fee_per_gas: "2000000000",
    max_priority_fee_per_gas: "1000000000",
  });
  const tx: Tx = { ...common, type: "eip1559", maxFeePerGas: 2n * GWEI, maxPriorityFeePerGas: GWEI };

  it("signs the declared transaction", async () => {
    const signed = await signerFor(declared).signTransaction(tx);
    expect(unsignedFields(parseTransaction(signed))).toEqual(
      unsignedFields(parseTransaction(serializeTransaction(tx as TransactionSerializable))),
    );
  });

  it.each([
    { field: "nonce", over: { nonce: 8 }, message: /nonce is 8, attested 7/ },
    { field: "gas", over: { gas: 30_000_000n }, message: /: gas is 30000000, attested 60000/ },
    { field: "gas (absent)", over: { gas: undefined }, message: /: gas is absent, attested 60000/ },
    { field: "max fee per gas", over: { maxFeePerGas: 10n ** 21n }, message: /max fee per gas is 10{21} wei/ },
    {
      field: "max priority fee per gas",
      over: { maxPriorityFeePerGas: 2n * GWEI },
      message: /max priority fee per gas/,
    },
    { field: "chain id", over: { chainId: 1 }, message: /chain id is 1, attested 8453/ },
    { field: "recipient", over: { to: OTHER_RECIPIENT }, message: /recipient is 0x2222/ },
    { field: "value", over: { value: 1n }, message: /value is 1 wei/ },
    { field: "calldata", over: { data: "0x" as Hex }, message: /calldata is 0x, attested 0xa9059cbb/ },
    {
      field: "authorization list",
      over: { type: "eip7702", authorizationList: eip7702.authorizationList },
      message: /authorization list is .*attested absent/,
    },
    { field: "access list", over: { accessList: eip1559.accessList }, message: /access list is .*attested absent/ },
    { field: "blobs", over: { type: "eip4844", blobVersionedHashes: [HASH], maxFeePerBlobGas: 1n }, message: /blob/ },
    {
      field: "type (legacy)",
      over: { type: "legacy", gasPrice: GWEI, maxFeePerGas: undefined, maxPriorityFeePerGas: undefined },
      message: /type is legacy, attested eip1559/,
    },
    { field: "signature", over: SIG, message: /already carries a signature/ },
  ])("refuses a transaction whose $field differs", async ({ over, message }) => {
    const err = await refusal(signerFor(declared).signTransaction({ ...tx, ...over } as Tx));
    expect(err.message).toMatch(message);
  });

  it("binds gas_price to a legacy-priced transaction", async () => {
    const intent = evmIntent({ gas: "21000", gas_price: "3000000000" });
    const legacyTx: Tx = { chainId: 8453, to: RECIPIENT, value: common.value, gas: 21_000n, gasPrice: 3n * GWEI };
    const as1559 = { ...legacyTx, gasPrice: undefined, maxFeePerGas: 3n * GWEI };
    expect((await refusal(signerFor(intent).signTransaction(as1559))).message).toMatch(
      /type is eip1559, attested legacy/,
    );
    const higher = { ...legacyTx, gasPrice: 4n * GWEI };
    expect((await refusal(signerFor(intent).signTransaction(higher))).message).toMatch(/gas price is 4000000000 wei/);
    expect(parseTransaction(await signerFor(intent).signTransaction(legacyTx))).toMatchObject({ gasPrice: 3n * GWEI });
    // an EIP-2930 transaction with an empty access list is legacy-priced too
    await signerFor(intent).signTransaction({ ...legacyTx, type: "eip2930", accessList: [] });
  });

  it("leaves undeclared fee fields free (the policy asks for them when it caps fees)", async () => {
    const intent = evmIntent();
    const free: Tx = {
      chainId: 8453,
      to: RECIPIENT,
      value: common.value,
      gas: 21_000n,
      maxFeePerGas: 50n * GWEI,
      nonce: 3,
    };
    expect(parseTransaction(await signerFor(intent).signTransaction(free))).toMatchObject({ maxFeePerGas: 50n * GWEI });
  });

  it("binds a declared sender to the signing account", async () => {
    const intent = evmIntent({ from: OTHER_RECIPIENT });
    const err = await refusal(
      signerFor(intent).signTransaction({ chainId: 8453, to: RECIPIENT, value: common.value, gasPrice: 1n }),
    );
    expect(err.message).toMatch(/sender is 0x[0-9a-fA-F]{40}, attested 0x2222/);
  });
});

describe("what is checked is what is signed", () => {
  const intent = evmIntent();
  const tx = (): Tx => ({ chainId: 8453, to: RECIPIENT, value: common.value, gas: 21_000n, maxFeePerGas: GWEI });

  it("signs the checked copy even if the executor changes its transaction while the gate awaits", async () => {
    const attestation = signJws(key, claimsFor(intent));
    const t = tx();
    const signer = gatedAccount(account, gate, {
      attestationFor: () => {
        setTimeout(() => Object.assign(t, { to: OTHER_RECIPIENT, maxFeePerGas: 10n ** 21n }), 0);
        return new Promise((r) => setTimeout(() => r({ attestation, intent }), 5));
      },
    });
    const signed = await signer.signTransaction(t as TransactionSerializable);
    expect(parseTransaction(signed)).toMatchObject({ to: RECIPIENT, maxFeePerGas: GWEI });
  });

  it("refuses a chain serializer that encodes something other than the checked transaction", async () => {
    const evil = () => serializeTransaction({ ...tx(), to: OTHER_RECIPIENT } as TransactionSerializable);
    const signer = signerFor(intent);
    const err = await refusal(signer.signTransaction(tx(), { serializer: evil }));
    expect(err.message).toMatch(/serializer/);
    const honest = (t: TransactionSerializable) => serializeTransaction(t);
    expect(parseTransaction(await signerFor(intent).signTransaction(tx(), { serializer: honest })).to).toBe(RECIPIENT);
  });

  it("still refuses EIP-7702 authorizations and raw hashes outright", async () => {
    const signer = signerFor(intent);
    await expect(signer.signAuthorization({ chainId: 8453, address: RECIPIENT, nonce: 0 })).rejects.toMatchObject({
      code: "missing",
    });
    await expect(signer.sign({ hash: HASH })).rejects.toMatchObject({ code: "missing" });
  });
});

// ---- property: one mutated field of a random valid declared transaction is always refused ----

const addr = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b));
const word = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));
const wei = fc.bigInt({ min: 0n, max: 10n ** 24n });
const accessList = fc.array(fc.record({ address: addr, storageKeys: fc.array(word, { maxLength: 2 }) }), {
  maxLength: 3,
});
const authorization = fc.record({
  address: addr,
  chainId: fc.constantFrom(0, 8453),
  nonce: fc.nat({ max: 1000 }),
  r: word,
  s: word,
  yParity: fc.constantFrom(0, 1),
});

const declaredTx: fc.Arbitrary<Tx> = fc
  .record({
    type: fc.constantFrom("legacy", "eip2930", "eip1559", "eip7702", "eip4844"),
    to: fc.option(addr, { nil: undefined }),
    value: wei,
    data: fc.uint8Array({ maxLength: 40 }).map((b) => bytesToHex(b)),
    nonce: fc.nat({ max: 1_000_000 }),
    gas: fc.bigInt({ min: 1n, max: 30_000_000n }),
    fee: fc.bigInt({ min: 1n, max: 10n ** 12n }),
    tip: fc.bigInt({ min: 0n, max: 10n ** 12n }),
    accessList,
    authorizationList: fc.array(authorization, { minLength: 1, maxLength: 2 }),
    blobVersionedHashes: fc.array(
      word.map((w) => ("0x01" + w.slice(4)) as Hex),
      { minLength: 1, maxLength: 2 },
    ),
    maxFeePerBlobGas: fc.bigInt({ min: 1n, max: 10n ** 9n }),
  })
  .map((r) => {
    const base = { chainId: 8453, type: r.type, value: r.value, data: r.data, nonce: r.nonce, gas: r.gas } as Tx;
    const to = r.type === "eip7702" || r.type === "eip4844" ? (r.to ?? RECIPIENT) : r.to;
    if (to) base.to = to as Hex;
    if (r.type === "legacy") return { ...base, gasPrice: r.fee };
    if (r.type === "eip2930") return { ...base, gasPrice: r.fee, accessList: r.accessList };
    const fees = { maxFeePerGas: r.fee, maxPriorityFeePerGas: r.tip > r.fee ? r.fee : r.tip, accessList: r.accessList };
    if (r.type === "eip1559") return { ...base, ...fees };
    if (r.type === "eip7702") return { ...base, ...fees, authorizationList: r.authorizationList };
    return { ...base, ...fees, blobVersionedHashes: r.blobVersionedHashes, maxFeePerBlobGas: r.maxFeePerBlobGas };
  });

type Mutation = { field: RegExp; apply: (t: Tx) => Tx | undefined };
const bump = (k: string, field: RegExp): Mutation => ({
  field,
  apply: (t) =>
    t[k] === undefined
      ? undefined
      : { ...t, [k]: typeof t[k] === "number" ? (t[k] as number) + 1 : (t[k] as bigint) + 1n },
});
const MUTATIONS: Mutation[] = [
  bump("chainId", /chain id/),
  bump("nonce", /nonce/),
  bump("gas", /: gas is/),
  bump("value", /value/),
  bump("gasPrice", /gas price/),
  bump("maxFeePerGas", /max fee per gas/),
  bump("maxPriorityFeePerGas", /max priority fee per gas/),
  bump("maxFeePerBlobGas", /max fee per blob gas/),
  { field: /: gas is absent/, apply: (t) => ({ ...t, gas: undefined }) },
  { field: /recipient/, apply: (t) => ({ ...t, to: t.to?.toLowerCase() === RECIPIENT ? OTHER_RECIPIENT : RECIPIENT }) },
  { field: /recipient/, apply: (t) => (t.to ? { ...t, to: undefined } : undefined) },
  { field: /calldata/, apply: (t) => ({ ...t, data: ((t.data ?? "0x") + "00") as Hex }) },
  {
    field: /type is eip2930, attested legacy/,
    apply: (t) => (t.type === "legacy" ? { ...t, type: "eip2930", accessList: [] } : undefined),
  },
  {
    field: /type is legacy, attested eip2930/,
    apply: (t) =>
      t.type === "eip2930" && !t.accessList?.length ? { ...t, type: "legacy", accessList: undefined } : undefined,
  },
  {
    field: /access list/,
    apply: (t) =>
      t.type === "legacy"
        ? undefined
        : { ...t, accessList: [...(t.accessList ?? []), { address: RECIPIENT, storageKeys: [] }] },
  },
  {
    field: /authorization list/,
    apply: (t) =>
      t.authorizationList
        ? { ...t, authorizationList: t.authorizationList.map((a, i) => (i === 0 ? { ...a, nonce: a.nonce + 1 } : a)) }
        : undefined,
  },
  {
    field: /authorization list/,
    apply: (t) =>
      t.authorizationList
        ? { ...t, authorizationList: [...t.authorizationList, { ...t.authorizationList[0]!, address: RECIPIENT }] }
        : undefined,
  },
  {
    field: /blob versioned hashes/,
    apply: (t) => (t.blobVersionedHashes ? { ...t, blobVersionedHashes: [...t.blobVersionedHashes, HASH] } : undefined),
  },
];

describe("property: a random valid declared transaction with one field changed is refused", () => {
  it("through the real wrapper", async () => {
    await fc.assert(
      fc.asyncProperty(declaredTx, fc.nat(MUTATIONS.length - 1), async (declared, pick) => {
        const intent = serializedIntent(declared);
        // the first applicable mutation from `pick` on
        let mutated: Tx | undefined;
        let m: Mutation | undefined;
        for (let i = 0; i < MUTATIONS.length && !mutated; i++) {
          m = MUTATIONS[(pick + i) % MUTATIONS.length]!;
          mutated = m.apply(declared);
        }
        const err = await refusal(signerFor(intent).signTransaction(mutated!));
        expect(err.message).toMatch(m!.field);
        // and the unchanged declaration is signed, to the same fields
        const parsed = parseTransaction(intent.params.serialized as Hex);
        const signed = await signerFor(intent).signTransaction(declared);
        expect(unsignedFields(parseTransaction(signed))).toEqual(unsignedFields(parsed));
      }),
      { numRuns: 300 },
    );
  });

  it("the pure check agrees (no wrapper)", () => {
    fc.assert(
      fc.property(declaredTx, fc.constantFrom(...MUTATIONS), (declared, m) => {
        const mutated = m.apply(declared);
        if (!mutated) return;
        const intent = serializedIntent(declared);
        expect(() => checkTransactionMatchesIntent("j", declared, intent)).not.toThrow();
        expect(() => checkTransactionMatchesIntent("j", mutated, intent)).toThrow(m.field);
      }),
      { numRuns: 500 },
    );
  });
});
