// "What is evaluated is what is forwarded", through the real proxy (CONNECT, TLS terminated by the proxy CA, a
// loopback HTTPS upstream) with Rego rules compiled by the sidecar's network block: normalized paths (rules,
// attestation binding and the forwarded request-target agree), duplicate JSON keys, rules whose body use a regex
// over the source missed, bodies the rules cannot read (over the limit, compressed, not UTF-8), and upgrades.
import https from "node:https";
import path from "node:path";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startProxy,
  CertificateAuthority,
  createProxyVerifier,
  normalizePath,
  duplicateJsonKey,
  type ProxyPolicy,
  type ProxyServer,
} from "../../proxy/index.ts";
import { compileNetwork, intentInput, type NetworkSpec } from "../../sidecar/policy/network.ts";
import { connectTunnel, startUpstream, TunnelAgent, UPSTREAM_ADDR, type Reply, type Upstream } from "./helpers.ts";
import { testSigner } from "./attest.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const referenceNetwork = path.resolve(here, "../../policy-examples/reference/network");
const HOSTS = ["api.example.com", "pay.example.com", "slack.com"];
const LIMIT = 4096;

let up: Upstream;
let ca: CertificateAuthority;
let proxy: ProxyServer;
let agent: TunnelAgent;
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
  up = await startUpstream();
  ca = await CertificateAuthority.ephemeral();
  proxy = await startProxy({
    port: 0,
    ca,
    policy: () => current,
    attestations: createProxyVerifier({ keys: signer.keys }),
    upstreamCA: up.ca.certPem,
    limits: { maxBodyInspectBytes: LIMIT },
  });
  agent = new TunnelAgent(proxy, ca.certPem);
});

afterAll(async () => {
  agent?.destroy();
  await proxy?.close();
  await up?.close();
});

