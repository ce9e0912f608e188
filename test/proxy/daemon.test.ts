// The proxy inside the real daemon (`intent-sidecar start` as a child process): the network block of the policy
// file decides, an http.request intent yields the attestation a governed request needs, denials land in the audit
// log, and editing the policy file changes the proxy's answers without a restart.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";

// the daemon and each CLI start compile the TypeScript sources through tsx: slow on a busy machine
vi.setConfig({ testTimeout: 120_000 });
import { httpsViaProxy, startUpstream, TunnelAgent, UPSTREAM_ADDR, type Upstream } from "./helpers.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "bin/intent-sidecar.mjs");

const rules = (openAllowed: boolean) => `package test.net

default allow := false

allow if input.request.host == "open.test"
allow if input.request.host == "gov.test"

# at the proxy, a governed request carries the verified claims of its attestation
deny contains "only the payer agent may pay" if {
	input.attestation != null
	input.attestation.sub != "payer"
}

deny contains "deletes are not allowed" if input.request.method == "DELETE"
${openAllowed ? "" : 'deny contains "open.test is closed" if input.request.host == "open.test"\n'}`;

const policyYaml = `version: 1
network:
  package: test.net
  modules: ["net.rego"]
  require_attestation: ["gov.test"]
  allow_addresses: ["${UPSTREAM_ADDR}/32"]
  resolve:
    open.test: "${UPSTREAM_ADDR}"
    gov.test: "${UPSTREAM_ADDR}"
`;

let dir: string;
let up: Upstream;
let daemon: RunningDaemon;
let agent: TunnelAgent;
let caPem: string;
let usedToken = "";

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "proxy-daemon-"));
  writeFileSync(path.join(dir, "net.rego"), rules(true));
  writeFileSync(path.join(dir, "policy.yaml"), policyYaml);
  up = await startUpstream();
  writeFileSync(path.join(dir, "upstream-ca.pem"), up.ca.certPem);
  // the daemon trusts the test upstream's CA the way an operator would add a private root
  daemon = await spawnDaemon(
    ["--policy", path.join(dir, "policy.yaml"), "--data-dir", path.join(dir, "data")],
    { NODE_EXTRA_CA_CERTS: path.join(dir, "upstream-ca.pem") },
    { readyTimeoutMs: 175_000 },
  );
  const exported = await cli(["ca", "export", "--data-dir", path.join(dir, "data")]);
  caPem = exported.stdout;
  const [host, port] = [
    daemon.ready.proxy_addr.slice(0, daemon.ready.proxy_addr.lastIndexOf(":")),
    Number(daemon.ready.proxy_addr.slice(daemon.ready.proxy_addr.lastIndexOf(":") + 1)),
  ];
  agent = new TunnelAgent({ host, port }, caPem);
}, 180_000);

afterAll(async () => {
  agent?.destroy();
  await daemon?.stop();
  await up?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function declare(
  params: object,
): Promise<{ decision: string; attestation?: string; reasons: { message: string }[] }> {
  const res = await fetch(`http://${daemon.ready.agent_addr}/v1/intents`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "payer", action: "http.request", params }),
  });
  return res.json() as never;
}

describe("the daemon's proxy listener", () => {
  it("serves the CA that `ca export` prints, and the policy's network rules decide", async () => {
    expect(caPem).toBe(readFileSync(path.join(dir, "data", "proxy-ca.crt.pem"), "utf8"));
    const ok = await httpsViaProxy(agent, `https://open.test:${up.port}/hello`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).url).toBe("/hello");
    const del = await httpsViaProxy(agent, `https://open.test:${up.port}/hello`, { method: "DELETE" });
    expect(del.status).toBe(403);
    expect(JSON.parse(del.body).reasons.map((r: { message: string }) => r.message)).toEqual([
      "deletes are not allowed",
    ]);
  });

  it("an approved http.request intent carries the attestation the governed host needs, once", async () => {
    const url = `https://gov.test:${up.port}/v1/pay`;
    const body = { invoice: 7 };
    const without = await httpsViaProxy(agent, url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(without.status).toBe(403);

    const d = await declare({ method: "POST", url, body });
    expect(d.decision).toBe("APPROVED");
    usedToken = d.attestation!;
    const headers = { "content-type": "application/json", "x-intent-attestation": usedToken };
    const ok = await httpsViaProxy(agent, url, { method: "POST", headers, body: JSON.stringify(body) });
    expect(ok.status).toBe(200);
    const again = await httpsViaProxy(agent, url, { method: "POST", headers, body: JSON.stringify(body) });
    expect(again.status).toBe(403);
    expect(JSON.parse(again.body).reasons[0].rule).toBe("attestation.replayed");

    const denied = await declare({ method: "DELETE", url: `https://open.test:${up.port}/x` });
    expect(denied.decision).toBe("DENIED");
    expect(denied.reasons.map((r) => r.message)).toContain("deletes are not allowed");
  });

  it("audits denials without secrets", async () => {
    const r = await cli(["audit", "export", "--data-dir", path.join(dir, "data")]);
    expect(r.code).toBe(0);
    const rows = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const denials = rows.filter((row) => row.type === "proxy.denied");
    expect(denials.length).toBeGreaterThanOrEqual(3);
    const del = denials.find((row) => JSON.stringify(row).includes("deletes are not allowed"));
    expect(JSON.stringify(del)).toContain("open.test");
    expect(r.stdout).not.toContain(usedToken.split(".")[2]);
    expect(r.stdout).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JWS anywhere
    expect(r.stdout).not.toContain('"invoice"');
  });

  it("follows an edited policy file without a restart", async () => {
    writeFileSync(path.join(dir, "net.rego"), rules(false));
    writeFileSync(path.join(dir, "policy.yaml"), policyYaml + "\n# edited\n");
    let last = 0;
    let reasons: string[] = [];
    for (let i = 0; i < 100 && last !== 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await httpsViaProxy(agent, `https://open.test:${up.port}/hello`);
      last = res.status;
      if (last === 403) reasons = JSON.parse(res.body).reasons.map((x: { message: string }) => x.message);
    }
    expect(last).toBe(403);
    expect(reasons).toEqual(["open.test is closed"]);
  });
});
