// End to end with the reference network rules (policy-examples/reference/network, loaded through the policy loader
// and the Rego engine), a local HTTPS upstream with its own test CA, and real client processes: node (https with
// the proxy CA from NODE_EXTRA_CA_CERTS) and curl.
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import {
  startProxy,
  CertificateAuthority,
  createProxyVerifier,
  type ProxyServer,
  type ProxyDecisionEvent,
} from "../../proxy/index.ts";
import { connectTunnel, httpsViaProxy, startUpstream, TunnelAgent, UPSTREAM_ADDR, type Upstream } from "./helpers.ts";
import { testSigner } from "./attest.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const referenceNetwork = path.resolve(here, "../../policy-examples/reference/network");
const nodeClient = path.join(here, "fixtures/node-client.mjs");
const hasCurl = spawnSync("curl", ["--version"]).status === 0;

let dir: string;
let up: Upstream;
let ca: CertificateAuthority;
let proxy: ProxyServer;
let agent: TunnelAgent;
let policy: LoadedPolicy;
const events: ProxyDecisionEvent[] = [];
const signer = testSigner();

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "proxy-e2e-"));
  mkdirSync(path.join(dir, "network"));
  for (const f of ["egress.rego", "egress_test.rego", "data.json"])
    copyFileSync(path.join(referenceNetwork, f), path.join(dir, "network", f));
  const hosts = ["api.github.com", "api.openai.com", "slack.com", "api.production.company.com"];
  writeFileSync(
    path.join(dir, "policy.yaml"),
    [
      "version: 1",
      "network:",
      "  package: nemoclaw.network",
      '  modules: ["network/*.rego"]',
      '  data: ["network/data.json"]',
      '  require_attestation: ["api.production.company.com"]',
      `  allow_addresses: ["${UPSTREAM_ADDR}/32"]`,
      "  resolve:",
      ...hosts.map((h) => `    ${h}: "${UPSTREAM_ADDR}"`),
      "",
    ].join("\n"),
  );
  policy = await loadPolicy(path.join(dir, "policy.yaml"));
  up = await startUpstream();
  ca = await CertificateAuthority.loadOrCreate(path.join(dir, "data"));
  writeFileSync(path.join(dir, "upstream-ca.pem"), up.ca.certPem);
  proxy = await startProxy({
    port: 0,
    ca,
    policy: () => policy.network!.proxy,
    attestations: createProxyVerifier({ keys: signer.keys }),
    upstreamCA: up.ca.certPem,
    sandboxId: "agent-prod-01",
    // inside business hours, so the production rule can allow
    now: () => new Date("2026-03-20T14:30:00Z"),
    onDecision: (e) => events.push(e),
  });
  agent = new TunnelAgent(proxy, ca.certPem);
});

afterAll(async () => {
  agent?.destroy();
  await proxy?.close();
  await up?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runNode(
  url: string,
  method = "GET",
  body = "",
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [nodeClient, proxy.url, url, method, body, JSON.stringify(headers)],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.files!.certPath }, timeout: 20_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout.trim()))),
    );
  });
}

const reasonsOf = (body: string): string[] => JSON.parse(body).reasons.map((r: { message: string }) => r.message);

