// The supervisor middleware and gateway interceptor as OpenShell calls them: gRPC over TLS (sidecar CA), a freshly
// minted EdDSA caller token, requests built from our .proto files by @grpc/proto-loader.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { CertificateAuthority, createProxyVerifier, proxyPolicy, type NetworkInput } from "../../proxy/index.ts";
import { CallerVerifier, startOpenShellServices, type OpenShellServices } from "../../sidecar/openshell/index.ts";
import type { MiddlewareDecision } from "../../sidecar/openshell/middleware.ts";
import { testSigner } from "../proxy/attest.ts";
import { evaluation, interceptorClient, middlewareClient, struct, testGateway, type TestClient } from "./harness.ts";

const AUD = "urn:intent-sidecar:middleware";
const IAUD = "urn:intent-sidecar:admission";
const gateway = testGateway();
const signer = testSigner();
const inputs: NetworkInput[] = [];
const decisions: MiddlewareDecision[] = [];
let ca: CertificateAuthority;
let services: OpenShellServices;
let mw: TestClient;
let ic: TestClient;
let sup: string; // supervisor token for sbx-1
let policyBroken = false;

const decide = (input: NetworkInput) => {
  inputs.push(input);
  const r = input.request;
  if (r.method === "GET") return { allow: true, reasons: [] };
  if (r.host === "gov.example.com" || r.host.endsWith(".pay.example.com")) return { allow: true, reasons: [] };
  return { allow: false, reasons: [`${r.method} is not allowed to ${r.host}`] };
};
const policy = proxyPolicy({ decide, requireAttestation: ["gov.example.com"], inspectsBody: true });

beforeAll(async () => {
  ca = await CertificateAuthority.ephemeral();
  services = await startOpenShellServices({
    middleware: {
      addr: "127.0.0.1:0",
      name: "intent-sidecar/middleware",
      audience: AUD,
      tls: { ca: { authority: ca, host: "host.openshell.internal" } },
    },
    interceptor: {
      addr: "127.0.0.1:0",
      name: "intent-sidecar",
      audience: IAUD,
      middlewareName: "intent-sidecar/middleware",
      tls: { ca: { authority: ca, host: "127.0.0.1" } },
    },
    callers: new CallerVerifier({ anchors: () => [{ issuer: gateway.issuer, kid: gateway.kid, publicKeyPem: gateway.publicKeyPem }] }),
    env: {
      policy: () => {
        if (policyBroken) throw new Error("policy store exploded");
        return policy;
      },
      attestations: createProxyVerifier({ keys: signer.keys }),
      principal: (id) => ({ sandboxId: id, agent: id === "sbx-agent2" ? "agent-2" : null, gateway: null, activated: false }),
      now: () => new Date(),
    },
    governedHosts: () => ["gov.example.com"],
    onDecision: (d) => decisions.push(d),
  });
  mw = middlewareClient(services.middlewareAddr!, ca.certPem);
  ic = interceptorClient(services.interceptorAddr!, ca.certPem);
  sup = await gateway.token({ aud: AUD, sandbox_id: "sbx-1" });
});

afterAll(async () => {
  mw?.close();
  ic?.close();
  await services?.close();
});

const mutations = (r: Record<string, unknown>) => r.header_mutations as Record<string, unknown>[];

