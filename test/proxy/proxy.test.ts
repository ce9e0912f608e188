// The proxy with an injected JS decision function: tunnels, plain HTTP, SSRF refusals, Host/SNI checks,
// attestations (missing, valid, replayed, altered), body limits, upgrades and the decision events.
import http from "node:http";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startProxy,
  CertificateAuthority,
  proxyPolicy,
  createProxyVerifier,
  type ProxyServer,
  type ProxyDecisionEvent,
  type NetworkInput,
} from "../../proxy/index.ts";
import {
  connectTunnel,
  httpViaProxy,
  httpsViaProxy,
  startUpstream,
  TunnelAgent,
  UPSTREAM_ADDR,
  type Upstream,
} from "./helpers.ts";
import { testSigner } from "./attest.ts";

let up: Upstream;
let plainUp: Upstream;
let proxy: ProxyServer;
let ca: CertificateAuthority;
let agent: TunnelAgent;
const events: ProxyDecisionEvent[] = [];
const inputs: NetworkInput[] = [];
const signer = testSigner();

// A hand-written rule set: GET anywhere, POST only to the governed host and to /upload (which ignores bodies).
const decide = (input: NetworkInput) => {
  inputs.push(input);
  const r = input.request;
  if (JSON.stringify(r.body ?? "").includes("forbidden-word"))
    return { allow: false, reasons: ["body contains a forbidden word"] };
  if (r.method === "GET" || r.method === "HEAD") return { allow: true, reasons: [] };
  if (r.host === "gov.example.com") return { allow: true, reasons: [] };
  if (r.host === "stream.example.com") return { allow: true, reasons: [] };
  return { allow: false, reasons: [`${r.method} is not allowed to ${r.host}`] };
};

beforeAll(async () => {
  up = await startUpstream();
  plainUp = await startUpstream({ plain: true });
  ca = await CertificateAuthority.ephemeral();
  const hosts = ["api.example.com", "gov.example.com", "stream.example.com", "plain.example.com"];
  const policy = proxyPolicy({
    decide,
    requireAttestation: ["gov.example.com"],
    allowAddresses: [`${UPSTREAM_ADDR}/32`],
    resolve: Object.fromEntries(hosts.map((h) => [h, UPSTREAM_ADDR])),
    inspectsBody: true,
  });
  // stream.example.com: same rules, but a policy whose rules ignore bodies (so large bodies are streamed)
  const streamPolicy = { ...policy, inspectsBody: false };
  proxy = await startProxy({
    port: 0,
    ca,
    policy: () => policy,
    attestations: createProxyVerifier({ keys: signer.keys }),
    upstreamCA: up.ca.certPem,
    sandboxId: "sandbox-7",
    limits: { maxBodyInspectBytes: 64 * 1024 },
    onDecision: (e) => events.push(e),
  });
  streamProxy = await startProxy({
    port: 0,
    ca,
    policy: () => streamPolicy,
    upstreamCA: up.ca.certPem,
    limits: { maxBodyInspectBytes: 1024 },
  });
  agent = new TunnelAgent(proxy, ca.certPem);
});

let streamProxy: ProxyServer;

afterAll(async () => {
  agent?.destroy();
  await proxy?.close();
  await streamProxy?.close();
  await up?.close();
  await plainUp?.close();
});

const json = (s: string) => JSON.parse(s);