describe("reference network rules through the proxy", () => {
  it("a node process GETs api.github.com and receives the upstream body intact", async () => {
    const r = await runNode(`https://api.github.com:${up.port}/repos/acme/app?page=2`);
    expect(r.status).toBe(200);
    const echoed = JSON.parse(r.body);
    expect(echoed).toMatchObject({ method: "GET", url: "/repos/acme/app?page=2", body: "" });
    expect(echoed.headers.host).toBe(`api.github.com:${up.port}`);
    const ev = events.findLast((e) => e.host === "api.github.com")!;
    expect(ev.allowed).toBe(true);
    expect(ev.source.binary).toBe("node");
    expect(ev.source.pid).not.toBe(process.pid);
    expect(ev.source.sandbox_id).toBe("agent-prod-01");
  });

  it("attributes the node process: only node may call api.openai.com", async () => {
    const r = await runNode(
      `https://api.openai.com:${up.port}/v1/chat/completions`,
      "POST",
      JSON.stringify({ model: "gpt-4" }),
      {
        "content-type": "application/json",
      },
    );
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).body).toBe(JSON.stringify({ model: "gpt-4" }));
  });

  it("a POST to read-only api.github.com is 403 with the rules' reason", async () => {
    const r = await runNode(`https://api.github.com:${up.port}/repos/acme/app/issues`, "POST", "{}", {
      "content-type": "application/json",
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: "forbidden", intent_id: null });
    expect(reasonsOf(r.body)).toEqual([`no network rule allows POST api.github.com/repos/acme/app/issues`]);
    expect(up.seen.some((s) => s.url === "/repos/acme/app/issues")).toBe(false);
  });

  it("an SSN in a JSON body is 403 with the PII reason", async () => {
    const r = await httpsViaProxy(agent, `https://slack.com:${up.port}/api/chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ channel: "#ops", text: "customer ssn is 123-45-6789" }),
    });
    expect(r.status).toBe(403);
    expect(reasonsOf(r.body)).toEqual(["request body contains an SSN-like number"]);
    const ok = await httpsViaProxy(agent, `https://slack.com:${up.port}/api/chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ channel: "#ops", text: "deploy done" }),
    });
    expect(ok.status).toBe(200);
  });

  it.each(["127.0.0.1", "169.254.169.254", "10.0.0.1"])("%s as a target is 403", async (host) => {
    const r = await connectTunnel(proxy, `${host}:443`);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).reasons[0]).toMatchObject({ block: "network", rule: "address" });
    const viaNode = await runNode(`https://${host}/latest/meta-data/`);
    expect(viaNode.status).toBe(403);
  });

  it("a governed host needs a valid, single-use attestation bound to the body", async () => {
    const url = `https://api.production.company.com:${up.port}/v1/pay`;
    const body = JSON.stringify({ invoice: 42, amount_usd: "1200" });
    const headers = { "content-type": "application/json" };

    const without = await httpsViaProxy(agent, url, { method: "POST", headers, body });
    expect(without.status).toBe(403);
    expect(JSON.parse(without.body).reasons[0].rule).toBe("attestation.missing");

    const token = signer.attest({ method: "POST", url, body: JSON.parse(body) });
    const ok = await httpsViaProxy(agent, url, {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": token },
      body,
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).headers["x-intent-attestation"]).toBeUndefined();

    const replay = await httpsViaProxy(agent, url, {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": token },
      body,
    });
    expect(replay.status).toBe(403);
    expect(JSON.parse(replay.body).reasons[0].rule).toBe("attestation.replayed");

    const fresh = signer.attest({ method: "POST", url, body: JSON.parse(body) });
    const changed = await httpsViaProxy(agent, url, {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": fresh },
      body: JSON.stringify({ invoice: 42, amount_usd: "9999" }),
    });
    expect(changed.status).toBe(403);
    expect(JSON.parse(changed.body).reasons[0].rule).toBe("attestation.digest_mismatch");
    expect(up.seen.filter((s) => s.url === "/v1/pay")).toHaveLength(1);
  });

  it.skipIf(!hasCurl)("curl is attributed as curl and denied by the reference rules", async () => {
    const r = await new Promise<{ code: string; body: string }>((resolve, reject) => {
      execFile(
        "curl",
        [
          "-sS",
          "--proxy",
          proxy.url,
          "--cacert",
          ca.files!.certPath,
          "-w",
          "\n%{http_code}",
          `https://api.github.com:${up.port}/repos/acme/app`,
        ],
        { timeout: 20_000 },
        (err, stdout) => {
          if (err) return reject(err);
          const i = stdout.lastIndexOf("\n");
          resolve({ body: stdout.slice(0, i), code: stdout.slice(i + 1) });
        },
      );
    });
    expect(r.code).toBe("403");
    expect(reasonsOf(r.body)).toContain("curl may not make network requests");
    const ev = events.findLast((e) => e.source.binary === "curl")!;
    expect(ev).toMatchObject({ allowed: false, host: "api.github.com" });
    expect(ev.source.pid).toBeGreaterThan(0);
  });

  it("an http.request intent is decided by the same rules", async () => {
    const env = { now: new Date("2026-03-20T14:30:00Z") };
    const intent = (method: string, url: string, body?: unknown) =>
      ({
        agent: "a",
        action: "http.request",
        params: { method, url, ...(body === undefined ? {} : { body }) },
        context: {},
      }) as never;
    const get = await policy.network!.evaluator(intent("GET", "https://api.github.com/repos/x"), env);
    expect(get.effect).toBe("allow");
    const post = await policy.network!.evaluator(intent("POST", "https://api.github.com/repos/x"), env);
    expect(post.effect).toBe("deny");
    const pii = await policy.network!.evaluator(
      intent("POST", "https://slack.com/api/chat.postMessage", { text: "card 4111 1111 1111 1111" }),
      env,
    );
    expect(pii.reasons.map((r) => r.message)).toEqual(["request body contains a card-like number"]);
    const night = await policy.network!.evaluator(intent("POST", "https://api.production.company.com/v1/pay"), {
      now: new Date("2026-03-20T22:00:00Z"),
    });
    expect(night.reasons.map((r) => r.message)).toEqual(["production access is limited to 08:00-18:00 UTC"]);
    const other = await policy.network!.evaluator(
      { agent: "a", action: "tool.call", params: {}, context: {} } as never,
      env,
    );
    expect(other.effect).toBe("abstain");
  });
});
