// Every GateError code, table-driven: each row is an attack or mistake a user of the gate cares about.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUDIENCE_PROXY, type Intent } from "../../protocol/index.ts";
import { createGate, GateError, sqliteReplayStore, type Gate, type GateErrorCode } from "../../executor-gate/index.ts";
import { claimsFor, hs256WithPublicKey, newKey, signJws, unsignedJws } from "./mint.ts";
import { evmIntent, mutate, OTHER_RECIPIENT, toolIntent } from "./intents.ts";

const key = newKey();
const otherKey = newKey();
const now = () => Math.floor(Date.now() / 1000);

async function codeOf(p: Promise<unknown>): Promise<GateErrorCode | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof GateError) return e.code;
    throw e;
  }
}

interface Row {
  name: string;
  code: GateErrorCode;
  token: () => unknown;
  intent?: Intent; // the action about to run; defaults to the attested one
  message?: RegExp;
}

const evm = evmIntent();
const tool = toolIntent();

const rows: Row[] = [
  { name: "no token", code: "missing", token: () => undefined },
  { name: "empty token", code: "missing", token: () => "" },
  { name: "not a JWS", code: "malformed", token: () => "not-a-token" },
  { name: "four parts", code: "malformed", token: () => signJws(key, claimsFor(evm)) + ".x" },
  { name: "header is not JSON", code: "malformed", token: () => "bm90IGpzb24." + signJws(key, claimsFor(evm)).split(".").slice(1).join(".") },
  { name: "wrong typ", code: "malformed", token: () => signJws(key, claimsFor(evm), { typ: "JWT" }), message: /typ is "JWT"/ },
  { name: "no kid", code: "malformed", token: () => signJws(key, claimsFor(evm), { kid: undefined }) },
  { name: "claims without intent", code: "malformed", token: () => signJws(key, { ...claimsFor(evm), intent: undefined }) },
  { name: "alg none", code: "bad_signature", token: () => unsignedJws(key, claimsFor(evm)), message: /"none" is refused/ },
  { name: "HS256 signed with the public key", code: "bad_signature", token: () => hs256WithPublicKey(key, claimsFor(evm)), message: /"HS256" is refused/ },
  { name: "RS256 header", code: "bad_signature", token: () => signJws(key, claimsFor(evm), { alg: "RS256" }) },
  { name: "another key under the trusted kid", code: "bad_signature", token: () => signJws({ ...otherKey, kid: key.kid }, claimsFor(evm)) },
  {
    name: "payload edited after signing",
    code: "bad_signature",
    token: () => {
      const [h, , s] = signJws(key, claimsFor(evm)).split(".");
      return `${h}.${Buffer.from(JSON.stringify(claimsFor(evm, { exp: now() + 3600 }))).toString("base64url")}.${s}`;
    },
  },
  { name: "another key", code: "unknown_key", token: () => signJws(otherKey, claimsFor(evm)), message: /no pinned key has kid/ },
  { name: "expired by 31 s", code: "expired", token: () => signJws(key, claimsFor(evm, { iat: now() - 331, nbf: now() - 331, exp: now() - 31 })), message: /expired 31 s ago/ },
  { name: "not yet valid", code: "not_yet_valid", token: () => signJws(key, claimsFor(evm, { nbf: now() + 60, exp: now() + 360 })) },
  { name: "the proxy's audience at the executor", code: "wrong_audience", token: () => signJws(key, claimsFor(evm, { aud: AUDIENCE_PROXY })), message: /intent-proxy/ },
  { name: "another issuer", code: "wrong_issuer", token: () => signJws(key, claimsFor(evm, { iss: "someone-else" })) },
  { name: "one wei more", code: "digest_mismatch", token: () => signJws(key, claimsFor(evm)), intent: mutate(evm, { value: "1000000000000001" }), message: /value is 1000000000000001 wei, attested 1000000000000000 wei/ },
  { name: "another recipient", code: "digest_mismatch", token: () => signJws(key, claimsFor(evm)), intent: mutate(evm, { to: OTHER_RECIPIENT }), message: /recipient/ },
  { name: "another chain", code: "digest_mismatch", token: () => signJws(key, claimsFor(evm)), intent: mutate(evm, { chain_id: 1 }), message: /chain id/ },
  { name: "calldata added", code: "digest_mismatch", token: () => signJws(key, claimsFor(evm)), intent: mutate(evm, { data: "0xa9059cbb" }), message: /selector/ },
  { name: "another tool argument", code: "digest_mismatch", token: () => signJws(key, claimsFor(tool)), intent: toolIntent({ channel: "#ops", text: "rm -rf done" }), message: /intent digest/ },
  { name: "another tool", code: "digest_mismatch", token: () => signJws(key, claimsFor(tool)), intent: mutate(tool, { tool: "slack.delete_channel" }) },
  { name: "another agent", code: "digest_mismatch", token: () => signJws(key, claimsFor(tool)), intent: { ...tool, agent: "other-bot" }, message: /agent/ },
  { name: "another context", code: "digest_mismatch", token: () => signJws(key, claimsFor(evm)), intent: { ...evm, context: { tenant: "evil" } } },
];

