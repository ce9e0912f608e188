// Binding an attestation to the action about to run: the intent digest is recomputed from the intent the executor
// is about to execute, and the action-specific bindings (evm, http) are compared field by field so a mismatch
// message names what changed (one wei more, another recipient, another tool argument...).
import { getTransactionType, parseTransaction, serializeTransaction, type Hex } from "viem";
import { intentClaim, evmTransactionFields, type AttestationClaims } from "@intent-sidecar/protocol/attestation";
import type { Intent } from "@intent-sidecar/protocol/intent";
import { GateError } from "./errors.ts";

/** The part of an intent the digest covers. `context` defaults to `{}` as in the sidecar. */
export type IntentInput = Pick<Intent, "agent" | "action" | "params" | "cost"> & { context?: Record<string, unknown> };

function mismatch(jti: string, what: string): GateError {
  return new GateError("digest_mismatch", `the action differs from the attested intent: ${what}`, { jti });
}

/** Throws `digest_mismatch` unless `intent` is exactly what `claims` attest. The bindings are compared first only
 * to name what changed; the decision rests on the recomputed digest. */
export function checkBinding(claims: AttestationClaims, intent: IntentInput): void {
  const jti = claims.jti;
  if (!intent || typeof intent !== "object" || typeof intent.action !== "string") {
    throw new GateError("digest_mismatch", "no intent was given to bind the attestation to", { jti });
  }
  let expected;
  try {
    expected = intentClaim({ ...intent, context: intent.context ?? {} } as Intent);
  } catch (e) {
    throw new GateError(
      "digest_mismatch",
      `the intent cannot be digested: ${e instanceof Error ? e.message : String(e)}`,
      { jti },
    );
  }
  const attested = claims.intent;
  if (attested.action !== expected.action)
    throw mismatch(jti, `action is "${expected.action}", attested "${attested.action}"`);
  if (attested.evm || expected.evm) {
    const a = attested.evm;
    const e = expected.evm;
    if (!a || !e) throw mismatch(jti, "evm binding missing");
    if (a.chain_id !== e.chain_id) throw mismatch(jti, `chain id is ${e.chain_id}, attested ${a.chain_id}`);
    if (a.to !== e.to) throw mismatch(jti, `recipient is ${e.to}, attested ${a.to}`);
    if (a.value !== e.value) throw mismatch(jti, `value is ${e.value} wei, attested ${a.value} wei`);
    if (a.selector !== e.selector) throw mismatch(jti, `calldata selector is ${e.selector}, attested ${a.selector}`);
  }
  if (attested.http || expected.http) {
    const a = attested.http;
    const e = expected.http;
    if (!a || !e) throw mismatch(jti, "http binding missing");
    if (a.method !== e.method) throw mismatch(jti, `method is ${e.method}, attested ${a.method}`);
    if (a.url !== e.url) throw mismatch(jti, `url is ${e.url}, attested ${a.url}`);
    if (a.body_digest !== e.body_digest) throw mismatch(jti, "request body differs from the attested body");
  }
  if (intent.agent !== claims.sub) throw mismatch(jti, `agent is "${intent.agent}", attested "${claims.sub}"`);
  if (attested.digest !== expected.digest) {
    throw mismatch(jti, `intent digest ${expected.digest} differs from the attested ${attested.digest}`);
  }
}

/** An EIP-7702 authorization as viem carries it. */
export interface AuthorizationLike {
  address?: string;
  /** viem's older name for `address`. */
  contractAddress?: string;
  chainId?: number;
  nonce?: number;
  r?: string;
  s?: string;
  v?: bigint;
  yParity?: number;
}

/** A transaction as an executor is about to sign it (viem's `TransactionSerializable`, loosely). */
export interface TxLike {
  type?: string;
  chainId?: number;
  to?: string | null;
  value?: bigint;
  data?: Hex;
  nonce?: number;
  gas?: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  maxFeePerBlobGas?: bigint;
  accessList?: readonly { address: string; storageKeys: readonly string[] }[];
  authorizationList?: readonly AuthorizationLike[];
  blobVersionedHashes?: readonly string[];
  blobs?: readonly unknown[];
  sidecars?: unknown;
  kzg?: unknown;
  r?: string;
  s?: string;
  v?: bigint;
  yParity?: number;
}

