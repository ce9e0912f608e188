// A viem account wrapper: `signTransaction` and `signTypedData` (and so a wallet client's `sendTransaction`) run only
// for attested actions. Raw `sign`, `signAuthorization` (EIP-7702) and `signMessage` are refused outright: they
// could sign anything (a transaction hash, a delegation) without the gate seeing what it is.
import {
  serializeTransaction,
  type Hex,
  type LocalAccount,
  type TransactionSerializable,
  type TypedDataDefinition,
} from "viem";
import { canonicalize } from "@intent-sidecar/protocol/jcs";
import { checkTransactionMatchesIntent, snapshotTransaction, type IntentInput, type TxLike } from "./binding.ts";
import { GateError } from "./errors.ts";
import type { Gate } from "./gate.ts";

export type SigningRequest =
  | { kind: "transaction"; transaction: TransactionSerializable }
  | { kind: "typed_data"; typedData: TypedDataDefinition };

/** The attestation for a signing request and the intent the agent declared for it (the gate recomputes its digest
 * and checks the transaction against it). Return undefined when there is none: the signature is refused. */
export interface AttestedIntent {
  attestation: string;
  intent: IntentInput;
}

export interface GatedAccountOptions {
  attestationFor: (request: SigningRequest) => AttestedIntent | undefined | Promise<AttestedIntent | undefined>;
  /** Allow EIP-191 `signMessage` (off by default: a message signature can authorize things, e.g. logins). */
  allowSignMessage?: boolean;
}

function refused(what: string): never {
  throw new GateError(
    "missing",
    `${what} is refused: the gated account signs only attested transactions and typed data`,
  );
}

/** Numbers and bigints as decimal strings, hex strings lower-cased: so `1000n`, `1000` and `"1000"` compare equal,
 * and so do checksummed and lower-case addresses. */
function normalize(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number") return v.toString();
  if (typeof v === "string") return /^0x[0-9a-fA-F]*$/.test(v) ? v.toLowerCase() : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

function typedDataShape(td: { domain?: unknown; types?: unknown; primaryType?: unknown; message?: unknown }): string {
  const types = { ...((td.types ?? {}) as Record<string, unknown>) };
  delete types.EIP712Domain; // viem derives it from the domain; the intent may or may not list it
  return canonicalize(
    normalize({ domain: td.domain ?? {}, types, primaryType: td.primaryType, message: td.message ?? {} }),
  );
}

export function gatedAccount<A extends LocalAccount>(account: A, gate: Gate, opts: GatedAccountOptions): A {
  async function attested(request: SigningRequest): Promise<AttestedIntent> {
    const a = await opts.attestationFor(request);
    if (!a?.attestation)
      throw new GateError(
        "missing",
        `no attestation for this ${request.kind === "transaction" ? "transaction" : "typed data"}`,
      );
    return a;
  }

  const wrapped = {
    ...account,
    async signTransaction(transaction: TransactionSerializable, options?: { serializer?: unknown }) {
      // What is checked is what is signed: a private copy of the signable fields, read once, so neither getters nor
      // changes made while the gate awaits can swap the transaction after the check.
      const tx = snapshotTransaction(transaction);
      const { attestation, intent } = await attested({ kind: "transaction", transaction });
      // Verify (signature, binding of the declared intent, unused), then the tx against that intent, then consume.
      const claims = await gate.verify(attestation, intent);
      checkTransactionMatchesIntent(claims.jti, tx as TxLike, intent, account.address);
      // The inner account signs with viem's own serializer, the encoding the check reasons about. A chain serializer
      // (a wallet client passes e.g. the OP stack one) must encode the executor's transaction to the same bytes, or it
      // would sign something the gate never saw (a fee currency, a deposit, anything a custom function returns).
      if (typeof options?.serializer === "function") {
        const signable = (t: TransactionSerializable) => (t.type === "eip4844" ? { ...t, sidecars: false } : t);
        let theirs: unknown;
        try {
          theirs = await (options.serializer as (t: unknown) => unknown)(signable(transaction));
        } catch (e) {
          theirs = e;
        }
        const ours = serializeTransaction(signable(tx) as TransactionSerializable);
        if (typeof theirs !== "string" || theirs.toLowerCase() !== ours.toLowerCase()) {
          throw new GateError(
            "digest_mismatch",
            "the action differs from the attested intent: the chain's serializer encodes the transaction differently from the attested one",
            { jti: claims.jti },
          );
        }
      }
      await gate.consume(attestation, intent);
      return (account.signTransaction as (t: unknown) => Promise<Hex>)(tx);
    },
    async signTypedData(typedData: TypedDataDefinition) {
      const { attestation, intent } = await attested({ kind: "typed_data", typedData });
      const claims = await gate.verify(attestation, intent);
      const declared = (intent.params as { typed_data?: Record<string, unknown> }).typed_data;
      if (
        intent.action !== "evm.typed_data" ||
        !declared ||
        typedDataShape(declared) !== typedDataShape(typedData as never)
      ) {
        throw new GateError("digest_mismatch", "the typed data differs from the attested typed data", {
          jti: claims.jti,
        });
      }
      await gate.consume(attestation, intent);
      return (account.signTypedData as (p: unknown) => Promise<Hex>)(typedData);
    },
    async signMessage(args: Parameters<A["signMessage"]>[0]) {
      if (!opts.allowSignMessage) refused("signMessage");
      return account.signMessage(args);
    },
    async sign() {
      refused("raw hash signing");
    },
    async signAuthorization() {
      refused("EIP-7702 authorization signing");
    },
  };
  return wrapped as unknown as A;
}
