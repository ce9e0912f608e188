// Bindings the real test sidecar cannot issue here (its network engine decides http.request): the http binding and
// the serialized-transaction form, with tokens minted by a test key the gate pins.
import { describe, expect, it } from "vitest";
import { serializeTransaction, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Intent } from "../../protocol/index.ts";
import { AUDIENCE_PROXY } from "../../protocol/index.ts";
import { checkTransactionMatchesIntent, createGate, gatedAccount, GateError } from "../../executor-gate/index.ts";
import { claimsFor, newKey, signJws } from "./mint.ts";
import { OTHER_RECIPIENT, RECIPIENT } from "./intents.ts";
import { testReplay } from "./test-replay.ts";

const key = newKey();

const http: Intent = {
  agent: "web-bot",
  action: "http.request",
  params: { method: "POST", url: "https://api.example.com/v1/payments", body: { amount: "10" } },
  context: {},
};

describe("http binding", () => {
  const gate = createGate({ replay: testReplay(), jwks: [key.publicJwk], audience: AUDIENCE_PROXY });
  const token = () => signJws(key, claimsFor(http, { aud: AUDIENCE_PROXY }));

  it.each([
    { name: "another method", params: { method: "PUT" }, message: /method is PUT, attested POST/ },
    {
      name: "another url",
      params: { url: "https://api.example.com/v1/refunds" },
      message: /url is https:\/\/api.example.com\/v1\/refunds/,
    },
    { name: "another body", params: { body: { amount: "1000" } }, message: /request body differs/ },
  ])("refuses $name", async ({ params, message }) => {
    const err = await gate.verify(token(), { ...http, params: { ...http.params, ...params } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).code).toBe("digest_mismatch");
    expect((err as GateError).message).toMatch(message);
  });

  it("accepts the attested request", async () => {
    expect((await gate.verify(token(), http)).sub).toBe("web-bot");
  });
});

describe("serialized transactions", () => {
  const unsigned = serializeTransaction({
    chainId: 8453,
    to: RECIPIENT,
    value: 1_000_000_000_000_000n,
    type: "eip1559",
    nonce: 0,
    gas: 21000n,
    maxFeePerGas: 2n,
    maxPriorityFeePerGas: 1n,
  });
  const intent: Intent = {
    agent: "treasury-bot",
    action: "evm.transaction",
    params: { serialized: unsigned },
    context: {},
  };

  it("binds the transaction parsed from the declared serialized form, every field of it", () => {
    const tx = {
      chainId: 8453,
      to: RECIPIENT as Hex,
      value: 1_000_000_000_000_000n,
      type: "eip1559",
      nonce: 0,
      gas: 21000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    };
    expect(() => checkTransactionMatchesIntent("j", tx, intent)).not.toThrow();
    expect(() => checkTransactionMatchesIntent("j", { ...tx, to: OTHER_RECIPIENT }, intent)).toThrow(/recipient/);
    expect(() => checkTransactionMatchesIntent("j", { ...tx, value: tx.value + 1n }, intent)).toThrow(/value/);
    expect(() => checkTransactionMatchesIntent("j", { ...tx, maxFeePerGas: 10n ** 21n }, intent)).toThrow(
      /max fee per gas is 10{21} wei, attested 2 wei/,
    );
    // the fields the old check ignored: a missing gas limit is not the declared one
    expect(() => checkTransactionMatchesIntent("j", { ...tx, gas: undefined }, intent)).toThrow(
      /gas is absent, attested 21000/,
    );
  });

  it("lets gatedAccount sign the declared serialized transaction", async () => {
    const gate = createGate({ replay: testReplay(), jwks: [key.publicJwk] });
    const attestation = signJws(key, claimsFor(intent));
    const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    const signer = gatedAccount(account, gate, { attestationFor: () => ({ attestation, intent }) });
    const signed = await signer.signTransaction({
      chainId: 8453,
      to: RECIPIENT,
      value: 1_000_000_000_000_000n,
      type: "eip1559",
      nonce: 0,
      gas: 21000n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
    });
    expect(signed.startsWith("0x02")).toBe(true);
  });
});
