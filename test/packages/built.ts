// Shared by the tests of what users install: the built CLI (dist/, run by bin/intent-sidecar.mjs) and the packed
// packages. They run under INTENT_SIDECAR_TEST_NODE when set (.ci/run points it at a Node 24 binary), else this node.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(ROOT, "bin", "intent-sidecar.mjs");
export const NODE = process.env.INTENT_SIDECAR_TEST_NODE || process.execPath;

/** The environment of a user's shell: not the test suite's INTENT_SIDECAR_SOURCE (which runs the sources). */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.INTENT_SIDECAR_SOURCE;
  delete env.NODE_OPTIONS;
  return env;
}

export interface BuiltDaemon {
  child: ChildProcess;
  ready: { agent_addr: string; proxy_addr: string; operator_addr: string; policy_digest: string };
  url: string;
  stderr: () => string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node bin/intent-sidecar.mjs start --dev` on port 0 (the reference policy), resolved at the ready line. */
export async function startBuiltDaemon(timeoutMs = 30_000): Promise<BuiltDaemon> {
  const dataDir = mkdtempSync(join(tmpdir(), "intent-sidecar-built-"));
  const child = spawn(
    NODE,
    [
      BIN,
      "start",
      "--dev",
      "--data-dir",
      dataDir,
      "--agent-addr",
      "127.0.0.1:0",
      "--proxy-addr",
      "127.0.0.1:0",
      "--operator-addr",
      "127.0.0.1:0",
    ],
    { env: userEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  try {
    const ready = await new Promise<BuiltDaemon["ready"]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line after ${timeoutMs} ms: ${err}`)), timeoutMs);
      child.stdout!.on("data", (d) => {
        out += d;
        const line = out.split("\n").find((l) => l.includes('"event":"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`start exited ${code} before the ready line: ${err}`));
      });
    });
    return {
      child,
      ready,
      url: `http://${ready.agent_addr}`,
      stderr: () => err,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const r = await exited;
        rmSync(dataDir, { recursive: true, force: true });
        return r;
      },
    };
  } catch (e) {
    child.kill("SIGKILL");
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}
