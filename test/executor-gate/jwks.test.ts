// JWKS handling: fetched and cached, refreshed on an unknown kid (rate-limited), offline with a pinned set, and a
// real `keys rotate` on a running sidecar picked up without restarting the gate.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createGate, GateError, type Jwk } from "../../executor-gate/index.ts";
import { rotateKeys } from "../../sidecar/attest/index.ts";
import { claimsFor, newKey, signJws } from "./mint.ts";
import { evmIntent } from "./intents.ts";
import { SIDECAR_START_MS, startSidecar, type TestSidecar } from "./sidecar.ts";
import { testReplay } from "./test-replay.ts";

const evm = evmIntent();

/** A JWKS endpoint whose key list the test changes, counting fetches. */
async function jwksServer() {
  let keys: Jwk[] = [];
  let fetches = 0;
  let down = false;
  const server: Server = createServer((req, res) => {
    fetches++;
    if (down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    set: (k: Jwk[]) => (keys = k),
    fetches: () => fetches,
    down: (d: boolean) => (down = d),
    close: () => new Promise((r) => server.close(r)),
  };
}

describe("remote JWKS", () => {
  let srv: Awaited<ReturnType<typeof jwksServer>>;
  afterEach(async () => srv?.close());

  it("fetches once, then serves from the cache", async () => {
    srv = await jwksServer();
    const key = newKey();
    srv.set([key.publicJwk]);
    const gate = createGate({ replay: testReplay(), jwks: srv.url });
    for (let i = 0; i < 5; i++) await gate.verify(signJws(key, claimsFor(evm)), evm);
    expect(srv.fetches()).toBe(1);
  });

  it("refreshes on an unknown kid, at most once per cooldown", async () => {
    srv = await jwksServer();
    const k1 = newKey();
    const k2 = newKey();
    srv.set([k1.publicJwk]);
    let now = Date.now();
    const gate = createGate({
      replay: testReplay(),
      jwks: srv.url,
      now: () => now,
      jwksOptions: { refreshCooldownSeconds: 30 },
    });
    await gate.verify(signJws(k1, claimsFor(evm)), evm);
    srv.set([k1.publicJwk, k2.publicJwk]); // the sidecar rotated: k2 is new
    now += 31_000;
    const t2 = claimsFor(evm, {
      iat: Math.floor(now / 1000),
      nbf: Math.floor(now / 1000),
      exp: Math.floor(now / 1000) + 300,
    });
    expect((await gate.verify(signJws(k2, t2), evm)).jti).toBe(t2.jti);
    expect(srv.fetches()).toBe(2);
    // junk kids inside the cooldown do not reach the sidecar
    for (let i = 0; i < 10; i++) {
      await expect(gate.verify(signJws(newKey(), t2), evm)).rejects.toMatchObject({ code: "unknown_key" });
    }
    expect(srv.fetches()).toBe(2);
    // after the cooldown an unknown kid may refresh again
    now += 31_000;
    await expect(gate.verify(signJws(newKey(), t2), evm)).rejects.toMatchObject({ code: "unknown_key" });
    expect(srv.fetches()).toBe(3);
  });

  it("keeps verifying with cached keys when the JWKS endpoint goes down, and says why a new kid fails", async () => {
    srv = await jwksServer();
    const key = newKey();
    srv.set([key.publicJwk]);
    let now = Date.now();
    const gate = createGate({ replay: testReplay(), jwks: srv.url, now: () => now, jwksOptions: { maxAgeSeconds: 1 } });
    await gate.verify(signJws(key, claimsFor(evm)), evm);
    srv.down(true);
    now += 60_000;
    const at = Math.floor(now / 1000);
    const fresh = () => claimsFor(evm, { iat: at, nbf: at, exp: at + 300 });
    expect((await gate.verify(signJws(key, fresh()), evm)).sub).toBe("treasury-bot");
    const err = await gate.verify(signJws(newKey(), fresh()), evm).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/HTTP 503/);
  });

  it("refuses everything (unknown_key) when the sidecar was never reachable", async () => {
    const gate = createGate({
      replay: testReplay(),
      jwks: "http://127.0.0.1:9/.well-known/jwks.json",
      jwksOptions: { timeoutMs: 1000 },
    });
    const key = newKey();
    await expect(gate.verify(signJws(key, claimsFor(evm)), evm)).rejects.toMatchObject({ code: "unknown_key" });
  });

  it("ignores keys a verifier must never use: non-Ed25519, HMAC, private, wrong use or alg", async () => {
    const key = newKey();
    const bad: Jwk[] = [
      { ...key.publicJwk, kid: "oct", kty: "oct", k: "c2VjcmV0" },
      { ...key.publicJwk, kid: "enc", use: "enc" },
      { ...key.publicJwk, kid: "rs", alg: "RS256" },
      { ...key.publicJwk, kid: "x448", crv: "X448" },
      { ...key.publicJwk, kid: "priv", d: "AAAA" },
    ];
    const gate = createGate({ replay: testReplay(), jwks: { keys: bad } });
    expect(gate.keys.kids()).toEqual([]);
    for (const k of bad) {
      await expect(gate.verify(signJws({ ...key, kid: k.kid! }, claimsFor(evm)), evm)).rejects.toMatchObject({
        code: "unknown_key",
      });
    }
  });
});

describe("a real key rotation", () => {
  let sc: TestSidecar;
  beforeAll(async () => {
    sc = await startSidecar();
  }, SIDECAR_START_MS);
  afterAll(async () => sc?.close());

  it("a gate picks up the sidecar's new key on the first token signed with it", async () => {
    const gate = createGate({ replay: testReplay(), jwks: sc.jwksUrl, jwksOptions: { refreshCooldownSeconds: 0 } });
    const before = await sc.attest(evm);
    await gate.verify(before.token, evm);
    const oldKids = gate.keys.kids();
    rotateKeys(sc.dataDir); // what `intent-sidecar keys rotate` does, on the running sidecar's data dir
    // the daemon polls its key files; wait until it signs with a new kid
    let after = await sc.attest(evm);
    const kidOf = (t: string) => JSON.parse(Buffer.from(t.split(".")[0]!, "base64url").toString()).kid as string;
    for (let i = 0; i < 50 && oldKids.includes(kidOf(after.token)); i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await sc.attest(evm);
    }
    expect(oldKids).not.toContain(kidOf(after.token));
    expect((await gate.verify(after.token, evm)).jti).toBe(after.intentId);
    // the retired key is still published, so attestations issued before the rotation still verify
    expect((await gate.verify(before.token, evm)).jti).toBe(before.intentId);
  });
});
