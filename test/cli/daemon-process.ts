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
  /** Set when the daemon generated (or reused) its agent / operator token file (no --dev, no configured tokens). */
  agent_token_file?: string;
  operator_token_file?: string;
}

export interface RunningDaemon {
  child: ChildProcess;
  ready: Ready;
  /** The agent listener's base URL. */
  url: string;
  /** The operator listener's base URL. */
  operatorUrl: string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** Working directory of the daemon (default: the test's). */
  cwd?: string;
  /** How long to wait for the ready line (default 30 s; the CI machine is small and busy). */
  readyTimeoutMs?: number;
  /** Pass `--dev` (default true): no generated tokens, and with no agent tokens configured the agent API takes the
   * agent from the body, as the tests written before secure defaults expect. `false`: start as a user would. */
  dev?: boolean;
}

/** `intent-sidecar start` on 127.0.0.1 port 0 for all three listeners, plus `args` (and `--dev` unless
 * `opts.dev === false`). Agent and operator tokens are blanked unless `env` sets them, so the daemon never picks up
 * the caller's. Resolves on the `ready` line. */
export async function spawnDaemon(
  args: string[],
  env: Record<string, string> = {},
  opts: SpawnOptions = {},
): Promise<RunningDaemon> {
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
      ...(opts.dev === false ? [] : ["--dev"]),
      ...args,
    ],
    {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { ...process.env, INTENT_SIDECAR_AGENT_TOKENS: "", INTENT_SIDECAR_OPERATOR_TOKENS: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const lines = createInterface({ input: child.stdout! });
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    // the plain ready line (SPEC section 9); the log line that repeats it carries a `level`
    new Promise<Ready>((r) =>
      lines.on("line", (line) => {
        try {
          const o = JSON.parse(line) as Ready & { level?: unknown };
          if (o.event === "ready" && o.level === undefined) r(o);
        } catch {
          /* not JSON: not the ready line */
        }
      }),
    ),
    exited.then((code) => {
      throw new Error(`daemon exited (${code}) before ready: ${err}`);
    }),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`no ready line within ${timeoutMs} ms: ${err}`)), timeoutMs);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
  return {
    child,
    ready,
    url: `http://${ready.agent_addr}`,
    operatorUrl: `http://${ready.operator_addr}`,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
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
