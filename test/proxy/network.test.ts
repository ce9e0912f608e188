// The network policy block: Rego compile errors fail the load with file:line:col, the http.request input document,
// and the decision rule (allow == true and no deny/deny_reason messages).
import { describe, expect, it } from "vitest";
import { compileNetwork, intentInput, type NetworkSpec } from "../../sidecar/policy/network.ts";
import { PolicyError } from "../../sidecar/policy/errors.ts";

const spec = (source: string, extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  package: "t.net",
  modules: [{ path: "/policies/net.rego", source }],
  data: { blocked: ["evil.example.com"] },
  require_attestation: [],
  allow_addresses: [],
  resolve: {},
  ...extra,
});

const input = (host: string, method = "GET") => ({
  request: { method, host, port: 443, path: "/", query: {}, headers: {}, body: null },
  source: { binary: "node", pid: 1, sandbox_id: null },
  attestation: null,
  timestamp: "2026-03-20T14:30:00Z",
});

describe("compileNetwork", () => {
  it("fails with file:line:col and OPA's message on bad Rego", async () => {
    const err = await compileNetwork(spec("package t.net\n\nallow { true }\n")).catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.file).toBe("/policies/net.rego");
    expect(err.line).toBe(3);
    expect(err.column).toBeGreaterThan(0);
    expect(err.message).toContain("rego_parse_error");
    expect(err.message).toMatch(/^\/policies\/net\.rego:3:\d+: /);
  });

  it("fails on a malformed allow_addresses entry", async () => {
    await expect(compileNetwork(spec("package t.net\n", { allow_addresses: ["10.0.0.0/99"] }))).rejects.toThrow(
      /10\.0\.0\.0\/99/,
    );
  });

  it("allows only when allow is true and there is no deny or deny_reason message", async () => {
    const block = await compileNetwork(
      spec(`package t.net
allow if input.request.host != ""
deny contains "blocked host" if input.request.host in data.blocked
deny_reason contains msg if {
	input.request.method == "DELETE"
	msg := sprintf("%s is read-only", [input.request.host])
}`),
    );
    expect(await block.decide(input("api.example.com"))).toEqual({ allow: true, reasons: [] });
    expect(await block.decide(input("evil.example.com"))).toEqual({ allow: false, reasons: ["blocked host"] });
    expect(await block.decide(input("api.example.com", "DELETE"))).toEqual({
      allow: false,
      reasons: ["api.example.com is read-only"],
    });
    const none = await compileNetwork(spec("package t.net\n"));
    expect(await none.decide(input("api.example.com"))).toEqual({ allow: false, reasons: [] });
  });

  it("packages the block for the proxy: attestation globs, address allowances, body use", async () => {
    const block = await compileNetwork(
      spec("package t.net\nallow if true\n", {
        require_attestation: ["*.pay.example.com"],
        allow_addresses: ["10.1.0.0/16"],
        resolve: { "API.internal": "10.1.2.3" },
      }),
    );
    expect(block.proxy.requireAttestation("eu.pay.example.com")).toBe(true);
    expect(block.proxy.requireAttestation("pay.example.com")).toBe(false);
    expect(block.proxy.allowAddresses.has("10.1.9.9")).toBe(true);
    expect(block.proxy.resolve).toEqual({ "api.internal": "10.1.2.3" });
    expect(block.proxy.inspectsBody).toBe(false);
    const reads = await compileNetwork(spec("package t.net\nallow if input.request.body.ok == true\n"));
    expect(reads.proxy.inspectsBody).toBe(true);
  });
});

describe("http.request intents", () => {
  it("become the section 6 input the proxy would build", () => {
    const i = intentInput(
      {
        agent: "a",
        action: "http.request",
        params: {
          method: "POST",
          url: "https://API.example.com/v1/items?tag=a&tag=b",
          headers: { "Content-Type": "application/json" },
          body: '{"n":1}',
        },
        context: {},
      } as never,
      new Date("2026-03-20T14:30:00.123Z"),
    );
    expect(i).toEqual({
      request: {
        method: "POST",
        host: "api.example.com",
        port: 443,
        path: "/v1/items",
        query: { tag: ["a", "b"] },
        headers: { "content-type": "application/json", host: "api.example.com" },
        body: { n: 1 },
      },
      source: { binary: null, pid: null, sandbox_id: null },
      attestation: null,
      timestamp: "2026-03-20T14:30:00Z",
    });
  });

  it("are decided by the block's evaluator; other actions abstain", async () => {
    const block = await compileNetwork(spec('package t.net\nallow if input.request.method == "GET"\n'));
    const env = { now: new Date() };
    const mk = (method: string) =>
      ({ agent: "a", action: "http.request", params: { method, url: "https://x.example.com/" }, context: {} }) as never;
    expect((await block.evaluator(mk("GET"), env)).effect).toBe("allow");
    const denied = await block.evaluator(mk("PUT"), env);
    expect(denied.effect).toBe("deny");
    expect(denied.reasons[0]!.message).toBe("no network rule allows PUT x.example.com/");
    expect(
      (await block.evaluator({ agent: "a", action: "tool.call", params: {}, context: {} } as never, env)).effect,
    ).toBe("abstain");
  });
});
