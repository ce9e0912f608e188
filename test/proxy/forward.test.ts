// Forwarding an allowed request: which headers reach the upstream, and what the client gets when the upstream
// cannot be reached or cannot be trusted (502, nothing sent).
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxy, CertificateAuthority, proxyPolicy, type ProxyServer } from "../../proxy/index.ts";
import { httpsViaProxy, startUpstream, TunnelAgent, UPSTREAM_ADDR, type Upstream } from "./helpers.ts";

let up: Upstream;
let ca: CertificateAuthority;
let proxy: ProxyServer;
let untrusting: ProxyServer;
let closedPort: number;

const policy = proxyPolicy({
  decide: () => ({ allow: true, reasons: [] }),
  allowAddresses: [`${UPSTREAM_ADDR}/32`],
  resolve: { "api.example.com": UPSTREAM_ADDR },
});

beforeAll(async () => {
  up = await startUpstream();
  ca = await CertificateAuthority.ephemeral();
  proxy = await startProxy({ port: 0, ca, policy: () => policy, upstreamCA: up.ca.certPem, attribution: false });
  // no upstreamCA: the upstream's test CA is not trusted by this one
  untrusting = await startProxy({ port: 0, ca, policy: () => policy, attribution: false });
  // a port on the upstream address with nothing listening
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, UPSTREAM_ADDR, r));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
});

afterAll(async () => {
  await proxy?.close();
  await untrusting?.close();
  await up?.close();
});

describe("forwarded headers", () => {
  it("drops hop-by-hop headers and those the Connection header names, keeps repeated list headers", async () => {
    const a = new TunnelAgent(proxy, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/headers`, {
        headers: {
          "cache-control": ["no-cache", "no-store"] as unknown as string,
          "x-hop": "private",
          connection: "keep-alive, x-hop",
          "proxy-authorization": "Basic c2VjcmV0",
          te: "trailers",
          "x-kept": "yes",
        },
      });
      expect(r.status).toBe(200);
      const seen = JSON.parse(r.body).headers;
      expect(seen["cache-control"]).toBe("no-cache, no-store");
      expect(seen["x-kept"]).toBe("yes");
      expect(seen["x-hop"]).toBeUndefined();
      expect(seen["proxy-authorization"]).toBeUndefined();
      expect(seen.te).toBeUndefined();
      expect(seen.host).toBe(`api.example.com:${up.port}`);
      // and the upstream's own headers come back
      expect(r.headers["x-upstream"]).toBe("yes");
    } finally {
      a.destroy();
    }
  });

  it("refuses a repeated header that is not a list (the upstream may read either value)", async () => {
    const a = new TunnelAgent(proxy, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/headers`, {
        headers: { "x-dup": ["one", "two"] as unknown as string },
      });
      expect(r.status).toBe(400);
      expect(r.body).toMatch(/"rule":"header"/);
    } finally {
      a.destroy();
    }
  });

  it("sends a buffered body with its length, whatever the client declared about continuing", async () => {
    const a = new TunnelAgent(proxy, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/post`, {
        method: "POST",
        headers: { "content-type": "text/plain", expect: "100-continue" },
        body: "hello upstream",
      });
      expect(r.status).toBe(200);
      const seen = JSON.parse(r.body);
      expect(seen.body).toBe("hello upstream");
      expect(seen.headers["content-length"]).toBe(String("hello upstream".length));
      expect(seen.headers.expect).toBeUndefined();
    } finally {
      a.destroy();
    }
  });

  it("relays the final answer after an informational one (103 Early Hints)", async () => {
    const a = new TunnelAgent(proxy, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/early-hints`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).url).toBe("/early-hints");
    } finally {
      a.destroy();
    }
  });

  it("answers many requests on one kept-alive tunnel, each with its own body", async () => {
    const a = new TunnelAgent(proxy, ca.certPem, { maxSockets: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/n/${i}`);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).url).toBe(`/n/${i}`);
      }
    } finally {
      a.destroy();
    }
  });
});

describe("upstream failures", () => {
  it("answers 502 naming the target when nothing listens there", async () => {
    const a = new TunnelAgent(proxy, ca.certPem);
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${closedPort}/x`);
      expect(r.status).toBe(502);
      const body = JSON.parse(r.body);
      expect(body.error).toBe("bad_gateway");
      expect(body.message).toContain(`api.example.com:${closedPort}`);
    } finally {
      a.destroy();
    }
  });

  it("sends nothing to an upstream whose certificate it cannot verify, and answers 502", async () => {
    const a = new TunnelAgent(untrusting, ca.certPem);
    const before = up.seen.length;
    try {
      const r = await httpsViaProxy(a, `https://api.example.com:${up.port}/secret`, {
        method: "POST",
        body: "do not leak",
      });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body).error).toBe("bad_gateway");
      expect(up.seen.length).toBe(before);
    } finally {
      a.destroy();
    }
  });
});