/** A request whose request-target is sent exactly as given (no client-side URL normalization). */
function send(
  host: string,
  target: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host, port: up.port, path: target, method: opts.method ?? "GET", headers: opts.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const reasons = (r: Reply): string =>
  (JSON.parse(r.body) as { reasons: { message: string }[] }).reasons.map((x) => x.message).join("; ");
const url = (host: string, p: string) => `https://${host}:${up.port}${p}`;
const seenSince = (n: number) => up.seen.slice(n).map((s) => s.url);

describe("paths: the rules see, the attestation binds and the upstream gets the normalized path", () => {
  // an exact-match rule: every spelling below passed it when the rules saw the raw path
  const NOT_ADMIN = 'package t.net\nallow if not input.request.path in {"/admin", "/admin/"}\n';

  it.each([
    "//admin",
    "/x/../admin",
    "/%61dmin",
    "/x/%2e%2e/admin",
    "/x/%2E%2e/admin",
    "/admin/.",
    "/./admin",
    "/x/./../admin",
  ])("%s is /admin to a rule that forbids /admin", async (raw) => {
    await use(NOT_ADMIN);
    const before = up.seen.length;
    const r = await send("api.example.com", raw);
    expect(r.status).toBe(403);
    expect(reasons(r)).toMatch(/no network rule allows GET api\.example\.com\/admin/);
    expect(seenSince(before)).toEqual([]);
  });

  it("forwards the normalized request-target, the query untouched", async () => {
    await use(NOT_ADMIN);
    const before = up.seen.length;
    const cases: [string, string][] = [
      ["/x/../public?a=%2e%2e&b=1", "/public?a=%2e%2e&b=1"],
      ["//a//b/", "/a/b/"],
      ["/%7euser/%41/%2fetc%2Fpasswd", "/~user/A/%2Fetc%2Fpasswd"],
      ["/a/b/..", "/a/"],
      ["/..", "/"],
    ];
    for (const [raw] of cases) expect((await send("api.example.com", raw)).status).toBe(200);
    expect(seenSince(before)).toEqual(cases.map(([, forwarded]) => forwarded));
  });

  it.each([
    ["/a\\b", /backslash/],
    ["/a%00b", /NUL/],
    ["/a%zzb", /invalid percent-escape/],
    ["/a%2", /invalid percent-escape/],
    ["/a?x=%00", /NUL/],
  ])("refuses %s with 400", async (raw, why) => {
    await use("package t.net\nallow if true\n");
    const before = up.seen.length;
    const r = await send("api.example.com", raw);
    expect(r.status).toBe(400);
    expect(reasons(r)).toMatch(why);
    expect(seenSince(before)).toEqual([]);
  });

  it("a dot segment does not carry a request past the reference Slack rule", async () => {
    await use(readFileSync(path.join(referenceNetwork, "egress.rego"), "utf8"), {
      package: "nemoclaw.network",
      data: JSON.parse(readFileSync(path.join(referenceNetwork, "data.json"), "utf8")),
    });
    const before = up.seen.length;
    const post = (p: string) =>
      send("slack.com", p, { method: "POST", headers: { "content-type": "application/json" }, body: '{"text":"hi"}' });
    expect((await post("/api/chat.postMessage")).status).toBe(200);
    for (const p of [
      "/api/chat.postMessage/../admin.users.delete",
      "/api/chat.postMessage/%2e%2e/admin.users.delete",
    ]) {
      const r = await post(p);
      expect(r.status).toBe(403);
    }
    expect(seenSince(before)).toEqual(["/api/chat.postMessage"]);
  });

  it("an attestation binds the normalized URL, and that URL is what is forwarded", async () => {
    await use("package t.net\nallow if true\n");
    const before = up.seen.length;
    const body = { amount: 1 };
    const post = (p: string, attestedPath: string) =>
      send("pay.example.com", p, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-intent-attestation": signer.attest({ method: "POST", url: url("pay.example.com", attestedPath), body }),
        },
        body: JSON.stringify(body),
      });
    // the same request, spelled differently: forwarded as the attested path
    expect((await post("/v1/x/../pay", "/v1/pay")).status).toBe(200);
    expect((await post("/v1/%70ay", "/v1/pay")).status).toBe(200);
    // an attestation for a spelling is one for the normalized path
    expect((await post("/v1/pay", "/v1/%70ay")).status).toBe(200);
    // a different path after normalization is a different request
    const r = await post("/v1/pay/../refund", "/v1/pay");
    expect(r.status).toBe(403);
    expect(reasons(r)).toMatch(/digest_mismatch.*url is https:\/\/pay\.example\.com:\d+\/v1\/refund/);
    expect(seenSince(before)).toEqual(["/v1/pay", "/v1/pay", "/v1/pay"]);
  });

  it("http.request intents get the same normalized path", () => {
    const i = intentInput(
      {
        agent: "a",
        action: "http.request",
        params: { method: "GET", url: "https://api.example.com/x//%61dmin/%7eu/?q=%2e" },
      } as never,
      new Date("2026-03-20T14:30:00Z"),
    );
    expect(i.request.path).toBe("/x/admin/~u/");
    expect(i.request.query).toEqual({ q: ["."] });
  });

  it("normalizePath is idempotent on what it produces", () => {
    for (const p of ["/a/./b/../../c/", "/%2e%2E/%2F/%7E", "//x//y", "/a/b/%2e", "/"]) {
      const once = normalizePath(p);
      expect(normalizePath(once)).toBe(once);
    }
  });
});

