// EIP-712 typed data → effects. A primary type is recognised by its exact encoded type (names and field types, as
// the verifying contract hashes it), never by its name: a "Permit" with other fields is another message, unknown.
// Values are read exactly (values.ts); a value that cannot be read makes the effect unknown, so it is denied.
import { hashTypedData, type TypedDataDefinition } from "viem";
import { readAddress, readBool, readUint, type Read } from "./values.ts";
import { MAX_UINT256, type EvmEffect } from "./types.ts";

export interface TypedData {
  domain?: Record<string, unknown>;
  types?: Record<string, readonly { name: string; type: string }[]>;
  primaryType?: string;
  message?: Record<string, unknown>;
}

const UNLIMITED_ERC20 = 2n ** 255n;
const UNLIMITED_PERMIT2 = 2n ** 160n - 1n;

/** EIP-712 encodeType: the primary type, then the types it references, sorted by name. */
export function encodeType(primaryType: string, types: NonNullable<TypedData["types"]>): string {
  const deps = new Set<string>();
  const visit = (name: string) => {
    if (deps.has(name) || !Object.prototype.hasOwnProperty.call(types, name)) return;
    deps.add(name);
    for (const f of types[name]!) visit(f.type.replace(/(\[\d*\])+$/, ""));
  };
  visit(primaryType);
  deps.delete(primaryType);
  const one = (name: string) => `${name}(${types[name]!.map((f) => `${f.type} ${f.name}`).join(",")})`;
  return [primaryType, ...[...deps].sort()].map(one).join("");
}

const PERMIT_DETAILS = "PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)";
const TOKEN_PERMISSIONS = "TokenPermissions(address token,uint256 amount)";

class Unreadable extends Error {}
const get = <T>(r: Read<T>, field: string): T => {
  if (!r.ok) throw new Unreadable(`${field}: ${r.message}`);
  return r.value;
};

type Meaning = (m: Record<string, unknown>, token: string | undefined) => EvmEffect[];

const needToken = (token: string | undefined, type: string): string => {
  if (!token) throw new Unreadable(`${type} names no domain.verifyingContract, so the token cannot be determined`);
  return token;
};

const authTransfer =
  (via: string): Meaning =>
  (m, token) => [
    {
      kind: "transfer",
      token: needToken(token, via),
      from: get(readAddress(m.from), "from"),
      to: get(readAddress(m.to), "to"),
      amount: get(readUint(m.value), "value"),
      via,
    },
  ];

const detailsOf = (d: unknown, i: string) => {
  const o = (d ?? {}) as Record<string, unknown>;
  return { token: get(readAddress(o.token), `${i}.token`), amount: get(readUint(o.amount, 160), `${i}.amount`) };
};

const permissionsOf = (d: unknown, i: string) => {
  const o = (d ?? {}) as Record<string, unknown>;
  return { token: get(readAddress(o.token), `${i}.token`), amount: get(readUint(o.amount), `${i}.amount`) };
};

const list = (v: unknown, field: string): unknown[] => {
  if (!Array.isArray(v)) throw new Unreadable(`${field} is not an array`);
  return v;
};

const allowance = (d: { token: string; amount: bigint }, spender: string): EvmEffect => ({
  kind: "approval",
  token: d.token,
  spender,
  amount: d.amount,
  unlimited: d.amount >= UNLIMITED_PERMIT2,
  via: "permit2.allowance",
});

/** A Permit2 signature transfer: the spender moves the tokens wherever it chooses, so it is the recipient. */
const sigTransfer = (d: { token: string; amount: bigint }, spender: string): EvmEffect => ({
  kind: "transfer",
  token: d.token,
  to: spender,
  amount: d.amount,
  via: "permit2.signatureTransfer",
});

