// Daemon configuration: file < environment < flags; relative paths against the config file; errors say what to fix.
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DEFAULT_POLICY_FILE, loadConfig } from "../../sidecar/config.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { fakePolicy } from "./fake-policy.ts";

const dir = tempDir();
afterAll(() => removeDir(dir));

function configFile(text: string): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, text);
  return f;
}

describe("config", () => {
  it("defaults: loopback listeners, bundled policy, 300 s TTL, 256 KiB bodies, dev mode", () => {
    const c = loadConfig({}, {});
    expect([c.agentAddr, c.proxyAddr, c.operatorAddr]).toEqual(["127.0.0.1:7400", "127.0.0.1:7401", "127.0.0.1:7402"]);
    expect(c.policyFile).toBe(DEFAULT_POLICY_FILE);
    expect(c.ttlSeconds).toBe(300);
    expect(c.bodyLimitBytes).toBe(256 * 1024);
    expect(c.agentTokens).toEqual({});
    expect(c.issuer).toBe("intent-sidecar");
  });

  it("reads a config file, resolves its relative paths against it, lets env add tokens and flags win", () => {
    const f = configFile(
      [
        "agent_addr: 127.0.0.1:9400",
        "data_dir: state",
        "policy: policies/p.yaml",
        "sidecar_id: prod-sidecar-1",
        "ttl: 10m",
        "body_limit: 64k",
        "agent_tokens: { bot: tok-file }",
        "audiences: { executor: acme-executor }",
      ].join("\n"),
    );
    const c = loadConfig(
      { config: f, operatorAddr: "127.0.0.1:0" },
      { INTENT_SIDECAR_AGENT_TOKENS: "ci=tok-env,bot2=tok-2" },
    );
    expect(c.agentAddr).toBe("127.0.0.1:9400");
    expect(c.operatorAddr).toBe("127.0.0.1:0");
    expect(c.dataDir).toBe(join(dir, "state"));
    expect(c.policyFile).toBe(join(dir, "policies/p.yaml"));
    expect(c.issuer).toBe("prod-sidecar-1");
    expect(c.ttlSeconds).toBe(600);
    expect(c.bodyLimitBytes).toBe(64 * 1024);
    expect(c.agentTokens).toEqual({ bot: "tok-file", ci: "tok-env", bot2: "tok-2" });
    expect(c.audiences).toEqual({ executor: "acme-executor", proxy: "intent-proxy" });
  });

  it("rejects unknown keys, bad addresses, out-of-range TTLs and malformed token lists, naming the problem", () => {
    expect(() => loadConfig({ config: configFile("agent_adr: 127.0.0.1:1\n") }, {})).toThrow(
      /unknown key\(s\) agent_adr/,
    );
    expect(() => loadConfig({ config: configFile("agent_addr: localhost\n") }, {})).toThrow(/host:port/);
    expect(() => loadConfig({ config: configFile("ttl: 2h\n") }, {})).toThrow(/ttl: 7200s is out of range/);
    expect(() => loadConfig({}, { INTENT_SIDECAR_AGENT_TOKENS: "justatoken" })).toThrow(ConfigError);
    expect(() => loadConfig({ config: join(dir, "missing.yaml") }, {})).toThrow(/cannot read config file/);
  });

  it("ttl and issuer from the config reach the attestation", async () => {
    const d = await startTestDaemon({
      policy: fakePolicy({ allow: ["report.send"] }),
      config: { ttlSeconds: 42, issuer: "iss-x" },
    });
    try {
      const r = await http(`${d.url}/v1/intents`, { body: { agent: "a", action: "report.send", params: {} } });
      const claims = JSON.parse(Buffer.from(r.body.attestation.split(".")[1], "base64url").toString());
      expect(claims.exp - claims.iat).toBe(42);
      expect(claims.iss).toBe("iss-x");
    } finally {
      await d.close();
      removeDir(d.dataDir);
    }
  });
});