describe("SupervisorMiddleware", () => {
  it("Describe: one HTTP request binding before credentials, 4 MiB, 200ms, the audience", async () => {
    const m = await mw.call("Describe", {});
    expect(m.name).toBe("intent-sidecar/middleware");
    expect(m.expected_audience).toBe(AUD);
    expect(m.bindings).toEqual([{ operation: "HTTP_REQUEST", phase: "PRE_CREDENTIALS", max_payload_bytes: 4 * 1024 * 1024, timeout: "200ms" }]);
  });

  it("ValidateConfig accepts host globs and reports bad config; a token is required", async () => {
    const gw = await gateway.token({ aud: AUD, caller_kind: "gateway" });
    expect(await mw.call("ValidateConfig", { config: struct({ require_attestation: ["*.pay.example.com"] }) }, gw)).toMatchObject({
      valid: true,
      errors: [],
    });
    const bad = await mw.call("ValidateConfig", { config: struct({ require_attestation: "x", extra: 1 }) }, gw);
    expect(bad.valid).toBe(false);
    expect((bad.errors as string[]).join(" ")).toMatch(/unknown key "extra".*require_attestation must be a list/);
    const bad2 = await mw.call("ValidateConfig", { config: struct({ require_attestation: [""] }) }, gw);
    expect(bad2.valid).toBe(false);
    await expect(mw.call("ValidateConfig", { config: struct({}) })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("allows what the network rules allow, with the proxy's input document", async () => {
    inputs.length = 0;
    const r = await mw.call(
      "EvaluateHttpRequest",
      evaluation({ host: "API.Example.com", path: "/a/./b/../c", query: "x=1&x=2", headers: [["accept", "application/json"]] }),
      sup,
    );
    expect(r.decision).toBe("ALLOW");
    expect(r.reason_code).toBe("");
    expect(mutations(r)).toEqual([]);
    expect(inputs[0]!.request).toMatchObject({
      method: "GET",
      host: "api.example.com",
      port: 443,
      path: "/a/c",
      query: { x: ["1", "2"] },
      headers: { accept: "application/json", host: "api.example.com" },
    });
    expect(inputs[0]!.source).toEqual({ binary: "/usr/bin/python3", pid: 4242, sandbox_id: "sbx-1" });
  });

  it("denies what the rules deny: policy_denied", async () => {
    const r = await mw.call("EvaluateHttpRequest", evaluation({ host: "api.example.com", method: "POST", body: "{}" }), sup);
    expect(r.decision).toBe("DENY");
    expect(r.reason_code).toBe("policy_denied");
    expect(r.reason).toContain("POST is not allowed to api.example.com");
  });

  const govBody = JSON.stringify({ amount: 5 });
  const govUrl = "https://gov.example.com/pay";

  it("a governed host without an attestation: attestation_missing", async () => {
    const r = await mw.call(
      "EvaluateHttpRequest",
      evaluation({ host: "gov.example.com", method: "POST", path: "/pay", headers: [["content-type", "application/json"]], body: govBody }),
      sup,
    );
    expect([r.decision, r.reason_code]).toEqual(["DENY", "attestation_missing"]);
  });

  it("attested: ALLOW, the attestation header removed, the intent id written; then replayed", async () => {
    const token = signer.attest({ method: "POST", url: govUrl, body: JSON.parse(govBody) as unknown, headers: { "content-type": "application/json" } });
    const req = evaluation({
      host: "gov.example.com",
      method: "POST",
      path: "/pay",
      headers: [
        ["content-type", "application/json"],
        ["x-intent-attestation", token],
      ],
      body: govBody,
    });
    const r = await mw.call("EvaluateHttpRequest", req, sup);
    expect(r.decision).toBe("ALLOW");
    const jti = (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti: string }).jti;
    expect(mutations(r)).toEqual([
      { remove: { name: "x-intent-attestation" }, mutation: "remove" },
      { write: { name: "x-openshell-middleware-intent-id", value: jti, on_existing: "OVERWRITE" }, mutation: "write" },
    ]);
    expect((r.metadata as Record<string, string>)["intent_sidecar.intent_id"]).toBe(jti);
    // the rules saw the verified claims, never the token
    expect(inputs.at(-1)!.attestation?.jti).toBe(jti);
    expect(inputs.at(-1)!.request.headers["x-intent-attestation"]).toBeUndefined();
    const again = await mw.call("EvaluateHttpRequest", req, sup);
    expect([again.decision, again.reason_code]).toEqual(["DENY", "attestation_replayed"]);
  });

  it("a tampered body: digest_mismatch; a garbage attestation: attestation_invalid", async () => {
    const token = signer.attest({ method: "POST", url: govUrl, body: { amount: 5 }, headers: { "content-type": "application/json" } });
    const tampered = await mw.call(
      "EvaluateHttpRequest",
      evaluation({
        host: "gov.example.com",
        method: "POST",
        path: "/pay",
        headers: [
          ["content-type", "application/json"],
          ["x-intent-attestation", token],
        ],
        body: JSON.stringify({ amount: 5000 }),
      }),
      sup,
    );
    expect([tampered.decision, tampered.reason_code]).toEqual(["DENY", "digest_mismatch"]);
    const garbage = await mw.call(
      "EvaluateHttpRequest",
      evaluation({ host: "gov.example.com", method: "POST", path: "/pay", headers: [["x-intent-attestation", "a.b.c"]], body: govBody }),
      sup,
    );
    expect([garbage.decision, garbage.reason_code]).toEqual(["DENY", "attestation_invalid"]);
  });

  it("an attestation issued to another agent than the sandbox runs: attestation_invalid", async () => {
    const token = signer.attest({ method: "POST", url: govUrl, body: { amount: 5 }, headers: { "content-type": "application/json" } });
    const r = await mw.call(
      "EvaluateHttpRequest",
      evaluation({
        sandbox: "sbx-agent2",
        host: "gov.example.com",
        method: "POST",
        path: "/pay",
        headers: [
          ["content-type", "application/json"],
          ["x-intent-attestation", token],
        ],
        body: govBody,
      }),
      await gateway.token({ aud: AUD, sandbox_id: "sbx-agent2" }),
    );
    expect([r.decision, r.reason_code]).toEqual(["DENY", "attestation_invalid"]);
  });

  it("the sandbox policy's config can govern more hosts", async () => {
    const r = await mw.call(
      "EvaluateHttpRequest",
      evaluation({ host: "api.pay.example.com", method: "POST", body: "x", config: { require_attestation: ["*.pay.example.com"] } }),
      sup,
    );
    expect([r.decision, r.reason_code]).toEqual(["DENY", "attestation_missing"]);
  });

  it("a request may not write the intent id header itself", async () => {
    const r = await mw.call(
      "EvaluateHttpRequest",
      evaluation({ host: "api.example.com", headers: [["x-openshell-middleware-intent-id", "forged"]] }),
      sup,
    );
    expect(r.decision).toBe("ALLOW");
    expect(mutations(r)).toEqual([{ remove: { name: "x-openshell-middleware-intent-id" }, mutation: "remove" }]);
  });

  it("caller tokens: wrong audience, expired, wrong sandbox, gateway kind, none, foreign key: DENY policy_denied", async () => {
    const now = Math.floor(Date.now() / 1000);
    const other = testGateway("gw-other");
    const cases: [string, string | undefined][] = [
      ["wrong_audience", await gateway.token({ aud: "urn:someone-else", sandbox_id: "sbx-1" })],
      ["expired", await gateway.token({ aud: AUD, sandbox_id: "sbx-1", iat: now - 700, exp: now - 100 })],
      ["sandbox", await gateway.token({ aud: AUD, sandbox_id: "sbx-2" })],
      ["wrong_caller_kind", await gateway.token({ aud: AUD, caller_kind: "gateway" })],
      ["missing", undefined],
      ["untrusted_issuer", await other.token({ aud: AUD, sandbox_id: "sbx-1" })],
      ["wrong_type", await gateway.token({ aud: AUD, sandbox_id: "sbx-1", typ: "JWT" })],
      ["lifetime", await gateway.token({ aud: AUD, sandbox_id: "sbx-1", exp: now + 7200 })],
    ];
    for (const [why, token] of cases) {
      const r = await mw.call("EvaluateHttpRequest", evaluation({ host: "api.example.com" }), token);
      expect([why, r.decision, r.reason_code]).toEqual([why, "DENY", "policy_denied"]);
      expect(r.reason).toMatch(/caller/);
    }
  });

  it("an internal error denies: internal_error", async () => {
    policyBroken = true;
    try {
      const r = await mw.call("EvaluateHttpRequest", evaluation({ host: "api.example.com" }), sup);
      expect([r.decision, r.reason_code]).toEqual(["DENY", "internal_error"]);
    } finally {
      policyBroken = false;
    }
  });

  it("malformed and oversized messages get gRPC errors and the service stays up", async () => {
    const path = "/openshell.middleware.v1.SupervisorMiddleware/EvaluateHttpRequest";
    // field 2 (context) declared 100 bytes long, 1 present
    await expect(mw.raw(path, Buffer.from([0x12, 0x64, 0x01]), sup)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    // field 4 (target) with a varint wire type
    await expect(mw.raw(path, Buffer.from([0x20, 0x01]), sup)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    // invalid UTF-8 in a string
    await expect(mw.raw(path, Buffer.from([0x3a, 0x02, 0xff, 0xfe]), sup)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    const big = evaluation({ host: "api.example.com", method: "POST", body: Buffer.alloc(5 * 1024 * 1024, 0x61) });
    const err = (await mw.call("EvaluateHttpRequest", big, sup).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    const ok = await mw.call("EvaluateHttpRequest", evaluation({ host: "api.example.com" }), sup);
    expect(ok.decision).toBe("ALLOW");
    expect((await mw.call("Describe", {})).name).toBe("intent-sidecar/middleware");
  });

  it("records every decision (denials go to the audit log in the daemon)", () => {
    expect(decisions.some((d) => !d.allowed && d.reasonCode === "attestation_replayed")).toBe(true);
    expect(decisions.every((d) => d.allowed === (d.reasonCode === null))).toBe(true);
  });
});

describe("GatewayInterceptor (validate on CreateSandbox / UpdateConfig)", () => {
  const validate = (policy: Record<string, unknown>) => ({
    interceptor_name: "intent-sidecar",
    binding_id: "intent-sidecar.create-sandbox",
    service: "openshell.v1.OpenShell",
    method: "CreateSandbox",
    principal: { user: "alice" },
    validate: { proposed_operation: struct({ spec: { policy } }), current_state: struct({}) },
  });
  const endpoints = (tls?: string) => ({
    network_policies: { pay: { endpoints: [{ host: "gov.example.com", port: 443, ...(tls ? { tls } : {}) }], binaries: [{ path: "/usr/bin/curl" }] } },
  });
  const ours = (extra: Record<string, unknown> = {}) => ({
    middleware: [{ name: "intent-sidecar/middleware", hosts: ["gov.example.com"], on_error: "fail_closed", ...extra }],
  });
  let gw: string;
  beforeAll(async () => {
    gw = await gateway.token({ aud: IAUD, caller_kind: "gateway" });
  });

  it("Describe names the bindings and the audience", async () => {
    const m = await ic.call("Describe", {});
    expect(m.expected_audience).toBe(IAUD);
    expect((m.bindings as { rpc: string }[]).map((b) => b.rpc)).toEqual([
      "openshell.v1.OpenShell/CreateSandbox",
      "openshell.v1.OpenShell/UpdateConfig",
    ]);
  });

  it("admits a policy that routes the governed host through the middleware, failing closed", async () => {
    const r = await ic.call("Evaluate", validate({ ...endpoints(), ...ours() }), gw);
    expect(r).toMatchObject({ allowed: true, status_code: "OK" });
  });

  it("admits a policy that does not reach governed hosts at all", async () => {
    const r = await ic.call(
      "Evaluate",
      validate({ network_policies: { gh: { endpoints: [{ host: "api.github.com", port: 443 }] } } }),
      gw,
    );
    expect(r.allowed).toBe(true);
  });

  it("rejects a governed host without the middleware, with fail_open, or with tls: skip", async () => {
    const without = await ic.call("Evaluate", validate(endpoints()), gw);
    expect(without).toMatchObject({ allowed: false, status_code: "PERMISSION_DENIED" });
    expect(without.reason).toMatch(/gov\.example\.com requires attestations but middleware intent-sidecar\/middleware does not select it/);
    const failOpen = await ic.call("Evaluate", validate({ ...endpoints(), ...ours({ on_error: "fail_open" }) }), gw);
    expect(failOpen).toMatchObject({ allowed: false, status_code: "PERMISSION_DENIED" });
    expect(failOpen.reason).toMatch(/fail_open/);
    const skip = await ic.call("Evaluate", validate({ ...endpoints("skip"), ...ours() }), gw);
    expect(skip).toMatchObject({ allowed: false, status_code: "PERMISSION_DENIED" });
    expect(skip.reason).toMatch(/tls: skip/);
    const wildcard = await ic.call(
      "Evaluate",
      validate({ network_policies: { any: { endpoints: [{ host: "*.example.com", port: 443 }] } }, ...ours() }),
      gw,
    );
    expect(wildcard.allowed).toBe(false);
  });

  it("only the gateway may call it", async () => {
    const supervisor = await gateway.token({ aud: IAUD, sandbox_id: "sbx-1" });
    await expect(ic.call("Evaluate", validate(endpoints()), supervisor)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(ic.call("Evaluate", validate(endpoints()))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(ic.call("Evaluate", validate(endpoints()), sup)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });
});
