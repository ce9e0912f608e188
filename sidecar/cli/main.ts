// `intent-sidecar` command line (SPEC section 9). Each command family lives in commands/<name>.ts and registers
// itself on the program. Exit codes: 0 ok, 1 a check or test failed, 2 usage or I/O error.
import { Command, CommanderError } from "commander";
import { registerStart } from "./commands/start.ts";
import { registerPolicy } from "./commands/policy.ts";
import { registerHolds } from "./commands/holds.ts";
import { registerAudit } from "./commands/audit.ts";
import { registerKeys } from "./commands/keys.ts";
import { registerCa } from "./commands/ca.ts";
import { registerIntegration } from "./commands/integration.ts";
import { ExitError } from "./exit.ts";

const program = new Command("intent-sidecar")
  .description("Governs what AI agents may attempt: structured intents in, signed decisions out.")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

registerStart(program);
registerPolicy(program);
registerHolds(program);
registerAudit(program);
registerKeys(program);
registerCa(program);
registerIntegration(program);

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
