// gatedAccount with a local account and a real viem wallet client (signing only: a custom transport answers the few
// RPC calls locally and captures the raw transaction instead of broadcasting it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createWalletClient,
  custom,
  keccak256,
  parseTransaction,
  recoverTransactionAddress,
  type Hex,
  type TransactionSerializable,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base } from "viem/chains";
import type { Intent } from "../../protocol/index.ts";
import {
  createGate,
  GateError,
  gatedAccount,
  type AttestedIntent,
  type Gate,
  type SigningRequest,
} from "../../executor-gate/index.ts";
import { evmIntent, OTHER_RECIPIENT, RECIPIENT } from "./intents.ts";
import { SIDECAR_START_MS, startSidecar, type TestSidecar } from "./sidecar.ts";
import { testReplay } from "./test-replay.ts";

// A well-known test key (anvil account 0); it never holds funds on any chain we talk to (we talk to none).
const account = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

let sc: TestSidecar;
let gate: Gate;
beforeAll(async () => {
  sc = await startSidecar();
  gate = createGate({ replay: testReplay(), jwks: sc.jwksUrl });
}, SIDECAR_START_MS);
afterAll(async () => {
  await sc?.close();
});

/** The executor's side: the attestation the agent obtained for what it declared, handed to the signer. */
function attestations() {
  let current: AttestedIntent | undefined;
  const seen: SigningRequest[] = [];
  return {
    async declare(intent: Intent) {
      current = { attestation: (await sc.attest(intent)).token, intent };
    },
    attestationFor: (req: SigningRequest) => {
      seen.push(req);
      return current;
    },
    seen,
  };
}

function wallet(a: ReturnType<typeof attestations>) {
  const sent: Hex[] = [];
  const transport = custom({
    async request({ method, params }: { method: string; params?: unknown }) {
      switch (method) {
        case "eth_chainId":
          return "0x2105"; // 8453, Base
        case "eth_sendRawTransaction": {
          const raw = (params as [Hex])[0];
          sent.push(raw);
          return keccak256(raw);
        }
        case "eth_getTransactionCount":
          return "0x0";
        case "eth_estimateGas":
          return "0x5208";
        case "eth_maxPriorityFeePerGas":
        case "eth_gasPrice":
          return "0x3b9aca00";
        case "eth_getBlockByNumber":
          return {
            baseFeePerGas: "0x3b9aca00",
            number: "0x1",
            timestamp: "0x0",
            hash: "0x" + "00".repeat(32),
            transactions: [],
          };
        default:
          throw new Error(`unexpected RPC ${method}`);
      }
    },
  });
  const client = createWalletClient({
    account: gatedAccount(account, gate, { attestationFor: a.attestationFor }),
    chain: base,
    transport,
  });
  return { client, sent };
}

const fees = { gas: 21000n, nonce: 0, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };

function gateCode(e: unknown): string | undefined {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) if (c instanceof GateError) return c.code;
  return undefined;
}

