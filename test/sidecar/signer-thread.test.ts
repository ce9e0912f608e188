// The signer thread must give exactly the token the event loop would have signed (Ed25519 is deterministic), for
// every key in a batch, and keep signing (on the calling thread) once it is closed or its worker is gone.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compactVerify } from "jose";
import { KeyRing, rotateKeys, signClaims, startSignerThread } from "../../sidecar/attest/index.ts";
import type { AttestationClaims } from "../../protocol/index.ts";

const dir = mkdtempSync(join(tmpdir(), "isc-signer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function claims(i: number): AttestationClaims {
  return {
    iss: "intent-sidecar",
    sub: `agent-${i}`,
    aud: "intent-executor",
    iat: 1_800_000_000,
    nbf: 1_800_000_000,
    exp: 1_800_000_060,
    jti: `id-${i}`,
    intent: { action: "tool.call", digest: "sha256:" + "ab".repeat(32) },
    policy: { digest: "sha256:" + "cd".repeat(32) },
  };
}

describe("signer thread", () => {
  it("signs a batch under two keys exactly as signClaims does, and the signatures verify", async () => {
    const first = KeyRing.open(dir).current;
    rotateKeys(dir);
    const second = KeyRing.open(dir).current;
    expect(second.kid).not.toBe(first.kid);
    const signer = startSignerThread();
    try {
      const jobs = Array.from({ length: 40 }, (_, i) => ({ key: i % 2 ? first : second, c: claims(i) }));
      const tokens = await Promise.all(jobs.map((j) => signer.sign(j.key, j.c))); // one turn: one batch
      tokens.forEach((t, i) => expect(t).toBe(signClaims(jobs[i]!.key, jobs[i]!.c)));
      const { payload } = await compactVerify(tokens[1]!, first.publicKey);
      expect(JSON.parse(new TextDecoder().decode(payload)).jti).toBe("id-1");
      await expect(compactVerify(tokens[1]!, second.publicKey)).rejects.toThrow();
      // a second batch reuses the keys the worker already holds
      expect(await signer.sign(first, claims(99))).toBe(signClaims(first, claims(99)));
    } finally {
      await signer.close();
    }
  });

  it("keeps signing on the calling thread after close", async () => {
    const key = KeyRing.open(dir).current;
    const signer = startSignerThread();
    await signer.close();
    expect(await signer.sign(key, claims(7))).toBe(signClaims(key, claims(7)));
  });
});
