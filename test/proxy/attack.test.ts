// Adversarial requests against "what is evaluated is what is forwarded" (docs/threat-model.md), through the real
// proxy: CONNECT, TLS terminated by the proxy CA, Rego rules compiled by the sidecar's network block, and a loopback
// HTTPS upstream that records the raw request it received. Every test asserts the SECURE outcome (refused, or the
// upstream receives exactly what was evaluated). Tests that pass are regression tests; the ones under "findings"
// failed when written: each is a place where the rules / attestation judged something other than what the upstream
// receives.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import zlib from "node:zlib";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  startProxy,
  CertificateAuthority,
  createProxyVerifier,
  type ProxyPolicy,
  type ProxyServer,
} from "../../proxy/index.ts";
import { compileNetwork, type NetworkSpec } from "../../sidecar/policy/network.ts";
import { connectTunnel, UPSTREAM_ADDR } from "./helpers.ts";
import { testSigner } from "./attest.ts";

const HOSTS = ["api.example.com", "pay.example.com", "slack.com", "other.example.com"];
const LIMIT = 64 * 1024;

interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

let upCA: CertificateAuthority;
let upServer: https.Server;
let upPort: number;
const seen: Seen[] = [];
const upSockets = new Set<Socket>();

let ca: CertificateAuthority;
let proxy: ProxyServer;
let current: ProxyPolicy;
const signer = testSigner();

function spec(source: string, extra: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    package: "t.net",
    modules: [{ path: "rules.rego", source }],
    data: {},
    require_attestation: ["pay.example.com"],
    allow_addresses: [`${UPSTREAM_ADDR}/32`],
    resolve: Object.fromEntries(HOSTS.map((h) => [h, UPSTREAM_ADDR])),
    ...extra,
  };
}

async function use(source: string, extra: Partial<NetworkSpec> = {}): Promise<ProxyPolicy> {
  current = (await compileNetwork(spec(source, extra))).proxy;
  return current;
}

beforeAll(async () => {
  upCA = await CertificateAuthority.ephemeral();
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "text/plain", "content-length": "8" });
      res.end("upstream");
    });
  };
  upServer = https.createServer(
    {
      SNICallback: (name, cb) =>
        upCA.contextFor(name || "localhost").then(
          (ctx) => cb(null, ctx),
          (e: Error) => cb(e),
        ),
    },
    handler,
  );
  upServer.on("upgrade", (req: http.IncomingMessage, socket: Socket) => {
    seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    socket.pipe(socket);
  });
  upServer.on("secureConnection", (s: Socket) => {
    upSockets.add(s);
    s.on("close", () => upSockets.delete(s));
  });
  await new Promise<void>((r) => upServer.listen(0, UPSTREAM_ADDR, r));
  upPort = (upServer.address() as AddressInfo).port;

  ca = await CertificateAuthority.ephemeral();
  proxy = await startProxy({
    port: 0,
    ca,
    policy: () => current,
    attestations: createProxyVerifier({ keys: signer.keys }),
    upstreamCA: upCA.certPem,
    limits: { maxBodyInspectBytes: LIMIT },
    attribution: false,
  });
});

afterAll(async () => {
  await proxy?.close();
  for (const s of upSockets) s.destroy();
  await new Promise<void>((r) => upServer.close(() => r()));
});

beforeEach(() => {
  seen.length = 0;
});

/** Opens a CONNECT tunnel to host:upPort and a TLS session inside it (SNI = `sni`, default the host). */
async function tunnel(host: string, sni: string | null = host): Promise<tls.TLSSocket> {
  const t = await connectTunnel(proxy, `${host}:${upPort}`);
  if (t.status !== 200) throw new Error(`CONNECT answered ${t.status}: ${t.body}`);
  return await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      socket: t.socket,
      ...(sni === null ? {} : { servername: sni }),
      ca: ca.certPem,
      ALPNProtocols: ["http/1.1"],
      checkServerIdentity: () => undefined,
    });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Writes raw bytes inside a tunnel and collects everything the proxy answers until it closes (or `waitMs`). */
async function raw(host: string, bytes: string | Buffer | (string | Buffer)[], waitMs = 1500): Promise<string> {
  const s = await tunnel(host);
  return await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(finish, waitMs);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", finish);
    s.on("close", finish);
    s.on("error", finish);
    for (const b of ([] as (string | Buffer)[]).concat(bytes)) s.write(b);
  });
}

