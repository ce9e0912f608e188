// Smoke test of the built CLI, as a user runs it: `node bin/intent-sidecar.mjs` loads dist/ (built by `npm ci`
// through `prepare`), not the TypeScript sources. Runs under INTENT_SIDECAR_TEST_NODE when set (Node 24 in .ci/run).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, NODE, ROOT, startBuiltDaemon, userEnv } from "./built.ts";

const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const run = (args: string[], bin = BIN) =>
  spawnSync(NODE, [bin, ...args], { env: userEnv(), encoding: "utf8", timeout: 30_000 });

describe("the built CLI", () => {
  it("is built (npm ci runs npm run build)", () => {
    expect(existsSync(join(ROOT, "dist", "main.js")), "dist/main.js is missing: run npm run build").toBe(true);
  });

  it("--version prints the package version", () => {
    for (const flag of ["--version", "-V"]) {
      const r = run([flag]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
    }
  });

  it("--help lists the commands and --version", () => {
    const r = run(["--help"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: intent-sidecar/);
    for (const c of ["start", "policy", "holds", "audit", "keys", "ca", "--version"]) expect(r.stdout).toContain(c);
    // the bin prints the overview the build wrote (dist/help.txt); it must be the CLI's own
    const full = spawnSync(NODE, [join(ROOT, "dist", "main.js"), "--help"], {
      env: userEnv({ COLUMNS: "100" }),
      encoding: "utf8",
    });
    expect(r.stdout).toBe(full.stdout);
    const sub = run(["start", "--help"]);
    expect(sub.status, sub.stderr).toBe(0);
    expect(sub.stdout).toContain("--agent-addr");
  });

  it("start --dev on port 0 reaches the ready line, answers, and stops on SIGTERM", async () => {
    const d = await startBuiltDaemon();
    try {
      expect(d.ready.policy_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const health = await fetch(`${d.url}/healthz`);
      expect(health.status).toBe(200);
      const res = await fetch(`${d.url}/v1/intents`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: "smoke", action: "tool.call", params: { tool: "search.query", args: {} } }),
      });
      expect([200, 202, 403]).toContain(res.status);
      expect(["APPROVED", "DENIED", "PENDING"]).toContain(((await res.json()) as { decision: string }).decision);
    } finally {
      const { code, signal } = await d.stop();
      expect({ code, signal }, d.stderr()).toEqual({ code: 0, signal: null });
    }
  });

  it("says to run npm run build when dist/ is missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "intent-sidecar-nobuild-"));
    try {
      mkdirSync(join(dir, "bin"));
      copyFileSync(BIN, join(dir, "bin", "intent-sidecar.mjs"));
      copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
      const r = run(["--help"], join(dir, "bin", "intent-sidecar.mjs"));
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("run npm run build");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
