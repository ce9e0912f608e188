// `nemoclaw check` reports what NemoClaw would refuse, and passes once the sidecar created its CA and serves the socket.
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../../proxy/ca.ts";
import { startActivationServer, type ActivationServer } from "../../sidecar/nemoclaw/index.ts";
import { privateTmp, privateTmpAvailable } from "./private-tmp.ts";
import net from "node:net";
import { CallerVerifier, startOpenShellServices, type OpenShellServices } from "../../sidecar/openshell/index.ts";
import { proxyPolicy } from "../../proxy/policy.ts";
import { createProxyVerifier } from "../../proxy/attestation.ts";
import { pinnedKeys } from "../../executor-gate/jwks.ts";
import { runCli } from "./run-cli.ts";

let home: string;
let server: ActivationServer | undefined;
let services: OpenShellServices | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
const declaration = () => path.join(home, ".config", "nemoclaw", "external-component.json");

async function check() {
  const r = await runCli(["nemoclaw", "check", "--home", home, "--json"]);
  const results = JSON.parse(r.stdout) as { check: string; ok: boolean; message: string }[];
  return { code: r.code, byCheck: Object.fromEntries(results.map((x) => [x.check, x])) };
}

beforeEach(() => {
  if (!privateTmpAvailable) return;
  home = privateTmp("check-");
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await services?.close();
  services = undefined;
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!privateTmpAvailable)("intent-sidecar nemoclaw check", () => {
  it("fails without a declaration and says how to make one", async () => {
    const { code, byCheck } = await check();
    expect(code).toBe(1);
    expect(byCheck["declaration file"]).toMatchObject({
      ok: false,
      message: expect.stringMatching(/nemoclaw install/),
    });
  });

  it("fails until the CA exists and the socket is served, then passes", async () => {
    const dataDir = path.join(home, "data");
    const [ip, mp] = [await freePort(), await freePort()];
    const install = [
      ["--interceptor-endpoint", `https://127.0.0.1:${ip}`],
      ["--middleware-endpoint", `https://host.openshell.internal:${mp}`],
    ].flat();
    expect((await runCli(["nemoclaw", "install", "--home", home, "--data-dir", dataDir, ...install])).code).toBe(0);
    let r = await check();
    expect(r.code).toBe(1);
    expect(r.byCheck["declaration file"]!.ok).toBe(true);
    expect(r.byCheck["declaration content"]!.ok).toBe(true);
    expect(r.byCheck["interceptor CA file"]).toMatchObject({
      ok: false,
      message: expect.stringMatching(/does not exist/),
    });
    expect(r.byCheck["activation socket"]!.ok).toBe(false);
    expect(r.byCheck["middleware service"]).toMatchObject({ ok: false, message: expect.stringMatching(/--middleware-addr/) });

    const ca = await CertificateAuthority.loadOrCreate(dataDir);
    const decl = JSON.parse(fs.readFileSync(declaration(), "utf8"));
    server = await startActivationServer({
      socketPath: decl.activationSocketPath,
      componentId: decl.componentId,
      activePolicyDigest: () => `sha256:${"c".repeat(64)}`,
    });
    // the gRPC services on the declared ports, with leaves from the same CA
    services = await startOpenShellServices({
      middleware: {
        addr: `127.0.0.1:${mp}`,
        name: decl.middleware.name,
        audience: decl.middleware.audience,
        tls: { ca: { authority: ca, host: "host.openshell.internal" } },
      },
      interceptor: {
        addr: `127.0.0.1:${ip}`,
        name: decl.componentId,
        audience: decl.interceptor.audience,
        middlewareName: decl.middleware.name,
        tls: { ca: { authority: ca, host: "127.0.0.1" } },
      },
      callers: new CallerVerifier({ anchors: () => [] }),
      env: {
        policy: () => proxyPolicy({ decide: () => ({ allow: false, reasons: [] }) }),
        attestations: createProxyVerifier({ keys: pinnedKeys([]) }),
        principal: (id) => ({ sandboxId: id, agent: null, gateway: null, activated: false }),
        now: () => new Date(),
      },
      governedHosts: () => [],
    });
    r = await check();
    expect(Object.values(r.byCheck).filter((x) => !x.ok)).toEqual([]);
    expect(r.code).toBe(0);

    // a key in the CA file, a loose mode on the declaration: both refused, as NemoClaw would
    const caPath = path.join(dataDir, "proxy-ca.crt.pem");
    fs.appendFileSync(caPath, fs.readFileSync(path.join(dataDir, "proxy-ca.key.pem")));
    fs.chmodSync(declaration(), 0o644);
    r = await check();
    expect(r.byCheck["declaration file"]).toMatchObject({ ok: false, message: expect.stringMatching(/mode 644/) });
    expect(r.byCheck["interceptor CA file"]).toMatchObject({
      ok: false,
      message: expect.stringMatching(/certificates only/),
    });
  });

  it("reports a declaration field NemoClaw would refuse", async () => {
    expect((await runCli(["nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d")])).code).toBe(0);
    const decl = JSON.parse(fs.readFileSync(declaration(), "utf8"));
    decl.interceptor.endpoint = "https://0.0.0.0:9443";
    fs.writeFileSync(declaration(), JSON.stringify(decl));
    const r = await check();
    expect(r.byCheck["declaration content"]).toMatchObject({
      ok: false,
      message: expect.stringMatching(/endpoint_restricted/),
    });
  });
});
