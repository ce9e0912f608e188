// The daemon as a user runs it: a child process, the ready line, restart on the same data dir.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { readFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { spawnDaemon, runCli } from "./daemon-process.ts";

const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
// ERC-20 transfer(vendor-a, 500 USDC)
const transfer500 =
  "0xa9059cbb" + VENDOR_A.slice(2).toLowerCase().padStart(64, "0") + (500n * 10n ** 6n).toString(16).padStart(64, "0");

const intent = {
  agent: "treasury-bot",
  action: "evm.transaction",
  params: { chain_id: 8453, to: USDC, value: "0", data: transfer500 },
  context: { tenant: "acme" },
  idempotency_key: "inv-42",
};

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => removeDir(dir));

describe("intent-sidecar start (child process)", () => {
  let firstId: string;
  let firstKid: string;

  it("prints one ready line with the listeners and the policy digest, serves the bundled policy, stops on SIGTERM", async () => {
    const d = await spawnDaemon(["--data-dir", dir]);
    try {
      expect(Object.keys(d.ready).sort()).toEqual([
        "agent_addr",
        "event",
        "operator_addr",
        "policy_digest",
        "proxy_addr",
      ]);
      expect(d.ready.event).toBe("ready");
      expect(d.ready.agent_addr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(d.ready.agent_addr).not.toBe("127.0.0.1:0");
      expect(d.ready.policy_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const health = await http(`${d.url}/healthz`);
      expect(health.body.policy.digest).toBe(d.ready.policy_digest);

      const r = await http(`${d.url}/v1/intents`, { body: intent });
      expect(r.body.decision).toBe("APPROVED");
      firstId = r.body.intent_id;
      const { protectedHeader } = await jwtVerify(
        r.body.attestation,
        createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`)),
      );
      firstKid = protectedHeader.kid!;
      // the key file is private
      const keyFile = readdirSync(join(dir, "keys")).find((f) => f.endsWith(".pem"))!;
      expect(statSync(join(dir, "keys", keyFile)).mode & 0o777).toBe(0o600);
      expect(d.stderr()).toContain("DEV MODE");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  it("keeps the key, the audit chain and idempotency records across a restart", async () => {
    const d = await spawnDaemon(["--data-dir", dir]);
    try {
      const jwks = await http(`${d.url}/.well-known/jwks.json`);
      expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toContain(firstKid);
      const again = await http(`${d.url}/v1/intents`, { body: intent });
      expect(again.body.intent_id).toBe(firstId);
      expect(again.body.decision).toBe("APPROVED");
      const conflict = await http(`${d.url}/v1/intents`, { body: { ...intent, context: { tenant: "other" } } });
      expect(conflict.status).toBe(409);
      const got = await http(`${d.url}/v1/intents/${firstId}`);
      expect(got.body.decision).toBe("APPROVED");
      expect(
        (await jwtVerify(got.body.attestation, createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`))))
          .protectedHeader.kid,
      ).toBe(firstKid);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    const v = runCli(["audit", "verify", "--data-dir", dir]);
    expect(v.stderr).toBe("");
    expect(v.status).toBe(0);
    // one decision recorded, the replay counted once
    expect(v.stdout).toMatch(/audit chain ok: 1 rows/);
  });

  it("exits 2 with a message naming the problem when the policy file is broken", async () => {
    const bad = join(dir, "bad.yaml");
    await import("node:fs").then((fs) => fs.writeFileSync(bad, "version: 1\nevm:\n  max_value: [\n"));
    await expect(spawnDaemon(["--data-dir", dir, "--policy", bad])).rejects.toThrow(/exited \(2\).*bad\.yaml/s);
  });

  it("rejects a bad listener address as a usage error", () => {
    const r = runCli(["start", "--data-dir", dir, "--agent-addr", "nowhere"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/host:port/);
    void readFileSync;
  });
});