describe("tunnelled HTTPS", () => {
  it("forwards an allowed GET and returns the upstream body intact, with the section 6 input", async () => {
    const r = await httpsViaProxy(agent, `https://api.example.com:${up.port}/repos/a/b?x=1&x=2&y=`);
    expect(r.status).toBe(200);
    expect(r.headers["x-upstream"]).toBe("yes");
    const echoed = json(r.body);
    expect(echoed.url).toBe("/repos/a/b?x=1&x=2&y=");
    expect(echoed.headers.host).toBe(`api.example.com:${up.port}`);
    const input = inputs.at(-1)!;
    expect(input.request).toMatchObject({
      method: "GET",
      host: "api.example.com",
      port: up.port,
      path: "/repos/a/b",
      query: { x: ["1", "2"], y: [""] },
      body: null,
    });
    expect(input.source).toEqual({ binary: "node", pid: process.pid, sandbox_id: "sandbox-7" });
    expect(input.attestation).toBeNull();
    expect(input.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("returns a large upstream body byte for byte", async () => {
    const r = await httpsViaProxy(agent, `https://api.example.com:${up.port}/big`);
    expect(r.status).toBe(200);
    expect(r.body).toBe("a".repeat(256 * 1024));
  });

  it("denies with 403 JSON and the rule's reason, and emits a denial event", async () => {
    const r = await httpsViaProxy(agent, `https://api.example.com:${up.port}/repos/a/b/issues`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "x" }),
    });
    expect(r.status).toBe(403);
    expect(json(r.body)).toEqual({
      error: "forbidden",
      reasons: [{ block: "network", rule: "rules", message: "POST is not allowed to api.example.com" }],
      intent_id: null,
    });
    expect(inputs.at(-1)!.request.body).toEqual({ title: "x" });
    const ev = events.at(-1)!;
    expect(ev).toMatchObject({ allowed: false, method: "POST", host: "api.example.com", path: "/repos/a/b/issues" });
    expect(up.seen.some((s) => s.url === "/repos/a/b/issues")).toBe(false);
  });

  it.each([
    ["127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local"],
    ["10.0.0.1", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["[::ffff:127.0.0.1]", "loopback"],
    ["[::1]", "loopback"],
    ["0.0.0.0", "unspecified"],
  ])("refuses CONNECT to %s (%s)", async (host, why) => {
    const r = await connectTunnel(proxy, `${host}:443`);
    expect(r.status).toBe(403);
    const body = json(r.body);
    expect(body.error).toBe("forbidden");
    expect(body.reasons[0].rule).toBe("address");
    expect(body.reasons[0].message).toContain(why);
  });

  it("refuses a host name that resolves to a forbidden address", async () => {
    const p = proxyPolicy({ decide, resolve: { "evil.example.com": "169.254.169.254" } });
    const px = await startProxy({ port: 0, ca, policy: () => p });
    try {
      const r = await connectTunnel(px, "evil.example.com:443");
      expect(r.status).toBe(403);
      expect(json(r.body).reasons[0].message).toContain("link-local");
    } finally {
      await px.close();
    }
  });

  it("denies a request whose Host header names another host than the tunnel", async () => {
    const t = await connectTunnel(proxy, `api.example.com:${up.port}`);
    const s = tls.connect({ socket: t.socket, servername: "api.example.com", ca: ca.certPem });
    await new Promise((r) => s.once("secureConnect", r));
    s.end(`GET /x HTTP/1.1\r\nHost: other.example.com\r\nConnection: close\r\n\r\n`);
    let got = "";
    for await (const c of s) got += c.toString();
    expect(got.startsWith("HTTP/1.1 403")).toBe(true);
    expect(json(got.slice(got.indexOf("\r\n\r\n") + 4)).reasons[0].rule).toBe("host_mismatch");
  });

  it("aborts the handshake when SNI names another host than CONNECT", async () => {
    const t = await connectTunnel(proxy, `api.example.com:${up.port}`);
    const err = await new Promise<Error | null>((resolve) => {
      const s = tls.connect({ socket: t.socket, servername: "other.example.com", ca: ca.certPem }, () => resolve(null));
      s.on("error", resolve);
    });
    expect(err).toBeInstanceOf(Error);
  });

  it("presents a leaf certificate for the CONNECT host signed by the proxy CA", async () => {
    const t = await connectTunnel(proxy, `api.example.com:${up.port}`);
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ socket: t.socket, servername: "api.example.com", ca: ca.certPem }, () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.on("error", reject);
    });
    expect(cert.subjectaltname).toBe("DNS:api.example.com");
    expect(cert.asn1Curve ?? cert.nistCurve).toMatch(/prime256v1|P-256/);
  });
});

