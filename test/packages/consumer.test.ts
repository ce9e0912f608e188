// What users install: packs @intent-sidecar/protocol, @intent-sidecar/sdk and @intent-sidecar/executor-gate with
// `npm pack` (dist/ as built by `npm ci`), installs the tarballs into fresh projects under os.tmpdir() (their real
// dependencies come from the npm cache or registry), and runs, with plain `node` (INTENT_SIDECAR_TEST_NODE when
// set), an agent script (the SDK declares an intent against a real sidecar, the built CLI with --dev on port 0) and
// an executor script (the gate verifies and consumes that attestation), plus `tsc --noEmit` on TypeScript consumers.
// Also checks the daemon package's file list (`npm pack --dry-run`) and that installing the SDK pulls no native code.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE, ROOT, startBuiltDaemon, userEnv, type BuiltDaemon } from "./built.ts";

const PACKAGES = { protocol: "protocol", sdk: "sdk", gate: "executor-gate" } as const;
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
let tmp: string;
let tarballs: Record<keyof typeof PACKAGES, string>;
let daemon: BuiltDaemon;

function npm(args: string[], cwd: string): string {
  return execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
    env: userEnv({ npm_config_update_notifier: "false" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** A fresh ESM project with `tarballs` (and `extra` registry packages) installed, install scripts refused. */
function project(name: string, install: string[], files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  npm(["install", "--prefer-offline", "--ignore-scripts", "--no-package-lock", ...install], dir);
  return dir;
}

function runNode(dir: string, script: string, env: Record<string, string>): string {
  const r = spawnSync(NODE, [script], { cwd: dir, encoding: "utf8", env: userEnv(env), timeout: 60_000 });
  expect(r.status, `${script}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

function tsc(dir: string): void {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
      },
      include: ["*.ts"],
    }),
  );
  const r = spawnSync(process.execPath, [TSC, "--noEmit", "-p", dir], { encoding: "utf8", timeout: 120_000 });
  expect(r.status, `tsc in ${dir}: ${r.stdout}${r.stderr}`).toBe(0);
}

/** Native code or install scripts anywhere under node_modules. */
function nativeBits(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".node") || e.name === "binding.gyp") found.push(p);
      else if (e.name === "package.json" && statSync(p).size < 1_000_000) {
        const s = JSON.parse(readFileSync(p, "utf8")).scripts ?? {};
        for (const k of ["preinstall", "install", "postinstall"]) if (s[k]) found.push(`${p}: ${k}`);
      }
    }
  };
  walk(join(dir, "node_modules"));
  return found;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "intent-sidecar-packages-"));
  const dest = join(tmp, "tarballs");
  mkdirSync(dest);
  tarballs = {} as typeof tarballs;
  for (const [key, folder] of Object.entries(PACKAGES)) {
    const out = JSON.parse(npm(["pack", "--json", "--ignore-scripts", "--pack-destination", dest], join(ROOT, folder)));
    tarballs[key as keyof typeof PACKAGES] = join(dest, out[0].filename);
  }
  daemon = await startBuiltDaemon();
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const AGENT_MJS = `
import { createClient } from "@intent-sidecar/sdk";
import { writeFileSync } from "node:fs";
const sidecar = createClient({ baseUrl: process.env.SIDECAR_URL });
const intent = {
  agent: "consumer-agent",
  action: "evm.transaction",
  params: { chain_id: 8453, to: "0x1111111111111111111111111111111111111111", value: "10000000000000000" },
  context: { tenant: "acme", justification: "pay vendor-a" },
};
const d = await sidecar.declare(intent);
writeFileSync(process.env.OUT, JSON.stringify({ intent, attestation: d.attestation }));
console.log(d.decision);
`;

const AGENT_TS = `
import { createClient, SidecarError, type DecisionResponse } from "@intent-sidecar/sdk";
const sidecar = createClient({ baseUrl: "http://127.0.0.1:7400", token: "t" });
export async function pay(): Promise<string | undefined> {
  let d: DecisionResponse = await sidecar.declare({ action: "tool.call", params: { tool: "payments.refund", args: {} } });
  if (d.decision === "PENDING") d = await sidecar.waitFor(d.intent_id, { timeoutMs: 1000 });
  // @ts-expect-error the SDK's types are real: a decision is not a number
  const n: number = d.decision;
  void n;
  return d.decision === "APPROVED" ? d.attestation : undefined;
}
export const isSidecarError = (e: unknown): boolean => e instanceof SidecarError;
`;

const EXECUTOR_MJS = `
import { createGate, memoryReplayStore, GateError } from "@intent-sidecar/executor-gate";
import { readFileSync } from "node:fs";
const { intent, attestation } = JSON.parse(readFileSync(process.env.IN, "utf8"));
const gate = createGate({
  jwks: process.env.SIDECAR_URL + "/.well-known/jwks.json",
  replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }),
});
const claims = await gate.consume(attestation, intent);
let again = "accepted";
try { await gate.consume(attestation, intent); } catch (e) { again = e instanceof GateError ? e.code : String(e); }
let changed = "accepted";
try { await gate.verify(attestation, { ...intent, params: { ...intent.params, value: "10000000000000001" } }); }
catch (e) { changed = e instanceof GateError ? e.code : String(e); }
await gate.close();
console.log(JSON.stringify({ sub: claims.sub, action: claims.intent.action, again, changed }));
`;

const EXECUTOR_TS = `
import { createGate, memoryReplayStore, GateError, type Gate } from "@intent-sidecar/executor-gate";
import type { AttestationClaims } from "@intent-sidecar/protocol";
const gate: Gate = createGate({ jwks: "http://127.0.0.1:7400/.well-known/jwks.json", replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }) });
export async function run(token: string): Promise<string> {
  const claims: AttestationClaims = await gate.verify(token, { agent: "a", action: "tool.call", params: {} });
  // @ts-expect-error the gate's types are real: claims.exp is a number
  const s: string = claims.exp;
  void s;
  return claims.jti;
}
export const code = (e: unknown) => (e instanceof GateError ? e.code : undefined);
`;

describe("the packages users install", () => {
  it("the SDK installs from its tarball without native code, declares an intent from plain node, and type-checks", () => {
    const dir = project("agent-app", [tarballs.sdk, tarballs.protocol], {
      "agent.mjs": AGENT_MJS,
      "agent.ts": AGENT_TS,
    });
    expect(nativeBits(dir)).toEqual([]);
    const out = join(tmp, "decision.json");
    expect(runNode(dir, "agent.mjs", { SIDECAR_URL: daemon.url, OUT: out }).trim()).toBe("APPROVED");
    tsc(dir);
  }, 180_000);

  it("the executor gate installs from its tarball, verifies the attestation from plain node, and type-checks", () => {
    const dir = project("executor-app", [tarballs.gate, tarballs.protocol], {
      "executor.mjs": EXECUTOR_MJS,
      "executor.ts": EXECUTOR_TS,
    });
    expect(
      readdirSync(join(dir, "node_modules")).includes("better-sqlite3"),
      "better-sqlite3 is an optional peer",
    ).toBe(false);
    const result = JSON.parse(
      runNode(dir, "executor.mjs", { SIDECAR_URL: daemon.url, IN: join(tmp, "decision.json") }),
    );
    expect(result).toEqual({
      sub: "consumer-agent",
      action: "evm.transaction",
      again: "replayed",
      changed: "digest_mismatch",
    });
    tsc(dir);
  }, 180_000);

  it("each package declares exports, types, files, engines and version 0.2.0, and packs only its build", () => {
    for (const folder of [".", ...Object.values(PACKAGES)]) {
      const pkg = JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8"));
      expect(pkg.version, folder).toBe("0.2.0");
      expect(pkg.engines?.node, folder).toMatch(/20\.19/);
      expect(pkg.files, folder).toBeDefined();
      if (folder !== ".") {
        expect(pkg.exports["."].types, folder).toBe("./dist/index.d.ts");
        expect(pkg.exports["."].import, folder).toBe("./dist/index.js");
        expect(pkg.types, folder).toBe("./dist/index.d.ts");
      }
      const [packed] = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], join(ROOT, folder)));
      const files: string[] = packed.files.map((f: { path: string }) => f.path);
      expect(files, folder).toContain("README.md");
      expect(
        files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
        folder,
      ).toEqual([]);
      expect(
        files.filter((f) => f.startsWith("test/")),
        folder,
      ).toEqual([]);
      if (folder === ".") {
        for (const f of [
          "bin/intent-sidecar.mjs",
          "dist/main.js",
          "sidecar/console/index.html",
          "policy-examples/reference/policy.yaml",
        ]) {
          expect(files, f).toContain(f);
        }
      } else {
        expect(files, folder).toContain("dist/index.js");
        expect(files, folder).toContain("dist/index.d.ts");
      }
    }
  }, 120_000);
});
