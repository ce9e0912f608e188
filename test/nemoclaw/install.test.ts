import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readDeclaration } from "../../sidecar/nemoclaw/index.ts";
import { privateTmp, privateTmpAvailable } from "./private-tmp.ts";
import { runCli } from "./run-cli.ts";

const CLI = path.resolve(import.meta.dirname, "../../bin/intent-sidecar.mjs");
let home: string;

const cli = (...args: string[]) => runCli(args);

beforeEach(() => {
  if (!privateTmpAvailable) return;
  home = privateTmp("home-");
});
afterEach(() => {
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!privateTmpAvailable)("intent-sidecar nemoclaw install|uninstall", () => {
  it("writes exactly the v2 declaration fields, mode 0600, in ~/.config/nemoclaw", async () => {
    const dataDir = path.join(home, "data");
    const r = await cli("nemoclaw", "install", "--home", home, "--data-dir", dataDir);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(home, ".config", "nemoclaw", "external-component.json");
    expect(JSON.parse(r.stdout)).toMatchObject({ event: "nemoclaw.installed", path: file });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o022).toBe(0);
    const decl = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(decl).toStrictEqual({
      schemaVersion: 2,
      componentId: "intent-sidecar",
      activationSocketPath: path.join(dataDir, "nemoclaw", "activation.sock"),
      interceptor: {
        endpoint: "https://127.0.0.1:7403",
        caCertificatePath: path.join(dataDir, "proxy-ca.crt.pem"),
        audience: "urn:intent-sidecar:admission",
      },
      middleware: {
        name: "intent-sidecar/middleware",
        endpoint: "https://host.openshell.internal:7404",
        caCertificatePath: path.join(dataDir, "proxy-ca.crt.pem"),
        audience: "urn:intent-sidecar:middleware",
      },
    });
    // the CA does not exist yet: say what to do
    expect(r.stderr).toContain(`intent-sidecar ca export --data-dir ${dataDir}`);
  });

  it("takes every connection setting from flags and can name itself the provider-profile source", async () => {
    const r = await cli(
      "nemoclaw",
      "install",
      "--home",
      home,
      "--data-dir",
      path.join(home, "d"),
      "--component-id",
      "acme/policy",
      "--interceptor-endpoint",
      "https://127.0.0.1:9443",
      "--middleware-endpoint",
      "https://host.openshell.internal:9444",
      "--middleware-name",
      "acme/mw",
      "--interceptor-audience",
      "urn:acme:admission",
      "--middleware-audience",
      "urn:acme:mw",
      "--provider-profile-source",
    );
    expect(r.code, r.stderr).toBe(0);
    const decl = readDeclaration(path.join(home, ".config", "nemoclaw", "external-component.json"))!;
    expect(decl).toMatchObject({
      componentId: "acme/policy",
      providerProfileSource: "acme/policy",
      interceptor: { endpoint: "https://127.0.0.1:9443", audience: "urn:acme:admission" },
      middleware: { name: "acme/mw", endpoint: "https://host.openshell.internal:9444", audience: "urn:acme:mw" },
    });
  });

  it.each([
    [["--interceptor-endpoint", "https://localhost:9443"], /endpoint_restricted/],
    [["--middleware-endpoint", "https://10.0.0.1:9444"], /endpoint_restricted/],
    [["--interceptor-endpoint", "http://127.0.0.1:9443"], /endpoint_restricted/],
    [["--component-id", "openshell/x"], /declaration_invalid/],
    [["--interceptor-audience", "has space"], /declaration_invalid/],
    [["--socket", "/tmp/activation.sock"], /socket_parent_unsafe/],
  ])("refuses what NemoClaw would refuse: %s", async (flags, message) => {
    const r = await cli("nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d"), ...flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(path.join(home, ".config", "nemoclaw", "external-component.json"))).toBe(false);
  });

  it("never overwrites another component's declaration without --force, and uninstalls only its own", async () => {
    const file = path.join(home, ".config", "nemoclaw", "external-component.json");
    expect(
      (await cli("nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d"), "--component-id", "other"))
        .code,
    ).toBe(0);
    const before = fs.readFileSync(file, "utf8");
    const clash = await cli("nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d"));
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/already declares component "other"/);
    expect(fs.readFileSync(file, "utf8")).toBe(before);

    const notOurs = await cli("nemoclaw", "uninstall", "--home", home);
    expect(notOurs.code).toBe(2);
    expect(fs.existsSync(file)).toBe(true);

    expect((await cli("nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d"), "--force")).code).toBe(
      0,
    );
    expect(readDeclaration(file)!.componentId).toBe("intent-sidecar");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const removed = await cli("nemoclaw", "uninstall", "--home", home);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: true });
    expect(fs.existsSync(file)).toBe(false);
    // idempotent
    expect(JSON.parse((await cli("nemoclaw", "uninstall", "--home", home)).stdout)).toMatchObject({ removed: false });
  });

  it("refuses to read a declaration that is a symlink", async () => {
    const dir = path.join(home, ".config", "nemoclaw");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(home, "elsewhere.json"), "{}");
    fs.symlinkSync(path.join(home, "elsewhere.json"), path.join(dir, "external-component.json"));
    const r = await cli("nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/symbolic link/);
  });

  it("works through the real binary", () => {
    const r = spawnSync(
      process.execPath,
      [CLI, "nemoclaw", "install", "--home", home, "--data-dir", path.join(home, "d")],
      {
        encoding: "utf8",
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readDeclaration(path.join(home, ".config", "nemoclaw", "external-component.json"))!.componentId).toBe(
      "intent-sidecar",
    );
  });
});
