// Reusing the network rules' answer for identical requests: only for deterministic rules, only an allow, only for
// the same input document (the timestamp included), and never across policies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startProxy,
  CertificateAuthority,
  proxyPolicy,
  type NetworkInput,
  type ProxyPolicy,
  type ProxyServer,
} from "../../proxy/index.ts";
import { compileNetwork, type NetworkSpec } from "../../sidecar/policy/network.ts";
import { httpsViaProxy, startUpstream, TunnelAgent, UPSTREAM_ADDR, type Upstream } from "./helpers.ts";

let up: Upstream;
let ca: CertificateAuthority;
let proxy: ProxyServer;
let agent: TunnelAgent;
let current: ProxyPolicy;
let clock = new Date("2026-03-20T14:30:00.100Z");
const evaluated: NetworkInput[] = [];

/** GET is allowed, except paths containing "deny"; every evaluation is recorded. */
const decide = (input: NetworkInput) => {
  evaluated.push(input);
  if (input.request.path.includes("deny")) return { allow: false, reasons: ["denied path"] };
  return { allow: input.request.method === "GET", reasons: [] };
};

const policyWith = (d: typeof decide, deterministic = true) =>
  proxyPolicy({
    decide: d,
    allowAddresses: [`${UPSTREAM_ADDR}/32`],
    resolve: { "api.example.com": UPSTREAM_ADDR },
    deterministic,
  });

beforeAll(async () => {
  up = await startUpstream();
  ca = await CertificateAuthority.ephemeral();
  current = policyWith(decide);
  proxy = await startProxy({
    port: 0,
    ca,
    policy: () => current,
    upstreamCA: up.ca.certPem,
    attribution: false,
    now: () => clock,
  });
  agent = new TunnelAgent(proxy, ca.certPem);
});

afterAll(async () => {
  agent?.destroy();
  await proxy?.close();
  await up?.close();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  httpsViaProxy(agent, `https://api.example.com:${up.port}${path}`, { headers });

describe("decision reuse", () => {
  it("evaluates an identical request in the same second once, and any difference again", async () => {
    current = policyWith(decide);
    evaluated.length = 0;
    expect((await get("/a", { "x-n": "1" })).status).toBe(200);
    expect((await get("/a", { "x-n": "1" })).status).toBe(200);
    expect(evaluated).toHaveLength(1);
    expect((await get("/a", { "x-n": "2" })).status).toBe(200); // a header differs
    expect((await get("/a?q=1", { "x-n": "1" })).status).toBe(200); // the query differs
    expect(evaluated).toHaveLength(3);
    clock = new Date(clock.getTime() + 1000); // the next second: the timestamp differs
    expect((await get("/a", { "x-n": "1" })).status).toBe(200);
    expect(evaluated).toHaveLength(4);
    expect(evaluated.at(-1)!.timestamp).toBe("2026-03-20T14:30:01Z");
  });

  it("evaluates every denied request, and keeps denying it", async () => {
    current = policyWith(decide);
    evaluated.length = 0;
    for (let i = 0; i < 3; i++) {
      const r = await get("/deny");
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).reasons[0].message).toBe("denied path");
    }
    expect(evaluated).toHaveLength(3);
  });

  it("never reuses an answer across policies", async () => {
    current = policyWith(decide);
    expect((await get("/b")).status).toBe(200);
    current = policyWith(() => ({ allow: false, reasons: ["locked down"] }));
    const r = await get("/b");
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).reasons[0].message).toBe("locked down");
  });

  it("evaluates every request when the rules are not known to be deterministic", async () => {
    current = policyWith(decide, false);
    evaluated.length = 0;
    await get("/c");
    await get("/c");
    expect(evaluated).toHaveLength(2);
  });
});

describe("which rules are deterministic", () => {
  const spec = (source: string): NetworkSpec => ({
    package: "t.net",
    modules: [{ path: "/policies/net.rego", source }],
    data: {},
    require_attestation: [],
    allow_addresses: [],
    resolve: {},
  });

  it("reuses answers of rules over the input alone, time rules on input.timestamp included", async () => {
    const block = await compileNetwork(
      spec(`package t.net
allow if {
	input.request.host == "api.example.com"
	[hour, _, _] := time.clock(time.parse_rfc3339_ns(input.timestamp))
	hour >= 8
}`),
    );
    expect(block.proxy.decisionCache).toBeTruthy();
  });

  it("never reuses answers of rules that read the clock, randomness or the network", async () => {
    for (const body of [
      "allow if time.now_ns() > 0",
      'allow if rand.intn("x", 10) < 5',
      'allow if http.send({"method": "GET", "url": "https://example.com"}).status_code == 200',
      'allow if count(crypto.x509.parse_and_verify_certificates("x")) > 0',
    ]) {
      const block = await compileNetwork(spec(`package t.net\n${body}\n`));
      expect(block.proxy.decisionCache ?? null, body).toBeNull();
    }
  });
});