/** Status codes of every response in a raw answer (pipelined answers included; 1xx skipped). */
const statuses = (answer: string): number[] =>
  [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])).filter((s) => s >= 200);
const first = (answer: string): number => statuses(answer)[0] ?? 0;

/** A raw request head + body, Content-Length added unless a framing header is given. */
function req(
  method: string,
  target: string,
  host: string,
  headers: string[] = [],
  body: string | Buffer = "",
  opts: { close?: boolean; framing?: boolean } = {},
): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1");
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, ...headers];
  if (!opts.framing && b.length > 0) lines.push(`Content-Length: ${b.length}`);
  if (opts.close !== false) lines.push("Connection: close");
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), b]);
}

const hostOf = (h: string) => `${h}:${upPort}`;
const url = (h: string, p: string) => `https://${h}:${upPort}${p}`;
const headerValues = (s: Seen, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < s.rawHeaders.length; i += 2)
    if (s.rawHeaders[i]!.toLowerCase() === name) out.push(s.rawHeaders[i + 1]!);
  return out;
};

const NOT_ADMIN = 'package t.net\nallow if not startswith(input.request.path, "/admin")\n';
// the reference Slack rule shape: only chat.postMessage
const SLACK =
  'package t.net\nallow if {\n\tinput.request.method == "POST"\n\tstartswith(input.request.path, "/api/chat.postMessage")\n}\n';
// a deny-list over the body, like the reference PII guard
const AMOUNT = 'package t.net\nallow := true\ndeny contains "amount over 100" if input.request.body.amount > 100\n';
const PII =
  'package t.net\nallow := true\ndeny contains "request body contains an SSN-like number" if {\n\tregex.match(`\\b\\d{3}-\\d{2}-\\d{4}\\b`, json.marshal(input.request.body))\n}\n';

// ---------------------------------------------------------------------------------------------------------------

describe("paths (regression)", () => {
  it.each([
    "/.%2e/admin",
    "/x/%2E%2E/admin",
    "/x/.%2E/admin",
    "/x/%2e./admin",
    "/admin/x/..",
    "/admin/x/%2e%2e",
    "/%2e%2e/admin",
    "/../../admin",
    "///admin",
    "/x//..//admin",
    "/%41dmin/../admin",
    "/%61%64%6d%69%6e",
    "/x/..%2F../admin", // %2F kept; "..%2F.." is one segment, then ".." pops it: still /admin? (must not be allowed)
  ])("%s never reaches /admin under a not-/admin rule", async (target) => {
    await use(NOT_ADMIN);
    const a = await raw("api.example.com", req("GET", target, hostOf("api.example.com")));
    const forwarded = seen.map((s) => s.url);
    // either refused, or what was forwarded does not start with /admin (the rule's view)
    if (first(a) === 200) for (const u of forwarded) expect(u.startsWith("/admin")).toBe(false);
    else expect(forwarded).toEqual([]);
  });

  it("the forwarded request-target is the normalized one", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/a/./b/../%63/%7e?q=%2e%2e/x", hostOf("api.example.com")));
    expect(first(a)).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(["/a/c/~?q=%2e%2e/x"]);
  });

  it.each(["/a\\..\\admin", "/a%00", "/a%zz", "/a%", "/a%2"])("%s is refused (400)", async (target) => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", target, hostOf("api.example.com")));
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("a very long path is refused before any evaluation", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/" + "a/".repeat(12_000), hostOf("api.example.com")));
    expect([400, 414, 431]).toContain(first(a));
    expect(seen).toEqual([]);
  });

  it("`*` as a request-target inside a tunnel is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("OPTIONS", "*", hostOf("api.example.com")));
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });
});

