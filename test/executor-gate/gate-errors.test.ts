// Every GateError code, table-driven, with real attestations from a real sidecar (a child process): each row is an
// attack or mistake a user of the gate cares about. Forged tokens are derived from real ones.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AttestationClaims, Intent } from "../../protocol/index.ts";
import {
  createGate,
  GateError,
  sqliteReplayStore,
  type Gate,
  type GateErrorCode,
  type GateOptions,
} from "../../executor-gate/index.ts";
import { evmIntent, mutate, OTHER_RECIPIENT, toolIntent } from "./intents.ts";
import { SIDECAR_START_MS, startSidecar, type TestSidecar } from "./sidecar.ts";
import { claimsFor, newKey, signJws } from "./mint.ts";
import { testReplay } from "./test-replay.ts";

let sc: TestSidecar; // the sidecar the gates trust
let other: TestSidecar; // another sidecar: another key, another issuer, and the proxy's audience on everything
let dir: string;

beforeAll(async () => {
  [sc, other] = await Promise.all([
    startSidecar(),
    startSidecar({ sidecarId: "other-sidecar", executorAudience: "intent-proxy" }),
  ]);
  dir = mkdtempSync(join(tmpdir(), "gate-errors-"));
}, SIDECAR_START_MS);
afterAll(async () => {
  await Promise.all([sc?.close(), other?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const parts = (t: string) => t.split(".") as [string, string, string];
const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const dec = (p: string) => JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
const claimsOf = (t: string) => dec(parts(t)[1]) as unknown as AttestationClaims;
const withHeader = (t: string, over: Record<string, unknown>) => {
  const [h, p, s] = parts(t);
  return `${enc({ ...dec(h), ...over })}.${p}.${s}`;
};

interface Case {
  token: unknown;
  intent: Intent; // the action about to run
  gate?: Partial<GateOptions>;
}

interface Row {
  name: string;
  code: GateErrorCode;
  make: () => Promise<Case>;
  message?: RegExp;
}

const evm = evmIntent();
const tool = toolIntent();
const real = async (i: Intent) => (await sc.attest(i)).token;

const rows: Row[] = [
  { name: "no token", code: "missing", make: async () => ({ token: undefined, intent: evm }) },
  { name: "empty token", code: "missing", make: async () => ({ token: "", intent: evm }) },
  { name: "not a JWS", code: "malformed", make: async () => ({ token: "not-a-token", intent: evm }) },
  { name: "four parts", code: "malformed", make: async () => ({ token: (await real(evm)) + ".x", intent: evm }) },
  {
    name: "header is not JSON",
    code: "malformed",
    make: async () => {
      const [, p, s] = parts(await real(evm));
      return { token: `bm90IGpzb24.${p}.${s}`, intent: evm };
    },
  },
  {
    name: "wrong typ",
    code: "malformed",
    make: async () => ({ token: withHeader(await real(evm), { typ: "JWT" }), intent: evm }),
    message: /typ is "JWT"/,
  },
  {
    name: "alg none",
    code: "bad_signature",
    message: /"none" is refused/,
    make: async () => {
      const [h, p] = parts(await real(evm));
      return { token: `${enc({ ...dec(h), alg: "none" })}.${p}.`, intent: evm };
    },
  },
  {
    name: "HS256 signed with the sidecar's public key",
    code: "bad_signature",
    message: /"HS256" is refused/,
    make: async () => {
      const token = await real(evm);
      const [h, p] = parts(token);
      const jwk = (await sc.jwks()).keys.find((k) => k.kid === dec(h).kid)!;
      const h2 = enc({ ...dec(h), alg: "HS256" });
      const mac = createHmac("sha256", Buffer.from(jwk.x as string, "base64url"))
        .update(`${h2}.${p}`)
        .digest("base64url");
      return { token: `${h2}.${p}.${mac}`, intent: evm };
    },
  },
  {
    name: "RS256 header",
    code: "bad_signature",
    make: async () => ({ token: withHeader(await real(evm), { alg: "RS256" }), intent: evm }),
  },
  {
    name: "another key presented under the trusted kid",
    code: "bad_signature",
    make: async () => {
      const mine = parts(await real(evm))[0];
      const [, p, s] = parts((await other.attest(evm)).token);
      // other's payload and signature, our header: the signature cannot verify under our key
      return { token: `${mine}.${p}.${s}`, intent: evm, gate: { issuer: "other-sidecar" } };
    },
  },
  {
    name: "claims edited after signing (one wei more in the binding)",
    code: "bad_signature",
    make: async () => {
      const [h, p, s] = parts(await real(evm));
      const c = dec(p) as unknown as AttestationClaims;
      c.intent.evm!.value = "1000000000000001";
      return { token: `${h}.${enc(c)}.${s}`, intent: mutate(evm, { value: "1000000000000001" }) };
    },
  },
  {
    name: "another key (another sidecar)",
    code: "unknown_key",
    make: async () => ({ token: (await other.attest(evm)).token, intent: evm }),
    message: /no key with kid/,
  },
  {
    name: "expired by 31 s",
    code: "expired",
    message: /expired 31 s ago/,
    make: async () => {
      const token = await real(evm);
      return { token, intent: evm, gate: { now: () => (claimsOf(token).exp + 31) * 1000 } };
    },
  },
  {
    name: "not yet valid (gate clock 31 s behind)",
    code: "not_yet_valid",
    message: /not valid for another 31 s/,
    make: async () => {
      const token = await real(evm);
      return { token, intent: evm, gate: { now: () => (claimsOf(token).nbf - 31) * 1000 } };
    },
  },
  {
    name: "the proxy's audience at the executor",
    code: "wrong_audience",
    message: /"intent-proxy"/,
    make: async () => ({
      token: (await other.attest(evm)).token,
      intent: evm,
      gate: { jwks: other.jwksUrl, issuer: "other-sidecar" },
    }),
  },
  {
    name: "another issuer",
    code: "wrong_issuer",
    make: async () => ({ token: await real(evm), intent: evm, gate: { issuer: "payments-sidecar" } }),
    message: /"intent-sidecar"/,
  },
  {
    name: "one wei more",
    code: "digest_mismatch",
    message: /value is 1000000000000001 wei, attested 1000000000000000 wei/,
    make: async () => ({ token: await real(evm), intent: mutate(evm, { value: "1000000000000001" }) }),
  },
  {
    name: "another recipient",
    code: "digest_mismatch",
    message: /recipient is 0x2222/,
    make: async () => ({ token: await real(evm), intent: mutate(evm, { to: OTHER_RECIPIENT }) }),
  },
  {
    name: "another chain",
    code: "digest_mismatch",
    message: /chain id is 1,/,
    make: async () => ({ token: await real(evm), intent: mutate(evm, { chain_id: 1 }) }),
  },
  {
    name: "calldata added",
    code: "digest_mismatch",
    message: /selector/,
    make: async () => ({ token: await real(evm), intent: mutate(evm, { data: "0xa9059cbb" }) }),
  },
  {
    name: "another tool argument",
    code: "digest_mismatch",
    message: /intent digest/,
    make: async () => ({
      token: await real(tool),
      intent: toolIntent({ channel: "#ops", text: "deploy done; also rotate keys" }),
    }),
  },
  {
    name: "another agent",
    code: "digest_mismatch",
    message: /agent is "treasury-bot"/,
    make: async () => ({ token: await real(tool), intent: { ...tool, agent: "treasury-bot" } }),
  },
  {
    name: "another context",
    code: "digest_mismatch",
    make: async () => ({ token: await real(evm), intent: { ...evm, context: { tenant: "evil" } } }),
  },
  {
    name: "a replay",
    code: "replayed",
    make: async () => {
      const token = await real(evm);
      const gate = createGate({ replay: testReplay(), jwks: sc.jwksUrl });
      await gate.run(token, evm, () => undefined);
      return { token, intent: evm, gate: { replay: gate.replay } };
    },
  },
];

async function refusal(gate: Gate, token: unknown, intent: Intent): Promise<GateError> {
  const err = await gate.verify(token, intent).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GateError);
  return err as GateError;
}

describe("the gate refuses with the right code", () => {
  it.each(rows)("$name -> $code", async (row) => {
    const c = await row.make();
    const gate = createGate({ replay: testReplay(), jwks: sc.jwksUrl, ...c.gate });
    const err = await refusal(gate, c.token, c.intent);
    expect({ code: err.code, message: err.message }).toMatchObject({ code: row.code });
    if (row.message) expect(err.message).toMatch(row.message);
    // run() never calls the action for a refused token
    let ran = false;
    await expect(gate.run(c.token, c.intent, () => (ran = true))).rejects.toMatchObject({ code: row.code });
    expect(ran).toBe(false);
  });

  it("runs the untouched attestation once, also with a pinned key set (offline)", async () => {
    const token = await real(evm);
    const pinned = createGate({ replay: testReplay(), jwks: await sc.jwks() });
    expect((await pinned.verify(token, evm)).jti).toBe(claimsOf(token).jti);
    expect(await pinned.run(token, evm, (claims) => claims.sub)).toBe("treasury-bot");
  });

  it("accepts alg EdDSA (the older name of the same Ed25519 signature)", async () => {
    const key = newKey();
    const claims = claimsFor(evm);
    const gate = createGate({ replay: testReplay(), jwks: [key.publicJwk] });
    expect((await gate.verify(signJws(key, claims, { alg: "EdDSA" }), evm)).jti).toBe(claims.jti);
    expect((await gate.verify(signJws(key, claims, { alg: "Ed25519" }), evm)).jti).toBe(claims.jti);
  });

  it("tolerates up to 30 s of clock skew, and no gate can be configured for more", async () => {
    const token = await real(evm);
    const { exp, nbf } = claimsOf(token);
    await expect(
      createGate({ replay: testReplay(), jwks: sc.jwksUrl, now: () => (exp + 29) * 1000 }).verify(token, evm),
    ).resolves.toBeTruthy();
    await expect(
      createGate({ replay: testReplay(), jwks: sc.jwksUrl, now: () => (nbf - 29) * 1000 }).verify(token, evm),
    ).resolves.toBeTruthy();
    expect(() => createGate({ replay: testReplay(), jwks: sc.jwksUrl, clockTolerance: 31 })).toThrow(
      /between 0 and 30/,
    );
  });
});

describe("single use with the SQLite store", () => {
  it("a replay after the gate restarts with its SQLite store is refused", async () => {
    const file = join(dir, "replay.db");
    const token = await real(evm);
    const first = createGate({ jwks: sc.jwksUrl, replay: sqliteReplayStore(file) });
    expect(await first.run(token, evm, () => "paid")).toBe("paid");
    await first.close();

    const restarted = createGate({ jwks: sc.jwksUrl, replay: sqliteReplayStore(file) });
    let ran = false;
    await expect(restarted.run(token, evm, () => (ran = true))).rejects.toMatchObject({ code: "replayed" });
    expect(ran).toBe(false);
    // a fresh attestation still runs on the restarted gate
    expect(await restarted.run(await real(evm), evm, () => "ok")).toBe("ok");
    await restarted.close();
  });

  it("two gates sharing one SQLite file race on the same jti: exactly one runs", async () => {
    const file = join(dir, "shared.db");
    const a = createGate({ jwks: sc.jwksUrl, replay: sqliteReplayStore(file) });
    const b = createGate({ jwks: sc.jwksUrl, replay: sqliteReplayStore(file) });
    const token = await real(evm);
    const results = await Promise.allSettled([a.run(token, evm, () => "a"), b.run(token, evm, () => "b")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const codes = results
      .filter((r): r is PromiseRejectedResult => r.status === "rejected")
      .map((r) => (r.reason as GateError).code);
    expect(codes).toEqual(["replayed"]);
    await a.close();
    await b.close();
  });
});