/** Every key of a transaction viem's serializer reads; nothing else of the executor's object is signed. */
const TX_KEYS = [
  "type",
  "chainId",
  "to",
  "value",
  "data",
  "nonce",
  "gas",
  "gasPrice",
  "maxFeePerGas",
  "maxPriorityFeePerGas",
  "maxFeePerBlobGas",
  "accessList",
  "authorizationList",
  "blobVersionedHashes",
  "blobs",
  "sidecars",
  "kzg",
  "r",
  "s",
  "v",
  "yParity",
] as const satisfies readonly (keyof TxLike)[];

const copyItem = (x: unknown): unknown =>
  x && typeof x === "object" && !(x instanceof Uint8Array)
    ? Array.isArray(x)
      ? x.map(copyItem)
      : Object.fromEntries(Object.entries(x).map(([k, v]) => [k, copyItem(v)]))
    : x;

/** A private copy of the transaction's signable fields, each read exactly once: what is checked is what is signed,
 * even if the executor's object has getters or is changed while the gate awaits its replay store. */
export function snapshotTransaction<T extends object>(tx: T): T {
  const out: Record<string, unknown> = {};
  for (const k of TX_KEYS) {
    const v = (tx as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out[k] = k === "kzg" ? v : copyItem(v); // kzg is a pair of functions, not data
  }
  return out as T;
}

const normData = (d: string | undefined | null): string => (d ?? "0x").toLowerCase();

/** A quantity as a bigint: absent is 0 (RLP encodes both as the empty string). Undefined on a non-integer. */
function quantity(v: unknown): bigint | undefined {
  if (v === undefined || v === null) return 0n;
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^(0x[0-9a-fA-F]*|0|[1-9][0-9]*)$/.test(v)) return v === "0x" ? 0n : BigInt(v);
  return undefined;
}

const show = (v: unknown, unit = ""): string =>
  v === undefined || v === null ? "absent" : `${typeof v === "string" ? v : String(v)}${unit}`;

const showData = (d: string | undefined | null): string => {
  const n = normData(d);
  const bytes = (n.length - 2) / 2;
  return bytes <= 36 ? n : `${n.slice(0, 74)}… (${bytes} bytes)`;
};

type Check = (field: string, got: unknown, want: unknown, unit?: string) => void;

function checker(jti: string): Check {
  return (field, got, want, unit = "") => {
    const g = quantity(got);
    const w = quantity(want);
    if (g === undefined || w === undefined || g !== w)
      throw mismatch(jti, `${field} is ${show(got, unit)}, attested ${show(want, unit)}`);
  };
}

function normAccessList(list: unknown): string {
  if (list === undefined || list === null) return "[]";
  if (!Array.isArray(list)) return JSON.stringify(String(list));
  return JSON.stringify(
    list.map((e: { address?: unknown; storageKeys?: unknown }) => [
      String(e?.address ?? "").toLowerCase(),
      Array.isArray(e?.storageKeys) ? e.storageKeys.map((k) => String(k).toLowerCase()) : null,
    ]),
  );
}

/** An authorization tuple as it is encoded: chain id, delegate, nonce and, if signed, y parity, r and s by value. */
function normAuthorizationList(list: unknown): string {
  if (list === undefined || list === null) return "[]";
  if (!Array.isArray(list)) return JSON.stringify(String(list));
  return JSON.stringify(
    list.map((a: AuthorizationLike) => {
      const signed = a?.r !== undefined && a?.s !== undefined && (a?.v !== undefined || a?.yParity !== undefined);
      const yParity = a?.yParity ?? (a?.v === 0n || a?.v === 27n ? 0 : 1);
      return [
        String(a?.address ?? a?.contractAddress ?? "").toLowerCase(),
        String(quantity(a?.chainId) ?? a?.chainId),
        String(quantity(a?.nonce) ?? a?.nonce),
        ...(signed ? [String(yParity), String(quantity(a.r) ?? a.r), String(quantity(a.s) ?? a.s)] : []),
      ];
    }),
  );
}

function normHashes(list: unknown): string {
  if (list === undefined || list === null) return "[]";
  if (!Array.isArray(list)) return JSON.stringify(String(list));
  return JSON.stringify(list.map((h) => String(h).toLowerCase()));
}

