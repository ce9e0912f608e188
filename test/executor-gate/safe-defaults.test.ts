// Safe defaults of the executor gate (issue "Hardening"): single use survives a restart unless the caller explicitly
// accepts an in-memory store, and keys are fetched only over https or loopback http.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createGate,
  GateConfigError,
  isLoopbackHost,
  memoryReplayStore,
  remoteJwks,
  remoteRedemption,
  sendReceipt,
} from "../../executor-gate/index.ts";
import { loadSqlite } from "../../executor-gate/replay/sqlite.ts";
import { claimsFor, newKey, signJws } from "./mint.ts";
import { evmIntent } from "./intents.ts";

const evm = evmIntent();
const key = newKey();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gate-safe-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown): GateConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GateConfigError);
    return e as GateConfigError;
  }
  throw new Error("expected a GateConfigError");
}

describe("replay store: durable unless explicitly volatile", () => {
  it("a redemption survives a gate restart: a new gate on the same replayFile refuses it as replayed", async () => {
    const file = join(dir, "executor-replay.db");
    const token = signJws(key, claimsFor(evm));
    const first = createGate({ jwks: [key.publicJwk], replayFile: file });
    expect(await first.run(token, evm, () => "paid")).toBe("paid");
    await first.close();

    const restarted = createGate({ jwks: [key.publicJwk], replayFile: file });
    let ran = false;
    await expect(restarted.run(token, evm, () => (ran = true))).rejects.toMatchObject({ code: "replayed" });
    expect(ran).toBe(false);
    // a fresh attestation still runs
    expect(await restarted.run(signJws(key, claimsFor(evm)), evm, () => "ok")).toBe("ok");
    await restarted.close();
  });

  it("the replay file and its WAL are created with mode 0600", async () => {
    const file = join(dir, "modes.db");
    const gate = createGate({ jwks: [key.publicJwk], replayFile: file });
    await gate.run(signJws(key, claimsFor(evm)), evm, () => undefined);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    await gate.close();
  });

  it("a gate without a replay store is refused at construction, saying what to choose", () => {
    const e = configError(() => createGate({ jwks: [key.publicJwk] }));
    expect(e.code).toBe("replay_store_required");
    expect(e.message).toMatch(/replayFile/);
    expect(e.message).toMatch(/remoteRedemption/);
    expect(e.message).toMatch(/unsafeAllowReplayAfterRestart/);
  });

  it("memoryReplayStore() is refused unless the caller accepts replays after a restart", async () => {
    const e = configError(() => createGate({ jwks: [key.publicJwk], replay: memoryReplayStore() }));
    expect(e.code).toBe("unsafe_replay_store");
    const gate = createGate({
      jwks: [key.publicJwk],
      replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }),
    });
    const token = signJws(key, claimsFor(evm));
    await gate.run(token, evm, () => undefined);
    await expect(gate.run(token, evm, () => undefined)).rejects.toMatchObject({ code: "replayed" });
  });

  it("replayFile and replay together, or an in-memory SQLite file, are refused", () => {
    expect(
      configError(() =>
        createGate({
          jwks: [key.publicJwk],
          replayFile: join(dir, "x.db"),
          replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }),
        }),
      ).code,
    ).toBe("replay_store_required");
    expect(configError(() => createGate({ jwks: [key.publicJwk], replayFile: ":memory:" })).code).toBe(
      "replay_store_required",
    );
  });

  it("without better-sqlite3 installed the SQLite store fails with a clear error", () => {
    const e = configError(() =>
      loadSqlite(() => {
        throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: "MODULE_NOT_FOUND" });
      }),
    );
    expect(e.code).toBe("sqlite_unavailable");
    expect(e.message).toMatch(/npm install better-sqlite3/);
    expect(e.message).toMatch(/remoteRedemption/);
  });
});

describe("JWKS URL: https or loopback http only", () => {
  const volatile = () => memoryReplayStore({ unsafeAllowReplayAfterRestart: true });

  it.each([
    "http://example.com/jwks",
    "http://10.0.0.5:7400/.well-known/jwks.json",
    "http://sidecar:7400/.well-known/jwks.json",
    "http://128.0.0.1/jwks",
    "http://localhost.example.com/jwks",
    "http://[::2]/jwks",
    "ftp://example.com/jwks",
  ])("%s is refused at construction", (url) => {
    const e = configError(() => createGate({ jwks: url, replay: volatile() }));
    expect(e.code).toBe("insecure_url");
    expect(e.message).toContain(new URL(url).href);
    if (url.startsWith("http:")) expect(e.message).toMatch(/https:\/\/.*loopback.*pin the keys/s);
  });

  it("a URL object is checked too, and so is remoteJwks used directly", () => {
    expect(configError(() => createGate({ jwks: new URL("http://example.com/jwks"), replay: volatile() })).code).toBe(
      "insecure_url",
    );
    expect(configError(() => remoteJwks("http://example.com/jwks")).code).toBe("insecure_url");
    expect(configError(() => remoteJwks("not a url")).code).toBe("invalid_url");
  });

  it.each([
    "https://sidecar.example.com/.well-known/jwks.json",
    "http://127.0.0.1:7400/.well-known/jwks.json",
    "http://127.8.9.10/jwks",
    "http://localhost:7400/.well-known/jwks.json",
    "http://[::1]:7400/.well-known/jwks.json",
  ])("%s is accepted", (url) => {
    expect(() => createGate({ jwks: url, replay: volatile() })).not.toThrow();
  });

  it("loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.255.255.254", "localhost", "LOCALHOST", "localhost.", "[::1]"])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["128.0.0.1", "10.0.0.1", "[::]", "[::2]", "example.com", "127.0.0.1.nip.io", "0.0.0.0"])
      expect(isLoopbackHost(h)).toBe(false);
  });

  it("a gate on a loopback http JWKS verifies real tokens", async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://localhost:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      const gate = createGate({ jwks: url, replay: volatile() });
      const claims = claimsFor(evm);
      expect((await gate.verify(signJws(key, claims), evm)).jti).toBe(claims.jti);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("the sidecar URL of remoteRedemption and sendReceipt (they carry the bearer token) is checked the same way", async () => {
    expect(configError(() => remoteRedemption({ url: "http://sidecar.internal:7400", token: "t" })).code).toBe(
      "insecure_url",
    );
    expect(() => remoteRedemption({ url: "http://127.0.0.1:7400", token: "t" })).not.toThrow();
    await expect(
      sendReceipt({ url: "http://sidecar.internal:7400", token: "t" }, "e30.eyJqdGkiOiJpbnRfMSJ9.x", { outcome: "succeeded" }),
    ).rejects.toMatchObject({ code: "insecure_url" });
  });
});
