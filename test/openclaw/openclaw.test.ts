// The plugin inside the real `openclaw` package from the npm registry (pinned below), loaded the way OpenClaw loads
// plugins: the packed @intent-sidecar/{protocol,sdk,openclaw} tarballs installed into a project, `openclaw plugins
// install --link` of that package (an isolated OPENCLAW_HOME), `openclaw plugins inspect --runtime` (the real loader
// registers before_tool_call), then a real `openclaw gateway run` whose `POST /tools/invoke` runs tools through
// OpenClaw's own before_tool_call path (runBeforeToolCallHook, the same one agent runs use) without a model.
// OpenClaw needs Node >= 24.16: this runs under INTENT_SIDECAR_TEST_NODE (.ci/run points it at Node 24) and is
// skipped, with one line, on older nodes or when the package cannot be installed. openclaw is installed once into
// ${XDG_CACHE_HOME:-~/.cache}/intent-sidecar-ci/openclaw-<version> (about 650 MB, about 40 s), not into our deps.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE, ROOT, userEnv } from "../packages/built.ts";
import { AGENT_TOKEN, holdIdOf, startSidecar, type TestSidecar } from "./sidecar.ts";

const OPENCLAW_VERSION = "2026.9.6";
const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "intent-sidecar-ci");
const PREFIX = join(CACHE, `openclaw-${OPENCLAW_VERSION}`);
const OPENCLAW = join(PREFIX, "node_modules", "openclaw", "openclaw.mjs");
const GATEWAY_TOKEN = "gateway-token-for-openclaw-tests";

// Same PATH order for npm and openclaw: NODE's directory first (openclaw's engines and its child processes).
const pathEnv = `${dirname(NODE)}:${process.env.PATH ?? ""}`;

/** A user's shell for openclaw: without vitest's variables (VITEST*, NODE_ENV=test, TEST), which quiet its output. */
function openclawEnv(): NodeJS.ProcessEnv {
  const env = userEnv({ PATH: pathEnv, OPENCLAW_HOME: home, INTENT_SIDECAR_AGENT_TOKEN: AGENT_TOKEN });
  for (const k of Object.keys(env)) if (k.startsWith("VITEST") || k === "NODE_ENV" || k === "TEST") delete env[k];
  return env;
}

function prepare(): string | undefined {
  const v = spawnSync(NODE, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout?.trim() ?? "";
  const [maj, min] = v.split(".").map(Number);
  if (!(maj > 24 || (maj === 24 && min >= 16)))
    return `openclaw needs Node >= 24.16, ${NODE} is ${v || "not runnable"} (set INTENT_SIDECAR_TEST_NODE)`;
  for (const p of ["protocol", "sdk", "openclaw"])
    if (!existsSync(join(ROOT, p, "dist", "index.js"))) return `${p}/dist is missing (npm run build)`;
  if (existsSync(join(PREFIX, ".complete"))) return undefined;
  try {
    rmSync(PREFIX, { recursive: true, force: true });
    mkdirSync(PREFIX, { recursive: true });
    writeFileSync(join(PREFIX, "package.json"), JSON.stringify({ name: "openclaw-cache", private: true }));
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts", `openclaw@${OPENCLAW_VERSION}`],
      {
        cwd: PREFIX,
        env: userEnv({ PATH: pathEnv, npm_config_update_notifier: "false" }),
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 600_000,
      },
    );
    writeFileSync(join(PREFIX, ".complete"), OPENCLAW_VERSION);
    return undefined;
  } catch (e) {
    return `npm install openclaw@${OPENCLAW_VERSION} failed: ${String((e as Error).message).split("\n")[0]}`;
  }
}

const skip = prepare();
if (skip) console.log(`test/openclaw/openclaw.test.ts skipped: ${skip}`);

let tmp: string;
let home: string;
let sc: TestSidecar;
let gateway: ChildProcess | undefined;
let gatewayUrl: string;

function openclaw(args: string[], timeout = 180_000): string {
  const out = join(tmp, "openclaw.out");
  const fd = openSync(out, "w");
  try {
    const r = spawnSync(NODE, [OPENCLAW, ...args], {
      cwd: tmp,
      env: openclawEnv(),
      stdio: ["ignore", fd, "pipe"],
      encoding: "utf8",
      timeout,
    });
    expect(r.status, `openclaw ${args.join(" ")}: ${r.stderr}`).toBe(0);
  } finally {
    closeSync(fd);
  }
  return readFileSync(out, "utf8");
}

async function invoke(tool: string, args: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gatewayUrl}/tools/invoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${GATEWAY_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ tool, args }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: await res.json() };
}

