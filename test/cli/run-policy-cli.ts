// Runs `intent-sidecar policy ...` / `logs` in-process through commander, as main.ts wires them (a child process
// per call costs seconds on a loaded machine).
import { Command } from "commander";
import { registerPolicy } from "../../sidecar/cli/commands/policy.ts";
import { ExitError } from "../../sidecar/cli/exit.ts";

export async function runCli(args: string[], register: (p: Command) => void = registerPolicy): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command("intent-sidecar")
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program);
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  try {
    await program.parseAsync(["node", "intent-sidecar", ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (e instanceof ExitError) return { code: e.code, stdout, stderr: stderr + e.message };
    if ((e as { code?: string }).code?.startsWith("commander.")) return { code: 2, stdout, stderr: stderr + (e as Error).message };
    throw e;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