const showList = (list: unknown): string =>
  list === undefined || list === null
    ? "absent"
    : JSON.stringify(list, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

function isEmpty(list: unknown): boolean {
  return list === undefined || list === null || (Array.isArray(list) && list.length === 0);
}

/** The type viem serializes the transaction as; a transaction whose type cannot be inferred is refused. */
function typeOf(jti: string, tx: TxLike): string {
  try {
    return String(getTransactionType(tx as never));
  } catch {
    throw mismatch(jti, "type cannot be inferred (no type, no fee fields), attested a typed transaction");
  }
}

/** What viem signs for a transaction: the payload without the signature and, for blob transactions, without the
 * network wrapper (sidecars). */
function signingPayload(tx: TxLike, type: string): Hex {
  const { r: _r, s: _s, v: _v, yParity: _y, ...unsigned } = tx;
  return serializeTransaction({ ...unsigned, type, ...(type === "eip4844" ? { sidecars: false } : {}) } as never);
}

/** Throws `digest_mismatch` unless the transaction is exactly the one the (already digest-checked) intent declares.
 * `sender`, when given, is the address that will sign; it must be the intent's `from` when one is declared.
 *
 * Serialized intents bind every field of the declared transaction. Object intents bind chain id, recipient, value,
 * calldata and each declared nonce / gas / fee field; undeclared fee fields are free, and what the object form cannot
 * declare (access lists, EIP-7702 authorizations, blobs, other types) must be absent. */
export function checkTransactionMatchesIntent(jti: string, tx: TxLike, intent: IntentInput, sender?: string): void {
  if (intent.action !== "evm.transaction")
    throw mismatch(jti, `a transaction needs an evm.transaction intent, got "${intent.action}"`);
  if (!tx || typeof tx !== "object") throw mismatch(jti, "no transaction was given");
  const params = intent.params as Record<string, unknown>;
  if (typeof params.from === "string" && sender !== undefined && params.from.toLowerCase() !== sender.toLowerCase())
    throw mismatch(jti, `sender is ${sender}, attested ${params.from}`);
  if (tx.r !== undefined || tx.s !== undefined || tx.v !== undefined || tx.yParity !== undefined)
    throw mismatch(jti, "the transaction already carries a signature (r, s, v, yParity), attested an unsigned one");
  if (typeof params.serialized === "string") checkSerialized(jti, tx, params);
  else checkObject(jti, tx, params);
}

function checkCommon(
  jti: string,
  tx: TxLike,
  want: { chainId: number | undefined; to: string | null | undefined; value: unknown; data: string | undefined },
): void {
  if (tx.chainId === undefined || tx.chainId !== want.chainId)
    throw mismatch(jti, `chain id is ${show(tx.chainId)}, attested ${show(want.chainId)}`);
  const to = (tx.to ?? "").toLowerCase();
  const wantTo = (want.to ?? "").toLowerCase();
  if ((to === "0x" ? "" : to) !== (wantTo === "0x" ? "" : wantTo))
    throw mismatch(
      jti,
      `recipient is ${to && to !== "0x" ? tx.to : "absent (contract creation)"}, attested ${wantTo && wantTo !== "0x" ? want.to : "absent (contract creation)"}`,
    );
  checker(jti)("value", tx.value, want.value, " wei");
  if (normData(tx.data) !== normData(want.data))
    throw mismatch(jti, `calldata is ${showData(tx.data)}, attested ${showData(want.data)}`);
}

function checkSerialized(jti: string, tx: TxLike, params: Record<string, unknown>): void {
  let declared: TxLike;
  try {
    declared = parseTransaction(params.serialized as Hex) as TxLike;
  } catch (e) {
    throw mismatch(jti, `the attested serialized transaction cannot be parsed: ${e instanceof Error ? e.message : e}`);
  }
  const declaredChain = typeof params.chain_id === "number" ? params.chain_id : undefined;
  if (declared.chainId !== undefined && declaredChain !== undefined && declared.chainId !== declaredChain)
    throw mismatch(
      jti,
      `the attested chain_id ${declaredChain} differs from its serialized chain id ${declared.chainId}`,
    );
  const want: TxLike = { ...declared, chainId: declared.chainId ?? declaredChain };

  const type = typeOf(jti, tx);
  const wantType = typeOf(jti, want);
  if (type !== wantType) throw mismatch(jti, `type is ${type}, attested ${wantType}`);
  checkCommon(jti, tx, { chainId: want.chainId, to: want.to, value: want.value, data: want.data });
  const check = checker(jti);
  check("nonce", tx.nonce, want.nonce);
  check("gas", tx.gas, want.gas);
  check("gas price", tx.gasPrice, want.gasPrice, " wei");
  check("max fee per gas", tx.maxFeePerGas, want.maxFeePerGas, " wei");
  check("max priority fee per gas", tx.maxPriorityFeePerGas, want.maxPriorityFeePerGas, " wei");
  check("max fee per blob gas", tx.maxFeePerBlobGas, want.maxFeePerBlobGas, " wei");
  if (normAccessList(tx.accessList) !== normAccessList(want.accessList))
    throw mismatch(jti, `access list is ${showList(tx.accessList)}, attested ${showList(want.accessList)}`);
  if (normAuthorizationList(tx.authorizationList) !== normAuthorizationList(want.authorizationList))
    throw mismatch(
      jti,
      `authorization list is ${showList(tx.authorizationList)}, attested ${showList(want.authorizationList)}`,
    );
  if (normHashes(tx.blobVersionedHashes) !== normHashes(want.blobVersionedHashes))
    throw mismatch(
      jti,
      `blob versioned hashes are ${showList(tx.blobVersionedHashes)}, attested ${showList(want.blobVersionedHashes)}`,
    );
  // Backstop: what will be signed must encode to the very bytes that were attested (any field not named above).
  let got: Hex;
  try {
    got = signingPayload(tx, type);
  } catch (e) {
    throw mismatch(jti, `the transaction cannot be serialized: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
  }
  const expected = signingPayload(want, wantType);
  if (got.toLowerCase() !== expected.toLowerCase())
    throw mismatch(jti, `serialized transaction is ${showData(got)}, attested ${showData(expected)}`);
}

const OBJECT_TYPES = new Set(["legacy", "eip2930", "eip1559"]);

function checkObject(jti: string, tx: TxLike, params: Record<string, unknown>): void {
  const want = evmTransactionFields(params);
  checkCommon(jti, tx, { chainId: want.chain_id, to: want.to, value: want.value, data: want.data });
  // The object form cannot declare these, so the policy never saw them: they must be absent.
  if (!isEmpty(tx.authorizationList))
    throw mismatch(jti, `authorization list is ${showList(tx.authorizationList)}, attested absent`);
  if (!isEmpty(tx.accessList)) throw mismatch(jti, `access list is ${showList(tx.accessList)}, attested absent`);
  if (!isEmpty(tx.blobVersionedHashes) || !isEmpty(tx.blobs) || !isEmpty(tx.sidecars || undefined))
    throw mismatch(jti, "blobs are present, attested absent");
  if (tx.maxFeePerBlobGas !== undefined)
    throw mismatch(jti, `max fee per blob gas is ${show(tx.maxFeePerBlobGas, " wei")}, attested absent`);
  const type = typeOf(jti, tx);
  const declares = (k: string) => params[k] !== undefined;
  if (!OBJECT_TYPES.has(type))
    throw mismatch(jti, `type is ${type}, attested ${declares("gas_price") ? "legacy" : "eip1559 or legacy"}`);
  if (declares("gas_price") && type === "eip1559")
    throw mismatch(jti, `type is eip1559, attested legacy (the intent declares gas_price)`);
  if ((declares("max_fee_per_gas") || declares("max_priority_fee_per_gas")) && type !== "eip1559")
    throw mismatch(jti, `type is ${type}, attested eip1559 (the intent declares max_fee_per_gas)`);
  const check = checker(jti);
  if (declares("nonce")) check("nonce", tx.nonce, params.nonce);
  if (declares("gas")) check("gas", tx.gas, params.gas);
  if (declares("gas_price")) check("gas price", tx.gasPrice, params.gas_price, " wei");
  if (declares("max_fee_per_gas")) check("max fee per gas", tx.maxFeePerGas, params.max_fee_per_gas, " wei");
  if (declares("max_priority_fee_per_gas"))
    check("max priority fee per gas", tx.maxPriorityFeePerGas, params.max_priority_fee_per_gas, " wei");
}