describe("targets and hosts (regression)", () => {
  it("an absolute-form target naming another host inside the tunnel is refused", async () => {
    await use('package t.net\nallow if input.request.host == "api.example.com"\n');
    const a = await raw(
      "api.example.com",
      req("GET", `https://other.example.com:${upPort}/admin`, hostOf("api.example.com")),
    );
    expect(first(a)).toBe(403);
    expect(a).toMatch(/host_mismatch/);
    expect(seen).toEqual([]);
  });

  it("an absolute-form target with http: inside the tunnel is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", `http://api.example.com:${upPort}/x`, hostOf("api.example.com")));
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("an absolute-form target on the tunnel host is normalized like an origin-form one", async () => {
    await use(NOT_ADMIN);
    const a = await raw(
      "api.example.com",
      req("GET", `https://api.example.com:${upPort}/x/%2e%2e/admin`, hostOf("api.example.com")),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("a Host header naming another host is refused", async () => {
    await use('package t.net\nallow if input.request.host == "api.example.com"\n');
    const a = await raw("api.example.com", req("GET", "/", hostOf("other.example.com")));
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("two Host headers are refused, even when both name the tunnel host", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw(
      "api.example.com",
      req("GET", "/", hostOf("api.example.com"), [`Host: ${hostOf("other.example.com")}`]),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("a Host header with another port is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/", `api.example.com:${upPort + 1}`));
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("SNI naming another host fails the handshake", async () => {
    await use("package t.net\nallow if true\n");
    await expect(tunnel("api.example.com", "other.example.com")).rejects.toThrow();
    expect(seen).toEqual([]);
  });

  it("CONNECT inside a tunnel is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw(
      "api.example.com",
      `CONNECT other.example.com:${upPort} HTTP/1.1\r\nHost: other.example.com:${upPort}\r\n\r\n`,
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("a lower-case method is not parsed as another method", async () => {
    await use('package t.net\nallow if input.request.method == "GET"\n');
    const a = await raw("api.example.com", req("delete", "/", hostOf("api.example.com")));
    expect(first(a)).not.toBe(200);
    expect(seen).toEqual([]);
  });

  it("the method the rules saw is the method forwarded (HEAD, OPTIONS)", async () => {
    await use('package t.net\nallow if input.request.method in {"HEAD", "OPTIONS"}\n');
    await raw("api.example.com", req("HEAD", "/h", hostOf("api.example.com")));
    await raw("api.example.com", req("OPTIONS", "/o", hostOf("api.example.com")));
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(["HEAD /h", "OPTIONS /o"]);
  });
});

describe("framing and connections (regression)", () => {
  it("Transfer-Encoding with Content-Length is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw(
      "api.example.com",
      req("POST", "/", hostOf("api.example.com"), ["Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n", {
        framing: true,
      }),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("two Content-Length headers are refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw(
      "api.example.com",
      req("POST", "/", hostOf("api.example.com"), ["Content-Length: 1", "Content-Length: 1"], "x", { framing: true }),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("obs-fold header continuation is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/", hostOf("api.example.com"), ["X-A: one", " two"]));
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("a header name with a space is refused", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/", hostOf("api.example.com"), ["X Y: z"]));
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("pipelined keep-alive requests are each evaluated (allowed, then denied)", async () => {
    await use(NOT_ADMIN);
    const h = hostOf("api.example.com");
    const a = await raw(
      "api.example.com",
      [
        req("GET", "/ok", h, [], "", { close: false }),
        req("GET", "/admin", h, [], "", { close: false }),
        req("GET", "/ok2", h),
      ],
      2500,
    );
    expect(statuses(a)).toEqual([200, 403, 200]);
    expect(seen.map((s) => s.url)).toEqual(["/ok", "/ok2"]);
  });

  it("HTTP/1.0 keep-alive pipelining: each request is evaluated", async () => {
    await use(NOT_ADMIN);
    const h = hostOf("api.example.com");
    const a = await raw(
      "api.example.com",
      [
        `GET /ok HTTP/1.0\r\nHost: ${h}\r\nConnection: keep-alive\r\n\r\n`,
        `GET /admin HTTP/1.0\r\nHost: ${h}\r\nConnection: keep-alive\r\n\r\n`,
      ],
      2000,
    );
    expect(seen.map((s) => s.url)).toEqual(["/ok"]);
    expect(statuses(a)[0]).toBe(200);
  });

  it("a body that looks like a request is never parsed as the next request after a denial", async () => {
    await use(NOT_ADMIN);
    const h = hostOf("api.example.com");
    const smuggled = `GET /admin HTTP/1.1\r\nHost: ${h}\r\n\r\n`;
    const a = await raw(
      "api.example.com",
      [req("POST", "/admin", h, [], smuggled, { close: false }), req("GET", "/ok", h)],
      2000,
    );
    expect(seen.map((s) => s.url).filter((u) => u.startsWith("/admin"))).toEqual([]);
    expect(statuses(a)[0]).toBe(403);
  });

  it("a denied request with Expect: 100-continue never reaches the upstream", async () => {
    await use(NOT_ADMIN);
    const a = await raw(
      "api.example.com",
      req("POST", "/admin", hostOf("api.example.com"), ["Expect: 100-continue"], '{"a":1}'),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("chunked extensions and trailers: the body the rules judged is what is forwarded; trailers are not", async () => {
    await use(PII);
    const h = hostOf("api.example.com");
    const chunked = '5;ext="a;b"\r\n{"a":\r\n1;x\r\n1\r\n1;y=z\r\n}\r\n0\r\nX-Smuggled: 1\r\n\r\n';
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/c",
        h,
        ["Transfer-Encoding: chunked", "Content-Type: application/json", "Trailer: X-Smuggled"],
        chunked,
        {
          framing: true,
        },
      ),
    );
    expect(first(a)).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.body.toString()).toBe('{"a":1}');
    expect(headerValues(seen[0]!, "x-smuggled")).toEqual([]);
    expect(headerValues(seen[0]!, "transfer-encoding")).toEqual([]);
  });

  it("an SSN split across chunks is still seen by the rules", async () => {
    await use(PII);
    const chunked = '6\r\n"123-4\r\n7\r\n5-6789"\r\n0\r\n\r\n';
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/c",
        hostOf("api.example.com"),
        ["Transfer-Encoding: chunked", "Content-Type: application/json"],
        chunked,
        {
          framing: true,
        },
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });
});

describe("attestations (regression)", () => {
  const ALLOW = "package t.net\nallow if true\n";

  it("two x-intent-attestation headers are refused and never forwarded", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "GET", url: url("pay.example.com", "/v1/pay") });
    const a = await raw(
      "pay.example.com",
      req("GET", "/v1/pay", hostOf("pay.example.com"), [`x-intent-attestation: ${t}`, `X-Intent-Attestation: ${t}`]),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("an attestation in a chunked trailer does not count (and is not forwarded)", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "POST", url: url("pay.example.com", "/v1/pay"), body: "x" });
    const a = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/pay",
        hostOf("pay.example.com"),
        ["Transfer-Encoding: chunked"],
        `1\r\nx\r\n0\r\nx-intent-attestation: ${t}\r\n\r\n`,
        {
          framing: true,
        },
      ),
    );
    expect(first(a)).toBe(403);
    expect(a).toMatch(/attestation\.missing/);
    expect(seen).toEqual([]);
  });

  it("an attestation for one path does not cover a dot-segment or escaped variant of another", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "GET", url: url("pay.example.com", "/v1/pay") });
    const a = await raw(
      "pay.example.com",
      req("GET", "/v1/pay/%2e%2e/refund", hostOf("pay.example.com"), [`x-intent-attestation: ${t}`]),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("an attestation is single use even on a keep-alive connection", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "GET", url: url("pay.example.com", "/v1/pay") });
    const h = hostOf("pay.example.com");
    const a = await raw(
      "pay.example.com",
      [
        req("GET", "/v1/pay", h, [`x-intent-attestation: ${t}`], "", { close: false }),
        req("GET", "/v1/pay", h, [`x-intent-attestation: ${t}`]),
      ],
      2500,
    );
    expect(statuses(a)).toEqual([200, 403]);
    expect(seen).toHaveLength(1);
    expect(headerValues(seen[0]!, "x-intent-attestation")).toEqual([]);
  });

  it("upgrades on a governed host are refused even when attested", async () => {
    await use('package t.net\nallow if input.request.headers.upgrade == "h2c"\n');
    const t = signer.attest({ method: "GET", url: url("pay.example.com", "/") });
    const a = await raw(
      "pay.example.com",
      req(
        "GET",
        "/",
        hostOf("pay.example.com"),
        [
          "Upgrade: h2c",
          "Connection: UpGrAdE, HTTP2-Settings",
          "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
          `x-intent-attestation: ${t}`,
        ],
        "",
        { close: false },
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });
});

describe("upgrades (regression)", () => {
  it("h2c with odd casing is refused when the rules do not decide upgrades", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw(
      "api.example.com",
      req("GET", "/", hostOf("api.example.com"), ["Upgrade: h2c", "Connection: uPgRaDe"], "", { close: false }),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("an Upgrade header without Connection: upgrade is forwarded as a plain request, without it", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/", hostOf("api.example.com"), ["Upgrade: h2c"]));
    expect(first(a)).toBe(200);
    expect(seen).toHaveLength(1);
    expect(headerValues(seen[0]!, "upgrade")).toEqual([]);
  });

  it("an upgrade carrying a body is refused", async () => {
    await use('package t.net\nallow if input.request.headers.upgrade == "h2c"\n');
    const a = await raw(
      "api.example.com",
      req("POST", "/", hostOf("api.example.com"), ["Upgrade: h2c", "Connection: upgrade"], "abc", { close: false }),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });
});

describe("bodies (regression)", () => {
  it("duplicate keys spelled with escapes are refused", async () => {
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json"],
        '{"amount":1,"am\\u006funt":1000000}',
      ),
    );
    expect(first(a)).toBe(400);
    expect(a).toMatch(/body_duplicate_key/);
    expect(seen).toEqual([]);
  });

  it("duplicate keys nested deep inside arrays are refused", async () => {
    await use(AMOUNT);
    const body = "[".repeat(200) + '{"x":{"k":1,"\\u006b":2}}' + "]".repeat(200);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/vnd.api+json"], body),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("stacked content codings (gzip, gzip) are decoded for the rules", async () => {
    await use(PII);
    const body = zlib.gzipSync(zlib.gzipSync(Buffer.from('{"ssn":"123-45-6789"}')));
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json", "Content-Encoding: gzip, identity, gzip"],
        body,
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("content codings split over two headers are decoded for the rules", async () => {
    await use(PII);
    const body = zlib.brotliCompressSync(zlib.gzipSync(Buffer.from('{"ssn":"123-45-6789"}')));
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json", "Content-Encoding: gzip", "Content-Encoding: br"],
        body,
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("JSON declared utf-16 is refused when the rules read the body", async () => {
    await use(AMOUNT);
    const body = Buffer.from('{"amount":1000000}', "utf16le");
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ['Content-Type: application/json; charset="UTF-16"'], body),
    );
    expect(first(a)).toBe(415);
    expect(seen).toEqual([]);
  });

  it("an SSN hidden in a JSON escape is seen by the rules", async () => {
    await use(PII);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json"],
        '{"s":"123\\u002d45\\u002d6789"}',
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("1e400 is not a way around a numeric limit", async () => {
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], '{"amount":1e400}'),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("a __proto__ key neither hides nor invents body fields", async () => {
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json"],
        '{"__proto__":{"x":1},"amount":1000000}',
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("a deeply nested SSN is still found (or the request is refused)", async () => {
    await use(PII);
    const depth = 20_000;
    const body = "[".repeat(depth) + '"123-45-6789"' + "]".repeat(depth);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], body),
      5000,
    );
    expect(first(a)).not.toBe(200);
    expect(seen).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("findings of the attack review (closed)", () => {
  it("F1 duplicate Content-Type: the rules judge the first, the upstream receives both", async () => {
    // node keeps the first Content-Type in req.headers (the rules see text/plain: no JSON parse, no duplicate-key
    // check) while rawHeaders — both values — are forwarded; servers that take the last one parse JSON
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: text/plain", "Content-Type: application/json"],
        '{"amount":1,"amount":1000000}',
      ),
    );
    if (first(a) === 200) expect(headerValues(seen[0]!, "content-type")).toEqual(["text/plain"]);
    else expect(seen).toEqual([]);
  });

  it("F2 duplicate Authorization: the rules see only the first value, the upstream receives both", async () => {
    await use(
      'package t.net\nallow := true\ndeny contains "admin token" if contains(input.request.headers.authorization, "admin")\n',
    );
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), ["Authorization: Bearer user", "Authorization: Bearer admin"]),
    );
    if (first(a) === 200) expect(headerValues(seen[0]!, "authorization")).toEqual(["Bearer user"]);
    else expect(seen).toEqual([]);
  });

  it("F3 JSON body with a UTF-8 BOM: the rules see a string (no field checks, no duplicate-key check)", async () => {
    await use(AMOUNT);
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"amount":1000000}')]);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], body),
    );
    expect(first(a)).not.toBe(200);
    expect(seen).toEqual([]);
  });

  it("F3b JSON body with a BOM and duplicate keys passes the duplicate-key check", async () => {
    await use(PII);
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"amount":1,"amount":1000000}')]);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], body),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("F4 `Connection: host` strips the evaluated Host header; the upstream receives the dialed IP as Host", async () => {
    await use('package t.net\nallow if input.request.host == "api.example.com"\n');
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), ["Connection: host"], "", { close: false }),
    );
    if (first(a) === 200) {
      expect(headerValues(seen[0]!, "host")).toEqual([hostOf("api.example.com")]);
    } else expect(seen).toEqual([]);
  });

  it("F5 attestation JCS digest over JS doubles: an attested integer id matches a different integer", async () => {
    await use("package t.net\nallow if true\n");
    // the agent's intent declared {"to_account": 12345678901234567890}; the request carries ...891
    // (a Python/Go/Java upstream keeps the exact integer)
    const t = signer.attest({
      method: "POST",
      url: url("pay.example.com", "/v1/transfer"),
      body: JSON.parse('{"to_account":12345678901234567890}'),
    });
    const a = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/transfer",
        hostOf("pay.example.com"),
        ["Content-Type: application/json", `x-intent-attestation: ${t}`],
        '{"to_account":12345678901234567891}',
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("F6 form-encoded body is shown to the rules undecoded: %2D hides an SSN from the PII guard", async () => {
    await use(PII);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/x-www-form-urlencoded"],
        "ssn=123%2D45%2D6789",
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("F7 text/json (a JSON type for ASP.NET and others) is shown as a string: duplicate keys and field rules skipped", async () => {
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: text/json"], '{"amount":1,"amount":1000000}'),
    );
    expect(first(a)).not.toBe(200);
    expect(seen).toEqual([]);
  });

  it.each([
    "/api/chat.postMessage/..%5Cadmin.users.delete", // encoded backslash (IIS/ASP.NET, some Java servers)
    "/api/chat.postMessage/..%2Fadmin.users.delete", // encoded slash decoded as a separator (documented residual)
    "/api/chat.postMessage/..;/admin.users.delete", // Tomcat/Spring path parameter (documented residual)
  ])("F8 %s passes the Slack rule and is forwarded verbatim", async (target) => {
    await use(SLACK);
    const a = await raw(
      "slack.com",
      req("POST", target, hostOf("slack.com"), ["Content-Type: application/json"], "{}"),
    );
    expect(first(a)).not.toBe(200);
    expect(seen).toEqual([]);
  });

  it("F9 a `__proto__` header is forwarded but invisible to the rules", async () => {
    await use('package t.net\nallow := true\ndeny contains "bad header" if count(input.request.headers) > 2\n');
    // the rules see host + connection only; the upstream also gets __proto__
    const a = await raw("api.example.com", req("GET", "/p", hostOf("api.example.com"), ["__proto__: x"]));
    if (first(a) === 200) expect(headerValues(seen[0]!, "__proto__")).toEqual([]);
    else expect(seen).toEqual([]);
  });

  it("F10 header names that are Object.prototype members reach the rules with a value the upstream never sees", async () => {
    await use('package t.net\nallow if input.request.headers.constructor == "y"\n');
    const a = await raw("api.example.com", req("GET", "/p", hostOf("api.example.com"), ["constructor: y"]));
    expect(first(a)).toBe(200); // the rules should see exactly "y" (they see "function Object() { [native code] }, y")
  });

  it("F11 a query parameter named constructor / __proto__ makes the proxy fail (403 internal_error) instead of evaluating", async () => {
    await use("package t.net\nallow if true\n");
    const a = await raw("api.example.com", req("GET", "/p?constructor=1", hostOf("api.example.com")));
    expect(first(a)).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("neighbours of the closed findings", () => {
  const ALLOW = "package t.net\nallow if true\n";

  it.each([
    ["Cookie", "a=1", "a=2"],
    ["User-Agent", "curl/8", "python-requests/2"],
    ["X-Api-Key", "user", "admin"],
    ["content-type", "application/json", "application/json"],
  ])("a repeated single-valued header (%s) is refused (400), even with equal values", async (name, v1, v2) => {
    await use(ALLOW);
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), [`${name}: ${v1}`, `${name}: ${v2}`]),
    );
    expect(first(a)).toBe(400);
    expect(a).toMatch(/"rule":"header"/);
    expect(seen).toEqual([]);
  });

  it("repeated list headers are shown joined and forwarded as received", async () => {
    await use('package t.net\nallow if input.request.headers["accept-language"] == "fr, de"\n');
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), ["Accept-Language: fr", "Accept-Language: de"]),
    );
    expect(first(a)).toBe(200);
    expect(headerValues(seen[0]!, "accept-language")).toEqual(["fr", "de"]);
  });

  it("header names that are Object.prototype members are plain names (toString, __proto__)", async () => {
    await use(
      'package t.net\nallow if {\n\tinput.request.headers.tostring == "a"\n\tinput.request.headers.__proto__ == "b"\n}\n',
    );
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), ["toString: a", "__proto__: b"]),
    );
    expect(first(a)).toBe(200);
    expect(headerValues(seen[0]!, "__proto__")).toEqual(["b"]);
  });

  it.each(["content-type", "Authorization", "content-length", "x-intent-attestation", "cookie"])(
    "Connection listing the end-to-end header %s is refused (400)",
    async (name) => {
      await use(ALLOW);
      const a = await raw(
        "api.example.com",
        req(
          "POST",
          "/p",
          hostOf("api.example.com"),
          ["Content-Type: text/plain", "Authorization: Bearer x", `Connection: keep-alive, ${name}`],
          "x",
          {
            close: false,
          },
        ),
      );
      expect(first(a)).toBe(400);
      expect(seen).toEqual([]);
    },
  );

  it("an extension header listed in Connection is neither shown to the rules nor forwarded", async () => {
    await use('package t.net\nallow if not input.request.headers["x-hop"]\n');
    const a = await raw(
      "api.example.com",
      req("GET", "/p", hostOf("api.example.com"), ["X-Hop: private", "Connection: x-hop"], "", { close: false }),
    );
    expect(first(a)).toBe(200);
    expect(headerValues(seen[0]!, "x-hop")).toEqual([]);
  });

  it("a query parameter named __proto__ or toString reaches the rules as a plain name", async () => {
    await use(
      'package t.net\nallow if {\n\tinput.request.query.__proto__ == ["1"]\n\tinput.request.query.toString == ["x y"]\n}\n',
    );
    const a = await raw("api.example.com", req("GET", "/p?__proto__=1&toString=x+y", hostOf("api.example.com")));
    expect(first(a)).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(["/p?__proto__=1&toString=x+y"]);
  });

  it.each(["/p?a=%FF", "/p?a=%C3", "/p?%FE=1"])(
    "a query whose escapes are not UTF-8 (%s) is refused (400)",
    async (target) => {
      await use(ALLOW);
      const a = await raw("api.example.com", req("GET", target, hostOf("api.example.com")));
      expect(first(a)).toBe(400);
      expect(seen).toEqual([]);
    },
  );

  it("a form body is shown decoded like the query (arrays, + as space, escapes) and forwarded as received", async () => {
    await use('package t.net\nallow if input.request.body == {"a": ["x y", "z/"], "b": [""], "é": ["1"]}\n');
    const body = "a=x+y&b&a=z%2F&%C3%A9=1";
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/x-www-form-urlencoded; charset=utf-8"],
        body,
      ),
    );
    expect(first(a)).toBe(200);
    expect(seen[0]!.body.toString("latin1")).toBe(body);
  });

  it.each(["a=%zz", "a=%", "a=%FF", "a=%00", "%FE=1"])(
    "a form body %s the rules read is refused (400)",
    async (body) => {
      await use(PII);
      const a = await raw(
        "api.example.com",
        req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/x-www-form-urlencoded"], body),
      );
      expect(first(a)).toBe(400);
      expect(seen).toEqual([]);
    },
  );

  it.each(["application/x-json", "text/x-json", "application/problem+json", "Text/JSON; charset=utf-8"])(
    "%s is JSON: duplicate keys are refused",
    async (ct) => {
      await use(AMOUNT);
      const a = await raw(
        "api.example.com",
        req("POST", "/p", hostOf("api.example.com"), [`Content-Type: ${ct}`], '{"amount":1,"amount":1000000}'),
      );
      expect(first(a)).toBe(400);
      expect(seen).toEqual([]);
    },
  );

  it.each([
    '{"amount":1,"AMOUNT":1000000}',
    '{"x":[{"Amount":1,"amounT":2}]}',
    '{"sk":1,"\\u017fk":2}', // "ſk": Go folds ſ to s
    '{"kid":1,"\\u212Aid":2}', // Kelvin sign K folds to k
  ])("keys equal but for case are refused when the rules read the body: %s", async (body) => {
    await use(AMOUNT);
    const a = await raw(
      "api.example.com",
      req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], body),
    );
    expect(first(a)).toBe(400);
    expect(a).toMatch(/body_duplicate_key/);
    expect(seen).toEqual([]);
  });

  it.each(['{"amount":1} x', '{"amount":1', "", "\ufeff{}"])(
    "JSON the rules read that does not parse (%j) is refused",
    async (text) => {
      await use(AMOUNT);
      if (text === "") return; // an empty body is no body
      const a = await raw(
        "api.example.com",
        req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], Buffer.from(text, "utf8")),
      );
      expect(first(a)).toBe(400);
      expect(a).toMatch(/body_json/);
      expect(seen).toEqual([]);
    },
  );

  it.each(['{"to":12345678901234567891}', '{"amount":100.00000000000000001}', '{"a":1e-400}', '{"a":-0}'])(
    "a number the rules would see rounded is refused: %s",
    async (body) => {
      await use(PII);
      const a = await raw(
        "api.example.com",
        req("POST", "/p", hostOf("api.example.com"), ["Content-Type: application/json"], body),
      );
      expect(first(a)).toBe(400);
      expect(a).toMatch(/body_number/);
      expect(seen).toEqual([]);
    },
  );

  it("numbers a double holds exactly pass (0.1, 1.50, 1e2, 12345678901234567000)", async () => {
    await use(PII);
    const a = await raw(
      "api.example.com",
      req(
        "POST",
        "/p",
        hostOf("api.example.com"),
        ["Content-Type: application/json"],
        "[0.1,1.50,1e2,-3,12345678901234567000]",
      ),
    );
    expect(first(a)).toBe(200);
  });

  it("an attestation for a JSON object matches a text/json body written differently (JCS)", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "POST", url: url("pay.example.com", "/v1/pay"), body: { amount: 1.5, to: "x" } });
    const a = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/pay",
        hostOf("pay.example.com"),
        ["Content-Type: text/json", `x-intent-attestation: ${t}`],
        '{ "to": "x", "amount": 1.50 }',
      ),
    );
    expect(first(a)).toBe(200);
  });

  it("an attested big integer written exactly as JCS writes it matches; the raw-bytes digest still matches any body", async () => {
    await use(ALLOW);
    const t1 = signer.attest({
      method: "POST",
      url: url("pay.example.com", "/v1/transfer"),
      body: JSON.parse('{"to_account":12345678901234567000}'),
    });
    const a1 = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/transfer",
        hostOf("pay.example.com"),
        ["Content-Type: application/json", `x-intent-attestation: ${t1}`],
        '{"to_account":12345678901234567000}',
      ),
    );
    expect(first(a1)).toBe(200);
    const exact = '{"to_account":12345678901234567891}';
    const t2 = signer.attest({ method: "POST", url: url("pay.example.com", "/v1/transfer"), body: exact });
    const a2 = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/transfer",
        hostOf("pay.example.com"),
        ["Content-Type: application/json", `x-intent-attestation: ${t2}`],
        exact,
      ),
    );
    expect(first(a2)).toBe(200);
    expect(seen.map((s) => s.body.toString())).toEqual(['{"to_account":12345678901234567000}', exact]);
  });

  it("an attested JSON string does not match other bytes that decode to U+FFFD", async () => {
    await use(ALLOW);
    const t = signer.attest({ method: "POST", url: url("pay.example.com", "/v1/pay"), body: { memo: "\ufffd" } });
    const body = Buffer.concat([Buffer.from('{"memo":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    const a = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/pay",
        hostOf("pay.example.com"),
        ["Content-Type: application/json", `x-intent-attestation: ${t}`],
        body,
      ),
    );
    expect(first(a)).toBe(403);
    expect(seen).toEqual([]);
  });

  it("an attested JSON body that does not parse is refused (400), even when the rules never read bodies", async () => {
    await use(ALLOW);
    const text = '{"amount":1}garbage';
    const t = signer.attest({ method: "POST", url: url("pay.example.com", "/v1/pay"), body: text });
    const a = await raw(
      "pay.example.com",
      req(
        "POST",
        "/v1/pay",
        hostOf("pay.example.com"),
        ["Content-Type: application/json", `x-intent-attestation: ${t}`],
        text,
      ),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it.each([
    "/api/chat.postMessage/..%3B/admin.users.delete",
    "/api/chat.postMessage/.;x/../admin.users.delete",
    "/api/chat.postMessage/x%2F..%2F..%2Fadmin.users.delete",
    "/api/chat.postMessage/%252e%252e/admin.users.delete",
    "/api/chat.postMessage/%252Fadmin",
    "/api/chat.postMessage/%5c",
  ])("%s is refused (400)", async (target) => {
    await use(SLACK);
    const a = await raw(
      "slack.com",
      req("POST", target, hostOf("slack.com"), ["Content-Type: application/json"], "{}"),
    );
    expect(first(a)).toBe(400);
    expect(seen).toEqual([]);
  });

  it("`;` elsewhere is data: forwarded as evaluated", async () => {
    await use(SLACK);
    const a = await raw(
      "slack.com",
      req("POST", "/api/chat.postMessage;v=1/x", hostOf("slack.com"), ["Content-Type: application/json"], "{}"),
    );
    expect(first(a)).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(["/api/chat.postMessage;v=1/x"]);
  });
});
