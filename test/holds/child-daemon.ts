// A real `intent-sidecar start` child process on 127.0.0.1 port 0, for crash/restart and CLI tests.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/intent-sidecar.mjs", import.meta.url));

export interface ChildDaemon {
  proc: ChildProcess;
  agent: string;
  operator: string;
  stderr: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startChildDaemon(args: { dataDir: string; policy?: string; env?: Record<string, string> }): Promise<ChildDaemon> {
  const argv = [BIN, "start", "--data-dir", args.dataDir, "--agent-addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0", "--operator-addr", "127.0.0.1:0"];
  if (args.policy) argv.push("--policy", args.policy);
  const proc = spawn(process.execPath, argv, { env: { ...process.env, ...args.env }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (c) => (err = (err + c).slice(-20_000)));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const ready = await new Promise<{ agent_addr: string; operator_addr: string }>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error(`daemon not ready in 90 s:\n${err}`)), 90_000);
    rl.on("line", (line) => {
      try {
        const o = JSON.parse(line);
        if (o.event === "ready") {
          clearTimeout(timer);
          resolve(o);
        }
      } catch {
        /* not the ready line */
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before ready:\n${err}`));
    });
  });
  return {
    proc,
    agent: `http://${ready.agent_addr}`,
    operator: `http://${ready.operator_addr}`,
    stderr: () => err,
    async kill(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}
