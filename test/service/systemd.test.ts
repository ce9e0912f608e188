import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderUnit, systemdQuote, userUnitDir } from "../../sidecar/service/systemd.ts";
import { runCli } from "../nemoclaw/run-cli.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "svc-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function directive(unit: string, key: string): string[] {
  return unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe("intent-sidecar service install", () => {
  it("writes a user unit that starts the daemon, reloads with SIGHUP and stops with SIGTERM", async () => {
    const out = path.join(dir, "units");
    const r = await runCli([
      "service",
      "install",
      "--output",
      out + "/",
      "--data-dir",
      path.join(dir, "data"),
      "--policy",
      "policy-examples/reference/policy.yaml",
      "--env-file",
      path.join(dir, "tokens.env"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(out, "intent-sidecar.service");
    expect(JSON.parse(r.stdout)).toMatchObject({ event: "service.installed", path: file, unchanged: false });
    expect(r.stderr).toMatch(/systemctl --user daemon-reload && systemctl --user enable --now intent-sidecar/);
    const unit = fs.readFileSync(file, "utf8");
    const exec = directive(unit, "ExecStart")[0]!.split(" ");
    expect(exec[0]).toBe(process.execPath);
    expect(exec[1]).toBe(path.resolve("bin/intent-sidecar.mjs"));
    expect(exec.slice(2)).toEqual([
      "start",
      "--data-dir",
      path.join(dir, "data"),
      "--policy",
      path.resolve("policy-examples/reference/policy.yaml"),
    ]);
    expect(directive(unit, "ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(directive(unit, "KillSignal")).toEqual(["SIGTERM"]);
    expect(directive(unit, "Restart")).toEqual(["on-failure"]);
    expect(directive(unit, "UMask")).toEqual(["0077"]);
    expect(directive(unit, "EnvironmentFile")).toEqual([`-${path.join(dir, "tokens.env")}`]);
    expect(directive(unit, "WantedBy")).toEqual(["default.target"]);
    expect(unit).not.toMatch(/TOKEN/); // tokens stay in the environment file
    // sections in order
    expect(unit.indexOf("[Unit]")).toBeLessThan(unit.indexOf("[Service]"));
    expect(unit.indexOf("[Service]")).toBeLessThan(unit.indexOf("[Install]"));
  });

  it("is idempotent and refuses to clobber a different unit without --force", async () => {
    const file = path.join(dir, "x.service");
    const args = ["service", "install", "--output", file, "--data-dir", path.join(dir, "data")];
    expect((await runCli(args)).code).toBe(0);
    expect(JSON.parse((await runCli(args)).stdout)).toMatchObject({ unchanged: true });
    const other = await runCli([...args.slice(0, 4), "--data-dir", path.join(dir, "other")]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--force/);
    expect(fs.readFileSync(file, "utf8")).toContain(path.join(dir, "data"));
    expect((await runCli([...args.slice(0, 4), "--data-dir", path.join(dir, "other"), "--force"])).code).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toContain(path.join(dir, "other"));
  });

  it("defaults to $XDG_CONFIG_HOME/systemd/user", () => {
    expect(userUnitDir({ XDG_CONFIG_HOME: "/x/cfg" }, "/home/u")).toBe("/x/cfg/systemd/user");
    expect(userUnitDir({}, "/home/u")).toBe("/home/u/.config/systemd/user");
  });

  it("quotes paths with spaces, % and $ so systemd passes them through unchanged", () => {
    expect(systemdQuote("/a b/c")).toBe('"/a b/c"');
    expect(systemdQuote("/50%/x")).toBe("/50%%/x");
    expect(systemdQuote("/$HOME/x")).toBe("/$$HOME/x");
    expect(() => systemdQuote("a\nb")).toThrow(/newline/);
    const unit = renderUnit({
      cli: "/opt/my tools/bin/intent-sidecar.mjs",
      dataDir: "/var/lib/side car",
      node: "/usr/bin/node",
    });
    expect(directive(unit, "ExecStart")[0]).toBe(
      '/usr/bin/node "/opt/my tools/bin/intent-sidecar.mjs" start --data-dir "/var/lib/side car"',
    );
  });

  it("--print writes nothing", async () => {
    const r = await runCli(["service", "install", "--print", "--output", path.join(dir, "never.service")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ExecStart=/m);
    expect(fs.existsSync(path.join(dir, "never.service"))).toBe(false);
  });
});