describe("gate.verify refuses with the right code", () => {
  let gate: Gate;
  beforeEach(() => {
    gate = createGate({ jwks: { keys: [key.publicJwk] } });
  });

  it.each(rows)("$name -> $code", async (row) => {
    const token = row.token();
    const intent = row.intent ?? evm;
    const err = await gate.verify(token, intent).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).code).toBe(row.code);
    if (row.message) expect((err as GateError).message).toMatch(row.message);
    // run() never calls the action for a refused token
    let ran = false;
    await expect(gate.run(token, intent, () => (ran = true))).rejects.toBeInstanceOf(GateError);
    expect(ran).toBe(false);
  });

  it("accepts the untouched attestation, for alg Ed25519 and EdDSA", async () => {
    for (const alg of ["Ed25519", "EdDSA"]) {
      const claims = claimsFor(evm);
      const verified = await gate.verify(signJws(key, claims, { alg }), evm);
      expect(verified.jti).toBe(claims.jti);
    }
  });

  it("tolerates 30 s of clock skew but no more", async () => {
    expect(await codeOf(gate.verify(signJws(key, claimsFor(evm, { exp: now() - 25 })), evm))).toBe("ok");
    expect(await codeOf(gate.verify(signJws(key, claimsFor(evm, { nbf: now() + 25 })), evm))).toBe("ok");
    expect(() => createGate({ jwks: [key.publicJwk], clockTolerance: 31 })).toThrow(/between 0 and 30/);
  });
});

describe("single use", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gate-replay-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a replay is refused (memory store)", async () => {
    const gate = createGate({ jwks: [key.publicJwk] });
    const token = signJws(key, claimsFor(evm));
    expect(await gate.run(token, evm, () => "paid")).toBe("paid");
    expect(await codeOf(gate.run(token, evm, () => "paid twice"))).toBe("replayed");
    expect(await codeOf(gate.verify(token, evm))).toBe("replayed");
  });

  it("a replay after the gate restarts with its SQLite store is refused", async () => {
    const file = join(dir, "replay.db");
    const token = signJws(key, claimsFor(evm));
    const first = createGate({ jwks: [key.publicJwk], replay: sqliteReplayStore(file) });
    await first.run(token, evm, () => undefined);
    await first.close();

    const restarted = createGate({ jwks: [key.publicJwk], replay: sqliteReplayStore(file) });
    let ran = false;
    const err = await restarted.run(token, evm, () => (ran = true)).catch((e: unknown) => e);
    expect((err as GateError).code).toBe("replayed");
    expect(ran).toBe(false);
    // another attestation still runs on the restarted gate
    expect(await restarted.run(signJws(key, claimsFor(evm)), evm, () => "ok")).toBe("ok");
    await restarted.close();
  });

  it("two gates on one SQLite file racing on the same jti: exactly one runs", async () => {
    const file = join(dir, "shared.db");
    const a = createGate({ jwks: [key.publicJwk], replay: sqliteReplayStore(file) });
    const b = createGate({ jwks: [key.publicJwk], replay: sqliteReplayStore(file) });
    const token = signJws(key, claimsFor(evm));
    const results = await Promise.allSettled([a.run(token, evm, () => "a"), b.run(token, evm, () => "b")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(rejected.map((r) => (r.reason as GateError).code)).toEqual(["replayed"]);
    await a.close();
    await b.close();
  });
});