describe("gatedAccount", () => {
  it("signs and sends an attested transaction through a wallet client", async () => {
    const a = attestations();
    await a.declare(evmIntent());
    const { client, sent } = wallet(a);
    const hash = await client.sendTransaction({ to: RECIPIENT, value: 1_000_000_000_000_000n, ...fees });
    expect(sent).toHaveLength(1);
    expect(hash).toBe(keccak256(sent[0]!));
    const tx = parseTransaction(sent[0]!);
    expect(tx).toMatchObject({ chainId: 8453, to: RECIPIENT, value: 1_000_000_000_000_000n });
    expect(await recoverTransactionAddress({ serializedTransaction: sent[0]! as never })).toBe(account.address);
    expect(a.seen[0]!.kind).toBe("transaction");
  });

  it.each([
    { name: "one wei more", tx: { to: RECIPIENT, value: 1_000_000_000_000_001n } },
    { name: "another recipient", tx: { to: OTHER_RECIPIENT, value: 1_000_000_000_000_000n } },
    { name: "calldata added", tx: { to: RECIPIENT, value: 1_000_000_000_000_000n, data: "0xa9059cbb" as Hex } },
  ])("refuses a transaction with $name and sends nothing", async ({ tx }) => {
    const a = attestations();
    await a.declare(evmIntent());
    const { client, sent } = wallet(a);
    const err = await client.sendTransaction({ ...tx, ...fees }).catch((e: unknown) => e);
    expect(gateCode(err)).toBe("digest_mismatch");
    expect(sent).toHaveLength(0);
  });

  it("binds the declared gas and fees: a 1000-ETH fee or a delegation on the attested call is refused", async () => {
    const a = attestations();
    await a.declare(
      evmIntent({ nonce: 0, gas: "21000", max_fee_per_gas: "2000000000", max_priority_fee_per_gas: "1000000000" }),
    );
    const signer = gatedAccount(account, gate, { attestationFor: a.attestationFor });
    const tx: TransactionSerializable = { chainId: 8453, to: RECIPIENT, value: 1_000_000_000_000_000n, ...fees };
    await expect(signer.signTransaction({ ...tx, maxFeePerGas: 10n ** 21n / 21000n })).rejects.toThrow(
      /max fee per gas is 47619047619047619 wei, attested 2000000000 wei/,
    );
    await expect(
      signer.signTransaction({
        ...tx,
        authorizationList: [
          {
            address: OTHER_RECIPIENT,
            chainId: 0,
            nonce: 1,
            r: `0x${"11".repeat(32)}`,
            s: `0x${"22".repeat(32)}`,
            yParity: 0,
          },
        ],
      } as TransactionSerializable),
    ).rejects.toThrow(/authorization list is .*attested absent/);
    await expect(
      signer.signTransaction({ ...tx, accessList: [{ address: OTHER_RECIPIENT, storageKeys: [] }] }),
    ).rejects.toThrow(/access list is .*attested absent/);
    const { client, sent } = wallet(a);
    await client.sendTransaction({ to: RECIPIENT, value: 1_000_000_000_000_000n, ...fees });
    expect(parseTransaction(sent[0]!)).toMatchObject({ gas: 21000n, maxFeePerGas: 2_000_000_000n, nonce: 0 });
  });

  it("refuses a transaction it has no attestation for", async () => {
    const { client, sent } = wallet(attestations());
    const err = await client.sendTransaction({ to: RECIPIENT, value: 1n, ...fees }).catch((e: unknown) => e);
    expect(gateCode(err)).toBe("missing");
    expect(sent).toHaveLength(0);
  });

  it("signs an attested transaction once: the same attestation cannot sign it again", async () => {
    const a = attestations();
    await a.declare(evmIntent());
    const signer = gatedAccount(account, gate, { attestationFor: a.attestationFor });
    const tx: TransactionSerializable = {
      chainId: 8453,
      to: RECIPIENT,
      value: 1_000_000_000_000_000n,
      type: "eip1559",
      ...fees,
    };
    const signed = await signer.signTransaction(tx);
    expect(await recoverTransactionAddress({ serializedTransaction: signed as never })).toBe(account.address);
    await expect(signer.signTransaction(tx)).rejects.toMatchObject({ code: "replayed" });
  });

  it("signs attested typed data and refuses other typed data", async () => {
    const typedData = {
      domain: { name: "Invoices", version: "1", chainId: 8453, verifyingContract: RECIPIENT },
      types: {
        Payment: [
          { name: "invoice", type: "string" },
          { name: "amount", type: "uint256" },
        ],
      },
      primaryType: "Payment",
      message: { invoice: "42", amount: "1000" },
    } as const;
    const intent: Intent = {
      agent: "treasury-bot",
      action: "evm.typed_data",
      params: { chain_id: 8453, typed_data: typedData },
      context: {},
    };
    const a = attestations();
    await a.declare(intent);
    const signer = gatedAccount(account, gate, { attestationFor: a.attestationFor });
    // viem callers pass bigints; the attested form carries decimal strings: the same data
    const asSigned = { ...typedData, message: { invoice: "42", amount: 1000n } };
    await expect(
      signer.signTypedData({ ...asSigned, message: { invoice: "42", amount: 1001n } }),
    ).rejects.toMatchObject({ code: "digest_mismatch" });
    const sig = await signer.signTypedData(asSigned);
    expect(sig).toBe(await account.signTypedData(asSigned));
  });

  it("refuses raw hash signing, EIP-7702 authorizations and messages", async () => {
    const signer = gatedAccount(account, gate, { attestationFor: () => undefined });
    await expect(signer.sign!({ hash: keccak256("0x01") })).rejects.toBeInstanceOf(GateError);
    await expect(signer.signAuthorization!({ chainId: 8453, address: RECIPIENT, nonce: 0 })).rejects.toBeInstanceOf(
      GateError,
    );
    await expect(signer.signMessage({ message: "login" })).rejects.toBeInstanceOf(GateError);
  });
});
