// hooks/sandbox-start.sh starts the sidecar, waits for /healthz and prints the proxy environment;
// hooks/sandbox-stop.sh stops what the start hook started with SIGTERM.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const HOOKS = path.resolve(import.meta.dirname, "../../hooks");
let dir: string;
let env: NodeJS.ProcessEnv;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function hook(name: string) {
  const r = spawnSync("bash", [path.join(HOOKS, name)], { env, encoding: "utf8", timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "hooks-"));
  env = {
    ...process.env,
    INTENT_SIDECAR_DATA_DIR: path.join(dir, "data"),
    INTENT_SIDECAR_AGENT_ADDR: `127.0.0.1:${await freePort()}`,
    INTENT_SIDECAR_PROXY_ADDR: `127.0.0.1:${await freePort()}`,
    INTENT_SIDECAR_OPERATOR_ADDR: `127.0.0.1:${await freePort()}`,
    INTENT_SIDECAR_HEALTH_TIMEOUT: "60",
    INTENT_SIDECAR_NEMOCLAW_DECLARATION: path.join(dir, "none.json"),
  };
});

afterAll(() => {
  const pidFile = path.join(dir, "data", "sidecar.pid");
  if (fs.existsSync(pidFile)) {
    try {
      process.kill(Number(fs.readFileSync(pidFile, "utf8")), "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("sandbox hooks", { timeout: 120_000 }, () => {
  let pid: number;

  it("start: launches the sidecar, waits for /healthz, prints only export lines", async () => {
    const r = hook("sandbox-start.sh");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/sidecar healthy/);
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^export [A-Za-z_]+=/u);
    const exported = Object.fromEntries(lines.map((l) => l.slice("export ".length).split(/=(.*)/su).slice(0, 2)));
    expect(exported.HTTPS_PROXY).toContain(env.INTENT_SIDECAR_PROXY_ADDR);
    const health = await fetch(`http://${env.INTENT_SIDECAR_AGENT_ADDR}/healthz`);
    expect(health.status).toBe(200);
    pid = Number(fs.readFileSync(path.join(dir, "data", "sidecar.pid"), "utf8"));
    expect(() => process.kill(pid, 0)).not.toThrow();
  });

  it("start again: reuses the running sidecar; its output evals into the sandbox environment", () => {
    const script = `eval "$(bash ${JSON.stringify(path.join(HOOKS, "sandbox-start.sh"))})" && printf '%s\\n' "$HTTPS_PROXY" "$NO_PROXY" "$INTENT_SIDECAR_URL"`;
    const r = spawnSync("bash", ["-c", script], { env, encoding: "utf8", timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already answering/);
    expect(r.stdout.trim().split("\n")).toEqual([
      `http://${env.INTENT_SIDECAR_PROXY_ADDR}`,
      "127.0.0.1,localhost,::1,[::1]", // ca env's list: the hook no longer overrides it
      `http://${env.INTENT_SIDECAR_AGENT_ADDR}`,
    ]);
    expect(Number(fs.readFileSync(path.join(dir, "data", "sidecar.pid"), "utf8"))).toBe(pid);
  });

  it("stop: SIGTERMs the sidecar it started and waits for it to exit", async () => {
    const r = hook("sandbox-stop.sh");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/stopped/);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(fs.existsSync(path.join(dir, "data", "sidecar.pid"))).toBe(false);
    await expect(fetch(`http://${env.INTENT_SIDECAR_AGENT_ADDR}/healthz`)).rejects.toThrow();
    // and the clean shutdown left a store that opens without recovery complaints
    expect(fs.existsSync(path.join(dir, "data", "intent-sidecar.db"))).toBe(true);
  });

  it("stop without a started sidecar is a no-op", () => {
    const r = hook("sandbox-stop.sh");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no sidecar started by the start hook/);
  });
});