const KNOWN: Record<string, Meaning> = {
  "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)": (m, token) => {
    const amount = get(readUint(m.value), "value");
    return [
      {
        kind: "approval",
        token: needToken(token, "Permit"),
        spender: get(readAddress(m.spender), "spender"),
        owner: get(readAddress(m.owner), "owner"),
        amount,
        unlimited: amount >= UNLIMITED_ERC20,
        via: "eip2612.permit",
      },
    ];
  },
  "Permit(address holder,address spender,uint256 nonce,uint256 expiry,bool allowed)": (m, token) => {
    const t = needToken(token, "Permit");
    const spender = get(readAddress(m.spender), "spender");
    return get(readBool(m.allowed), "allowed")
      ? [
          {
            kind: "approval",
            token: t,
            spender,
            owner: get(readAddress(m.holder), "holder"),
            amount: MAX_UINT256,
            unlimited: true,
            operator: true,
            via: "dai.permit",
          },
        ]
      : [{ kind: "call", contract: t, function: "Permit(allowed=false)", via: "revocation" }];
  },
  "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)":
    authTransfer("eip3009.transferWithAuthorization"),
  "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)":
    authTransfer("eip3009.receiveWithAuthorization"),
  "CancelAuthorization(address authorizer,bytes32 nonce)": (_m, token) => [
    { kind: "call", ...(token ? { contract: token } : {}), function: "CancelAuthorization", via: "eip3009" },
  ],
  [`PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)${PERMIT_DETAILS}`]: (m) => [
    allowance(detailsOf(m.details, "details"), get(readAddress(m.spender), "spender")),
  ],
  [`PermitBatch(PermitDetails[] details,address spender,uint256 sigDeadline)${PERMIT_DETAILS}`]: (m) => {
    const spender = get(readAddress(m.spender), "spender");
    return list(m.details, "details").map((d, i) => allowance(detailsOf(d, `details[${i}]`), spender));
  },
  [`PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`]:
    (m) => [sigTransfer(permissionsOf(m.permitted, "permitted"), get(readAddress(m.spender), "spender"))],
  [`PermitBatchTransferFrom(TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`]:
    (m) => {
      const spender = get(readAddress(m.spender), "spender");
      return list(m.permitted, "permitted").map((d, i) => sigTransfer(permissionsOf(d, `permitted[${i}]`), spender));
    },
};

/** Permit2 witness transfers (UniswapX orders and the like): the witness only narrows what the spender may do, so the
 * effect is the signature transfer itself. Recognised by the exact leading fields and TokenPermissions. */
function witnessMeaning(primaryType: string, types: NonNullable<TypedData["types"]>): Meaning | undefined {
  const fields = types[primaryType];
  const tp = types.TokenPermissions;
  if (!fields || !tp || `TokenPermissions(${tp.map((f) => `${f.type} ${f.name}`).join(",")})` !== TOKEN_PERMISSIONS)
    return undefined;
  const head = fields.slice(0, 4).map((f) => `${f.type} ${f.name}`).join(",");
  if (fields.length !== 5 || fields[4]!.name !== "witness") return undefined;
  if (primaryType === "PermitWitnessTransferFrom" && head === "TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline")
    return KNOWN[`PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`];
  if (
    primaryType === "PermitBatchWitnessTransferFrom" &&
    head === "TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline"
  )
    return KNOWN[
      `PermitBatchTransferFrom(TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline)${TOKEN_PERMISSIONS}`
    ];
  return undefined;
}

/** The effects of signing `td`. Throws (with a readable message) when it is not valid EIP-712 at all. */
export function typedDataEffects(td: TypedData, allowed: (primaryType: string, contract?: string) => boolean): EvmEffect[] {
  if (!td.domain || !td.types || !td.primaryType || !td.message)
    throw new Error("typed_data needs domain, types, primaryType and message");
  try {
    hashTypedData(td as unknown as TypedDataDefinition);
  } catch (e) {
    throw new Error(`typed_data is not valid EIP-712: ${(e as Error).message.split("\n")[0]}`);
  }
  const vc = td.domain.verifyingContract;
  const token = vc === undefined ? undefined : readAddress(vc);
  if (token && !token.ok) throw new Error(`domain.verifyingContract ${token.message}`);
  const contract = token?.value;
  const encoded = encodeType(td.primaryType, td.types);
  const meaning = KNOWN[encoded] ?? witnessMeaning(td.primaryType, td.types);
  if (!meaning) {
    if (allowed(td.primaryType, contract))
      return [{ kind: "call", ...(contract ? { contract } : {}), function: td.primaryType, via: "typed_data" }];
    return [
      {
        kind: "unknown",
        about: "typed_data",
        primaryType: td.primaryType,
        ...(contract ? { contract } : {}),
        message: `typed data of primary type ${td.primaryType} (${encoded.slice(0, 160)}) is not a kind the sidecar understands; to allow it, list it in evm.allow_typed_data as {primary_type: ${td.primaryType}${contract ? `, contract: "${contract}"` : ""}}`,
      },
    ];
  }
  try {
    return meaning(td.message, contract);
  } catch (e) {
    if (!(e instanceof Unreadable)) throw e;
    return [
      {
        kind: "unknown",
        about: "amount",
        primaryType: td.primaryType,
        ...(contract ? { contract } : {}),
        message: `typed data ${td.primaryType} cannot be read exactly: ${e.message}`,
      },
    ];
  }
}
