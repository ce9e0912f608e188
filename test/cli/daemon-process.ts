// Runs `intent-sidecar` as a real child process (the bin file a user runs) and reads the `ready` line.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const BIN = fileURLToPath(new URL("../../bin/intent-sidecar.mjs", import.meta.url));

export interface Ready {
  event: "ready";
  agent_addr: string;
  proxy_addr: string;
  operator_addr: string;
  policy_digest: string;
}

export interface RunningDaemon {
  child: ChildProcess;
  ready: Ready;
  url: string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnDaemon(args: string[], env: Record<string, string> = {}): Promise<RunningDaemon> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "start",
      "--agent-addr",
      "127.0.0.1:0",
      "--proxy-addr",
      "127.0.0.1:0",
      "--operator-addr",
      "127.0.0.1:0",
      ...args,
    ],
    {
      env: { ...process.env, INTENT_SIDECAR_AGENT_TOKENS: "", INTENT_SIDECAR_OPERATOR_TOKENS: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    new Promise<string>((r) => lines.once("line", r)),
    exited.then((code) => {
      throw new Error(`daemon exited (${code}) before ready: ${err}`);
    }),
    new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`no ready line within 30 s: ${err}`)), 30_000).unref(),
    ),
  ]);
  const ready = JSON.parse(first) as Ready;
  return {
    child,
    ready,
    url: `http://${ready.agent_addr}`,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