describe.skipIf(skip !== undefined)(`openclaw ${OPENCLAW_VERSION}: the plugin in a real gateway`, () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "intent-sidecar-openclaw-e2e-"));
    home = join(tmp, "home");
    mkdirSync(home);
    sc = await startSidecar();

    // what a user installs: the packed packages (their dependencies from the npm cache or registry)
    const packs = join(tmp, "packs");
    mkdirSync(packs);
    for (const p of ["protocol", "sdk", "openclaw"])
      execFileSync("npm", ["pack", "--silent", "--pack-destination", packs], { cwd: join(ROOT, p), env: userEnv() });
    const project = join(tmp, "project");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "plugin-host", private: true, type: "module" }),
    );
    const tarballs = ["protocol", "sdk", "openclaw"].map((p) => join(packs, `intent-sidecar-${p}-0.2.0.tgz`));
    execFileSync(
      "npm",
      ["install", "--prefer-offline", "--ignore-scripts", "--no-package-lock", "--no-audit", "--no-fund", ...tarballs],
      { cwd: project, env: userEnv({ PATH: pathEnv }), stdio: ["ignore", "pipe", "pipe"] },
    );
    const pluginDir = join(project, "node_modules", "@intent-sidecar", "openclaw");

    // the user's steps (docs/openclaw.md): install the plugin, then configure it and the gateway in openclaw.json
    openclaw(["plugins", "install", "--link", pluginDir, "--force", "--accept-capabilities"]);
    const cfgFile = join(home, ".openclaw", "openclaw.json");
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8"));
    expect(cfg.plugins.load.paths).toContain(pluginDir);
    cfg.plugins.entries["intent-sidecar"] = { enabled: true, config: { url: sc.url } };
    gatewayUrl = `http://127.0.0.1:${await freePort()}`;
    cfg.gateway = {
      mode: "local",
      port: Number(new URL(gatewayUrl).port),
      bind: "loopback",
      auth: { mode: "token", token: GATEWAY_TOKEN },
    };
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  }, 600_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
      const exited = new Promise((r) => gateway!.on("exit", r));
      process.kill(-gateway.pid!, "SIGTERM");
      const t = setTimeout(() => process.kill(-gateway!.pid!, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    }
    await sc?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it("OpenClaw's loader loads the plugin from its manifest and registers before_tool_call", () => {
    const out = openclaw(["plugins", "inspect", "intent-sidecar", "--runtime", "--json"]);
    const info = JSON.parse(out.slice(out.indexOf("{")));
    expect(info.plugin).toMatchObject({
      id: "intent-sidecar",
      status: "loaded",
      enabled: true,
      packageName: "@intent-sidecar/openclaw",
    });
    expect(info.plugin.source).toMatch(/@intent-sidecar\/openclaw\/dist\/index\.js$/);
    expect(info.typedHooks).toEqual([{ name: "before_tool_call", priority: -1_000_000 }]);
    expect(info.diagnostics).toEqual([]);
  }, 180_000);

  it("the gateway runs tool calls through the hook: APPROVED runs, DENIED and PENDING are blocked, approval lets the retry run", async () => {
    const logFile = join(tmp, "gateway.log");
    const logFd = openSync(logFile, "w");
    gateway = spawn(NODE, [OPENCLAW, "gateway", "run"], {
      cwd: tmp,
      env: openclawEnv(),
      stdio: ["ignore", logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    const log = () => readFileSync(logFile, "utf8");

    // ready when an allowed tool runs (the gateway answers 'unavailable during gateway startup' before that)
    let listed: { status: number; body: any } | undefined;
    for (let i = 0; i < 240 && listed?.body?.ok !== true; i++) {
      expect(gateway.exitCode, `gateway exited: ${log()}`).toBeNull();
      await new Promise((r) => setTimeout(r, 1000));
      listed = await invoke("sessions_list", {}).catch(() => undefined);
    }
    expect(listed, log()).toMatchObject({ status: 200, body: { ok: true } });
    expect(log()).toMatch(/plugins: [^)]*intent-sidecar/);

    const denied = await invoke("agents_list", {});
    expect(denied.status).toBe(403);
    expect(denied.body.error.type).toBe("tool_call_blocked");
    expect(denied.body.error.message).toMatch(
      /^intent-sidecar DENIED openclaw\.agents_list \(intent [0-9a-f-]+\): tool_calls\/deny: tool openclaw\.agents_list matches tool_calls\.deny/,
    );

    const held = await invoke("session_status", {});
    expect(held.status).toBe(403);
    expect(held.body.error.message).toMatch(
      /^intent-sidecar is holding openclaw\.session_status for human review: hold hold_/,
    );
    const holdId = holdIdOf(held.body.error.message);
    const hold = (await sc.holds()).find((h) => h.id === holdId);
    expect(hold.intent).toMatchObject({
      agent: "oc-bot",
      action: "tool.call",
      params: { tool: "openclaw.session_status", args: {} },
      // the stored copy shows credential-named keys ("session", "key") as digests
      context: {
        openclaw: {
          agent_id: "main",
          session_key: { redacted: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
          tool_name: "session_status",
        },
      },
    });
    expect(hold.intent.context.openclaw.tool_call_id).toMatch(/^http-/);

    const again = await invoke("session_status", {});
    expect(again.status).toBe(403);
    expect(holdIdOf(again.body.error.message)).toBe(holdId);

    await sc.resolve(holdId, "approve");
    const ran = await invoke("session_status", {});
    expect(ran, JSON.stringify(ran.body)).toMatchObject({ status: 200, body: { ok: true } });
    expect(JSON.stringify(ran.body.result)).toMatch(/OpenClaw/);

    // the sidecar goes away: every tool call is blocked (fail closed), even one the policy allows
    await sc.stop();
    const down = await invoke("sessions_list", {});
    expect(down.status).toBe(403);
    expect(down.body.error.message).toMatch(
      /^intent-sidecar at http:\/\/127\.0\.0\.1:\d+ could not be reached .*fail closed/,
    );
  }, 420_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
