// The real daemon with --middleware-addr and --interceptor-addr: the ready line names both; a gateway NemoClaw
// prepared through /v2/prepare is trusted at once; its supervisor token gets the reference policy's decisions.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post, preparation } from "../nemoclaw/nemoclaw-client.ts";
import { privateTmp, privateTmpAvailable } from "../nemoclaw/private-tmp.ts";
import { runCli } from "../nemoclaw/run-cli.ts";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";
import { evaluation, interceptorClient, middlewareClient, testGateway, type TestClient } from "./harness.ts";

let dir: string;
let daemon: RunningDaemon;
let declared: { activationSocketPath: string; interceptor: { audience: string }; middleware: { audience: string } };
let mw: TestClient;
let ic: TestClient;
const gateway = testGateway("gw-0123");

beforeAll(async () => {
  if (!privateTmpAvailable) return;
  dir = privateTmp("openshell-");
  const dataDir = path.join(dir, "data");
  const declaration = path.join(dir, "home", ".config", "nemoclaw", "external-component.json");
  const installed = await runCli(["nemoclaw", "install", "--declaration", declaration, "--data-dir", dataDir]);
  expect(installed.code, installed.stderr).toBe(0);
  declared = JSON.parse(installed.stdout).declaration;
  daemon = await spawnDaemon(
    ["--data-dir", dataDir, "--middleware-addr", "127.0.0.1:0", "--interceptor-addr", "127.0.0.1:0"],
    { INTENT_SIDECAR_NEMOCLAW_DECLARATION: declaration },
    { readyTimeoutMs: 55_000 },
  );
  const ca = fs.readFileSync(path.join(dataDir, "proxy-ca.crt.pem"), "utf8");
  const ready = daemon.ready as unknown as { middleware_addr: string; interceptor_addr: string };
  mw = middlewareClient(ready.middleware_addr, ca);
  ic = interceptorClient(ready.interceptor_addr, ca);
}, 60_000);

afterAll(async () => {
  mw?.close();
  ic?.close();
  await daemon?.stop("SIGKILL");
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!privateTmpAvailable)("daemon serving OpenShell", () => {
  it("names both listeners in the ready line", () => {
    const ready = daemon.ready as unknown as Record<string, string>;
    expect(ready.middleware_addr).toMatch(/^127\.0\.0\.1:\d+$/u);
    expect(ready.interceptor_addr).toMatch(/^127\.0\.0\.1:\d+$/u);
  });

  it("trusts the gateway NemoClaw prepared, and only after the preparation", async () => {
    const token = await gateway.token({ aud: declared.middleware.audience, sandbox_id: "sbx-9" });
    const req = evaluation({ sandbox: "sbx-9", host: "api.production.company.com", method: "POST", body: "{}" });
    const before = await mw.call("EvaluateHttpRequest", req, token);
    expect([before.decision, before.reason_code]).toEqual(["DENY", "policy_denied"]);
    expect(before.reason).toMatch(/untrusted_issuer/);
    const prep = await post(
      declared.activationSocketPath,
      "/v2/prepare",
      preparation("intent-sidecar", {
        gateway: {
          name: "nemoclaw",
          id: "gw-0123",
          issuer: gateway.issuer,
          publicKeyPem: gateway.publicKeyPem,
          kid: gateway.kid,
          extensionTokenTtlSecs: 900,
        },
        interceptor: declared.interceptor,
        middleware: declared.middleware,
      }),
    );
    expect(prep.json.result).toBe("prepared");
    // the reference policy requires attestations for api.production.company.com
    const after = await mw.call("EvaluateHttpRequest", req, token);
    expect([after.decision, after.reason_code]).toEqual(["DENY", "attestation_missing"]);
    const gw = await gateway.token({ aud: declared.interceptor.audience, caller_kind: "gateway" });
    const r = await ic.call(
      "Evaluate",
      {
        interceptor_name: "intent-sidecar",
        binding_id: "b",
        service: "openshell.v1.OpenShell",
        method: "CreateSandbox",
        validate: {
          proposed_operation: {
            fields: { host: { stringValue: "api.production.company.com" }, tls: { stringValue: "skip" } },
          },
        },
      },
      gw,
    );
    expect(r).toMatchObject({ allowed: false, status_code: "PERMISSION_DENIED" });
  });

  it("stops cleanly on SIGTERM with both listeners open", async () => {
    expect(await daemon.stop("SIGTERM")).toBe(0);
  });
});