describe("duplicate JSON keys", () => {
  it("refuses an attested body whose bytes carry another value than the one inspected", async () => {
    await use("package t.net\nallow if true\n");
    const before = up.seen.length;
    const r = await send("pay.example.com", "/v1/pay", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-intent-attestation": signer.attest({
          method: "POST",
          url: url("pay.example.com", "/v1/pay"),
          body: { amount: 1 },
        }),
      },
      body: '{"amount":1000000,"amount":1}',
    });
    expect(r.status).toBe(400);
    expect(reasons(r)).toContain('duplicate key "amount" in the JSON body');
    expect(seenSince(before)).toEqual([]);
  });

  it("refuses bodies the rules read with a duplicate key at any depth, escapes included", async () => {
    await use(
      'package t.net\nallow if true\ndeny contains "SSN" if regex.match(`\\d{3}-\\d{2}-\\d{4}`, json.marshal(input.request.body))\n',
    );
    const post = (body: string) =>
      send("api.example.com", "/notes", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect((await post('{"note":"123-45-6789"}')).status).toBe(403);
    const hidden = await post('{"note":"123-45-6789","note":"fine"}');
    expect(hidden.status).toBe(400);
    expect(reasons(hidden)).toContain('duplicate key "note" in the JSON body');
    const nested = await post('{"a":[{"b":{"c":1,"\\u0063":2}}]}');
    expect(nested.status).toBe(400);
    expect(reasons(nested)).toContain('duplicate key "c" in the JSON body');
    expect((await post('{"a":{"c":1},"b":{"c":2},"s":"\\"c\\":1,\\"c\\""}')).status).toBe(200);
  });

  it("the scanner", () => {
    expect(duplicateJsonKey('{"a":1,"b":{"a":2}}')).toBeNull();
    expect(duplicateJsonKey('[{"a":1},{"a":2}]')).toBeNull();
    expect(duplicateJsonKey('{"a\\"":1,"a\\u0022":2}')).toBe('a"');
    expect(duplicateJsonKey('{"x":["{\\"y\\":1,\\"y\\":2}"],"z":{"k":[1,{"k":2}],"k":3}}')).toBe("k");
    expect(duplicateJsonKey('{"__proto__":1,"__proto__":2}')).toBe("__proto__");
  });
});

describe("which rules read the body: decided from the compiled policy", () => {
  const readers: Record<string, string> = {
    "an import alias": 'import input.request as req\ndeny contains "no" if contains(req.body, "forbidden-word")',
    'input.request["body"]': 'deny contains "no" if contains(input.request["body"], "forbidden-word")',
    'input["request"].body': 'deny contains "no" if contains(input["request"].body, "forbidden-word")',
    "walk(input)": 'deny contains "no" if { walk(input, [_, v]); v == "forbidden-word" }',
    "object.get(input.request, ...)":
      'deny contains "no" if contains(object.get(input.request, "body", ""), "forbidden-word")',
    "json.marshal(input)": 'deny contains "no" if contains(json.marshal(input), "forbidden-word")',
    "a dynamic key": 'deny contains "no" if { some k; contains(input.request[k], "forbidden-word") }',
    "a function given input.request":
      'f(r) := r.body\ndeny contains "no" if contains(f(input.request), "forbidden-word")',
  };

  it.each(Object.entries(readers))("%s: a body over the limit is refused with 413", async (_name, rule) => {
    const p = await use(`package t.net\n${rule}\nallow if true\n`);
    expect(p.inspectsBody).toBe(true);
    const before = up.seen.length;
    const r = await send("api.example.com", "/upload", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "forbidden-word " + "x".repeat(2 * LIMIT),
    });
    expect(r.status).toBe(413);
    expect(reasons(r)).toMatch(new RegExp(`inspection limit of ${LIMIT} bytes`));
    expect(seenSince(before)).toEqual([]);
  });

  it("rules that provably never read the body still stream large bodies", async () => {
    const p = await use(
      'package t.net\nimport input.request as req\nallow if req.method == "POST"\nallow if input.request.headers["x-ok"] == "1"\nallow if input.source.binary != ""\n',
    );
    expect(p.inspectsBody).toBe(false);
    const big = "y".repeat(3 * LIMIT);
    const r = await send("api.example.com", "/upload", { method: "POST", body: big });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).body).toBe(big);
  });
});

