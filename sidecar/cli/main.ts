// `intent-sidecar` command line (SPEC section 9). Each command family lives in commands/<name>.ts and registers
// itself on the program. Exit codes: 0 ok, 1 a check or test failed, 2 usage or I/O error.
//
// Only the family named on the command line is imported: the families pull in very different dependencies (the
// daemon loads viem, SQLite, the proxy; `holds` needs only fetch), and loading all of them would make every quick
// command pay for the daemon's start-up. Help, or a name we do not know, loads every family.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { ExitError } from "./exit.ts";

type Register = (program: Command) => void;
const loaders: Record<string, () => Promise<Register>> = {
  start: async () => (await import("./commands/start.ts")).registerStart,
  policy: async () => (await import("./commands/policy.ts")).registerPolicy,
  holds: async () => (await import("./commands/holds.ts")).registerHolds,
  audit: async () => (await import("./commands/audit.ts")).registerAudit,
  logs: async () => (await import("./commands/logs.ts")).registerLogs,
  usage: async () => (await import("./commands/usage.ts")).registerUsage,
  keys: async () => (await import("./commands/keys.ts")).registerKeys,
  ca: async () => (await import("./commands/ca.ts")).registerCa,
  integration: async () => (await import("./commands/integration.ts")).registerIntegration,
  mcp: async () => (await import("../mcp/command.ts")).registerMcp,
};
// Which loaders a family needs, in registration order (`policy simulate` is added by the integration module to the
// `policy` command, so it registers after it).
const families: Record<string, string[]> = {
  start: ["start"],
  policy: ["policy", "integration"],
  holds: ["holds"],
  audit: ["audit"],
  logs: ["logs"],
  usage: ["usage"],
  keys: ["keys"],
  ca: ["ca"],
  nemoclaw: ["integration"],
  service: ["integration"],
  mcp: ["mcp"],
};
const everything = ["start", "policy", "holds", "audit", "logs", "usage", "keys", "ca", "integration", "mcp"];

/** The package's version, from package.json one level up from dist/main.js or two from sidecar/cli/main.ts. (The bin
 * answers a lone `--version` itself, without loading this module.) */
function packageVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8"));
      if (pkg.name === "intent-sidecar") return String(pkg.version);
    } catch {
      // not this one
    }
  }
  return "unknown";
}

const program = new Command("intent-sidecar")
  .version(packageVersion(), "-V, --version", "print the version and exit")
  .description("Governs what AI agents may attempt: structured intents in, signed decisions out.")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const first = process.argv.slice(2).find((a) => !a.startsWith("-"));
for (const name of (first && families[first]) || everything) (await loaders[name]!())(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version are not errors; everything else commander rejects is a usage error
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") {
      process.exit(0);
    }
    process.exit(2);
  }
  if (err instanceof ExitError) {
    if (err.message) process.stderr.write(err.message.endsWith("\n") ? err.message : err.message + "\n");
    process.exit(err.code);
  }
  process.stderr.write(`intent-sidecar: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(2);
}