describe("attestations on governed hosts", () => {
  const url = () => `https://gov.example.com:${up.port}/v1/pay`;
  const body = JSON.stringify({ amount: "10", to: "vendor-a" });
  const headers = { "content-type": "application/json" };

  it("denies a governed request without an attestation", async () => {
    const r = await httpsViaProxy(agent, url(), { method: "POST", headers, body });
    expect(r.status).toBe(403);
    expect(json(r.body).reasons[0].rule).toBe("attestation.missing");
  });

  it("forwards with a valid attestation (stripped), then refuses the same one again", async () => {
    const token = signer.attest({ method: "POST", url: url(), body: JSON.parse(body) });
    const ok = await httpsViaProxy(agent, url(), {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": token },
      body,
    });
    expect(ok.status).toBe(200);
    const echoed = json(ok.body);
    expect(echoed.body).toBe(body);
    expect(echoed.headers["x-intent-attestation"]).toBeUndefined();
    expect(inputs.at(-1)!.attestation).toMatchObject({ aud: "intent-proxy", intent: { action: "http.request" } });
    expect(inputs.at(-1)!.request.headers["x-intent-attestation"]).toBeUndefined();

    const again = await httpsViaProxy(agent, url(), {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": token },
      body,
    });
    expect(again.status).toBe(403);
    const denial = json(again.body);
    expect(denial.reasons[0].rule).toBe("attestation.replayed");
    expect(denial.intent_id).toBe(JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).jti);
  });

  it("refuses an attestation for a different body, method, URL or audience", async () => {
    const cases: [string, Record<string, string>, string, string][] = [
      [
        "body",
        {
          "x-intent-attestation": signer.attest({ method: "POST", url: url(), body: { amount: "10", to: "vendor-b" } }),
        },
        "POST",
        url(),
      ],
      [
        "method",
        { "x-intent-attestation": signer.attest({ method: "PUT", url: url(), body: JSON.parse(body) }) },
        "POST",
        url(),
      ],
      [
        "url",
        { "x-intent-attestation": signer.attest({ method: "POST", url: url() + "?x=1", body: JSON.parse(body) }) },
        "POST",
        url(),
      ],
      [
        "aud",
        {
          "x-intent-attestation": signer.attest(
            { method: "POST", url: url(), body: JSON.parse(body) },
            { aud: "intent-executor" },
          ),
        },
        "POST",
        url(),
      ],
    ];
    for (const [what, h, method, u] of cases) {
      const r = await httpsViaProxy(agent, u, { method, headers: { ...headers, ...h }, body });
      expect(r.status, what).toBe(403);
      expect(json(r.body).reasons[0].rule, what).toBe(
        what === "aud" ? "attestation.wrong_audience" : "attestation.digest_mismatch",
      );
    }
    expect(up.seen.filter((s) => s.url === "/v1/pay")).toHaveLength(1);
  });

  it("accepts an attestation whose JSON body was declared as raw text", async () => {
    const token = signer.attest({ method: "POST", url: url(), body });
    const r = await httpsViaProxy(agent, url(), {
      method: "POST",
      headers: { ...headers, "x-intent-attestation": token },
      body,
    });
    expect(r.status).toBe(200);
  });
});

describe("bodies", () => {
  it("refuses a body over the inspection limit when the rules read bodies", async () => {
    const r = await httpsViaProxy(agent, `https://gov.example.com:${up.port}/upload`, {
      method: "POST",
      body: "x".repeat(100 * 1024),
    });
    expect(r.status).toBe(413);
    expect(json(r.body).reasons[0].rule).toBe("body_limit");
  });

  it("streams a body over the limit when the rules ignore bodies", async () => {
    const a = new TunnelAgent(streamProxy, ca.certPem);
    try {
      const big = "y".repeat(200 * 1024);
      const r = await httpsViaProxy(a, `https://stream.example.com:${up.port}/upload`, { method: "POST", body: big });
      expect(r.status).toBe(200);
      expect(json(r.body).body).toBe(big);
    } finally {
      a.destroy();
    }
  });

  it("denies a body the rules object to", async () => {
    const r = await httpsViaProxy(agent, `https://gov.example.com:${up.port}/v1/pay`, {
      method: "POST",
      headers: {
        "content-type": "text/plain",
        "x-intent-attestation": signer.attest({
          method: "POST",
          url: `https://gov.example.com:${up.port}/v1/pay`,
          body: "a forbidden-word here",
        }),
      },
      body: "a forbidden-word here",
    });
    expect(r.status).toBe(403);
    expect(json(r.body).reasons[0].message).toBe("body contains a forbidden word");
  });
});