describe("bodies the rules read but could not see as sent", () => {
  const FORBID =
    'package t.net\nallow if true\ndeny contains "forbidden word" if contains(input.request.body, "forbidden-word")\n';
  const post = (body: Buffer | string, headers: Record<string, string>) =>
    send("api.example.com", "/upload", { method: "POST", headers, body });

  it("compressed bodies are decoded for the rules", async () => {
    await use(FORBID);
    for (const [enc, z] of [
      ["gzip", zlib.gzipSync],
      ["deflate", zlib.deflateSync],
      ["br", zlib.brotliCompressSync],
    ] as const) {
      const r = await post(z(Buffer.from("please forbidden-word")), {
        "content-type": "text/plain",
        "content-encoding": enc,
      });
      expect(r.status, enc).toBe(403);
      expect(reasons(r)).toBe("forbidden word");
    }
    const ok = await post(zlib.gzipSync(Buffer.from("fine")), {
      "content-type": "text/plain",
      "content-encoding": "gzip",
    });
    expect(ok.status).toBe(200);
  });

  it("refuses compressed bodies that decode beyond the limit (413), are corrupt (400) or unknown (415)", async () => {
    await use(FORBID);
    const bomb = zlib.gzipSync(Buffer.alloc(LIMIT * 50, 0x61));
    expect(bomb.length).toBeLessThan(LIMIT);
    const big = await post(bomb, { "content-type": "text/plain", "content-encoding": "gzip" });
    expect(big.status).toBe(413);
    expect(reasons(big)).toMatch(new RegExp(`inspection limit of ${LIMIT} bytes`));
    expect(
      (await post(Buffer.from("not gzip"), { "content-type": "text/plain", "content-encoding": "gzip" })).status,
    ).toBe(400);
    const zstd = await post(Buffer.from("xx"), { "content-type": "text/plain", "content-encoding": "zstd" });
    expect(zstd.status).toBe(415);
  });

  it("refuses JSON or text bodies that are not UTF-8 (415)", async () => {
    await use(FORBID);
    const latin1 = Buffer.concat([Buffer.from('{"n":"'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]);
    expect((await post(latin1, { "content-type": "application/json" })).status).toBe(415);
    expect((await post(Buffer.from([0x66, 0xff]), { "content-type": "text/plain" })).status).toBe(415);
    const declared = await post("fine", { "content-type": "text/plain; charset=iso-8859-1" });
    expect(declared.status).toBe(415);
    expect(reasons(declared)).toMatch(/charset iso-8859-1/);
    expect((await post("café", { "content-type": "text/plain; charset=utf-8" })).status).toBe(200);
  });
});

/** An upgrade request on a fresh tunnel; resolves with the response head. */
async function upgrade(host: string, extraHeaders = "", body = ""): Promise<string> {
  const t = await connectTunnel(proxy, `${host}:${up.port}`);
  const s = tls.connect({ socket: t.socket, servername: host, ca: ca.certPem });
  await new Promise((r) => s.once("secureConnect", r));
  s.write(
    `GET /ws HTTP/1.1\r\nHost: ${host}:${up.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extraHeaders}\r\n${body}`,
  );
  let got = "";
  // a 101 keeps the connection open; a refusal is answered in full and closed
  await new Promise<void>((resolve) => {
    s.on("data", (d) => {
      got += d.toString();
      if (got.startsWith("HTTP/1.1 101") && got.includes("\r\n\r\n")) resolve();
    });
    s.on("end", () => resolve());
    s.on("close", () => resolve());
  });
  s.destroy();
  return got;
}

describe("upgrades", () => {
  it("are refused on hosts that require attestations, even with a valid one", async () => {
    await use('package t.net\nallow if true\nallow if input.request.headers.upgrade == "websocket"\n');
    const token = signer.attest({ method: "GET", url: url("pay.example.com", "/ws") });
    const head = await upgrade("pay.example.com", `x-intent-attestation: ${token}\r\n`);
    expect(head.startsWith("HTTP/1.1 403")).toBe(true);
    expect(head).toMatch(/cannot bind the traffic after the upgrade/);
  });

  it("are refused unless the rules decide them on purpose (read input.request.headers.upgrade)", async () => {
    await use("package t.net\nallow if true\n");
    const head = await upgrade("api.example.com");
    expect(head.startsWith("HTTP/1.1 403")).toBe(true);
    expect(head).toMatch(/do not decide upgrades/);

    await use('package t.net\nallow if input.request.headers.upgrade == "websocket"\n');
    expect((await upgrade("api.example.com")).startsWith("HTTP/1.1 101")).toBe(true);

    await use('package t.net\nallow if input.request.headers.upgrade == "h2c"\n');
    expect((await upgrade("api.example.com")).startsWith("HTTP/1.1 403")).toBe(true);
  });

  it("may not carry a body the rules never saw", async () => {
    await use('package t.net\nallow if input.request.headers.upgrade == "websocket"\n');
    const head = await upgrade("api.example.com", "content-length: 5\r\n", "hello");
    expect(head.startsWith("HTTP/1.1 400")).toBe(true);
  });
});
