// `intent-sidecar policy check|test|eval|fmt` as a user runs them: real child processes, temp files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { sharedPath } from "../shared-fixtures.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = path.join(root, "bin", "intent-sidecar.mjs");
const network = sharedPath("policy test / eval on the reference network rules", "spec", "network");
const tmp = mkdtempSync(path.join(tmpdir(), "policy-rego-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// each test spawns the CLI (tsx start-up dominates on a busy machine)
vi.setConfig({ testTimeout: 240_000 });

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, "policy", ...args], { cwd: tmp, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

describe.skipIf(!network)("policy test / eval on the reference network rules", () => {
  it("policy test passes all 6 tests like opa test", () => {
    const r = run("test", network!);
    expect(r.out.trim()).toBe("PASS: 6/6");
    expect(r.code).toBe(0);
    const v = run("test", "-v", network!);
    expect(v.out).toMatch(/data\.nemoclaw\.network_test\.test_github_get_allowed: PASS \(/);
    expect(v.out.trim().endsWith("PASS: 6/6")).toBe(true);
  });

  it("policy eval --format json prints OPA's result shape", () => {
    const input = write("input.json", JSON.stringify({ request: { method: "GET", host: "api.github.com", path: "/", headers: {}, body: null }, source: { binary: "curl" }, attestation: null, timestamp: "2026-03-20T14:30:00Z" }));
    const r = run("eval", "-d", network!, "-i", input, "--format", "json", "data.nemoclaw.network.deny_reason");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.result[0].expressions[0].value).toEqual(["curl may not make network requests"]);
    expect(j.result[0].expressions[0].text).toBe("data.nemoclaw.network.deny_reason");
    const undef = run("eval", "-d", network!, "-f", "json", "data.nemoclaw.network.nope");
    expect(JSON.parse(undef.out)).toEqual({});
  });
});

describe("policy test failures and selection", () => {
  it("exits 1 and lists failures; --run selects tests", () => {
    const dir = path.join(tmp, "suite");
    write("suite/p.rego", "package p\n\nallow if input.ok\n");
    write("suite/p_test.rego", "package p_test\n\nimport data.p\n\ntest_ok if p.allow with input as {\"ok\": true}\n\ntest_bad if p.allow with input as {}\n");
    const r = run("test", dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAILURES");
    expect(r.out).toContain("data.p_test.test_bad: FAIL");
    expect(r.out).toMatch(/PASS: 1\/2\nFAIL: 1\/2/);
    const only = run("test", dir, "--run", "test_ok");
    expect(only.code).toBe(0);
    expect(only.out.trim()).toBe("PASS: 1/1");
  });
});

describe("policy check and fmt", () => {
  it("reports OPA's parse error with file:row:col and exit 1", () => {
    const f = write("bad.rego", "package x\n\nallow {\n  input.x == 1\n}\n");
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.rego:3:1: rego_parse_error: `if` keyword is required before rule body");
    const ok = write("ok.rego", "package x\n\nallow if input.x == 1\n");
    expect(run("check", ok).code).toBe(0);
  });

  it("fmt --v0-to-v1 rewrites a v0 module (even one importing rego.v1) into valid v1", () => {
    const src = "package x\nimport rego.v1\n\n# keep me\ndeny[msg] {\n  msg := \"no\"\n}\n\nallow {\n  input.x == 1\n} else = false {\n  true\n}\n";
    const f = write("v0.rego", src);
    const r = run("fmt", "--v0-to-v1", f);
    expect(r.code).toBe(0);
    expect(r.out).toContain("# keep me");
    expect(r.out).toContain("deny contains msg if {");
    expect(r.out).toContain("} else = false if {");
    const fixed = write("v1.rego", r.out);
    expect(run("check", fixed).code).toBe(0);
  });
});
