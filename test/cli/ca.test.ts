// `intent-sidecar ca export|env` as a user runs them: a child process on a temp data dir.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";

// each CLI start compiles the TypeScript sources through tsx: slow on a busy machine
vi.setConfig({ testTimeout: 180_000 });

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/intent-sidecar.mjs");
const dir = mkdtempSync(path.join(tmpdir(), "ca-cli-"));
const dataDir = path.join(dir, "data");

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 90_000, cwd: dir }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("intent-sidecar ca", () => {
  it("export creates a CA once, persists it with a 0600 key, and prints the same certificate every time", async () => {
    const first = await cli(["ca", "export", "--data-dir", dataDir]);
    expect(first.code).toBe(0);
    const cert = new X509Certificate(first.stdout);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe("ec");
    expect(statSync(path.join(dataDir, "proxy-ca.key.pem")).mode & 0o777).toBe(0o600);
    const second = await cli(["ca", "export", "--data-dir", dataDir]);
    expect(second.stdout).toBe(first.stdout);
    expect(readFileSync(path.join(dataDir, "proxy-ca.crt.pem"), "utf8")).toBe(first.stdout);
  });

  it("env prints eval-able exports for the proxy and the CA bundle variables", async () => {
    const r = await cli(["ca", "env", "--data-dir", dataDir, "--proxy-addr", "127.0.0.1:9401"]);
    expect(r.code).toBe(0);
    const vars = Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => /^export ([A-Za-z_]+)='(.*)'$/.exec(l)!.slice(1, 3)),
    );
    const certPath = path.join(dataDir, "proxy-ca.crt.pem");
    expect(vars).toMatchObject({
      HTTPS_PROXY: "http://127.0.0.1:9401",
      NODE_EXTRA_CA_CERTS: certPath,
      SSL_CERT_FILE: certPath,
      REQUESTS_CA_BUNDLE: certPath,
      CURL_CA_BUNDLE: certPath,
    });
  });

  it("rejects a bad format or address with exit code 2", async () => {
    const bad = await cli(["ca", "env", "--data-dir", dataDir, "--format", "xml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--format must be shell, dotenv or json");
  });
});