describe("plain HTTP", () => {
  it("forwards an absolute-form request to an allowed host", async () => {
    const p = proxyPolicy({
      decide,
      allowAddresses: [`${UPSTREAM_ADDR}/32`],
      resolve: { "plain.example.com": UPSTREAM_ADDR },
    });
    const px = await startProxy({ port: 0, ca, policy: () => p });
    try {
      const r = await httpViaProxy(px, `http://plain.example.com:${plainUp.port}/hello?q=1`);
      expect(r.status).toBe(200);
      expect(json(r.body).url).toBe("/hello?q=1");
      const denied = await httpViaProxy(px, `http://plain.example.com:${plainUp.port}/hello`, { method: "DELETE" });
      expect(denied.status).toBe(403);
    } finally {
      await px.close();
    }
  });

  it("refuses metadata and private addresses", async () => {
    for (const u of ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://127.0.0.1:1/"]) {
      const r = await httpViaProxy(proxy, u);
      expect(r.status, u).toBe(403);
      expect(json(r.body).reasons[0].rule).toBe("address");
    }
  });

  it("answers 400 to a request that is not a proxy request", async () => {
    const r = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: proxy.host, port: proxy.port, path: "/", agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on("error", reject);
    });
    expect(r).toBe(400);
  });
});

describe("policy state", () => {
  it("denies everything when no valid policy is loaded, and follows a new policy without restart", async () => {
    let current: ReturnType<typeof proxyPolicy> | null = null;
    const px = await startProxy({ port: 0, ca, policy: () => current, upstreamCA: up.ca.certPem });
    const a = new TunnelAgent(px, ca.certPem, { keepAlive: false });
    try {
      const r1 = await httpsViaProxy(a, `https://api.example.com:${up.port}/x`);
      expect(r1.status).toBe(403);
      current = proxyPolicy({
        decide,
        allowAddresses: [`${UPSTREAM_ADDR}/32`],
        resolve: { "api.example.com": UPSTREAM_ADDR },
      });
      expect((await httpsViaProxy(a, `https://api.example.com:${up.port}/x`)).status).toBe(200);
      current = proxyPolicy({
        decide: () => ({ allow: false, reasons: ["locked down"] }),
        allowAddresses: [`${UPSTREAM_ADDR}/32`],
        resolve: { "api.example.com": UPSTREAM_ADDR },
      });
      const r3 = await httpsViaProxy(a, `https://api.example.com:${up.port}/x`);
      expect(json(r3.body).reasons[0].message).toBe("locked down");
    } finally {
      a.destroy();
      await px.close();
    }
  });

  it("denies when the decision function throws", async () => {
    const p = proxyPolicy({
      decide: () => {
        throw new Error("boom");
      },
      allowAddresses: [`${UPSTREAM_ADDR}/32`],
      resolve: { "api.example.com": UPSTREAM_ADDR },
    });
    const px = await startProxy({ port: 0, ca, policy: () => p, upstreamCA: up.ca.certPem });
    const a = new TunnelAgent(px, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/x`);
      expect(r.status).toBe(403);
      expect(json(r.body).reasons[0]).toMatchObject({ rule: "evaluation_error" });
    } finally {
      a.destroy();
      await px.close();
    }
  });
});

describe("upgrades", () => {
  it("decides a WebSocket upgrade, then pipes bytes both ways", async () => {
    const t = await connectTunnel(proxy, `api.example.com:${up.port}`);
    const s = tls.connect({ socket: t.socket, servername: "api.example.com", ca: ca.certPem });
    await new Promise((r) => s.once("secureConnect", r));
    s.write(
      `GET /ws HTTP/1.1\r\nHost: api.example.com:${up.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
    );
    let got = "";
    await new Promise<void>((resolve) => {
      s.on("data", (d) => {
        got += d.toString();
        if (got.includes("\r\n\r\n") && !got.includes("ping")) s.write("ping");
        if (got.includes("ping")) resolve();
      });
    });
    expect(got.startsWith("HTTP/1.1 101")).toBe(true);
    expect(got.endsWith("ping")).toBe(true);
    s.destroy();
  });
});
