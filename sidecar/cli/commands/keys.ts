// `intent-sidecar keys rotate|list`: signing key management on the data dir. A running daemon picks a rotation up
// within ~2 s (or on SIGHUP); the retired key stays in the JWKS for the maximum attestation TTL.
import type { Command } from "commander";
import { KeyRing, rotateKeys } from "../../attest/index.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts } from "../config-opts.ts";

export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("manage the Ed25519 attestation signing keys");
  keys
    .command("rotate")
    .description("create a new current signing key; the previous one is retired but still published for verification")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .action((opts: { dataDir?: string; config?: string }) => {
      try {
        const r = rotateKeys(configFromOpts(opts).dataDir);
        process.stdout.write(
          JSON.stringify({ rotated: true, previous_kid: r.previous, current_kid: r.current }) + "\n",
        );
      } catch (e) {
        if (e instanceof ExitError) throw e;
        throw new ExitError(2, `intent-sidecar: keys rotate failed: ${(e as Error).message}`);
      }
    });
  keys
    .command("list")
    .description("print the published JWKS (current and recently retired public keys)")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .action((opts: { dataDir?: string; config?: string }) => {
      try {
        const ring = KeyRing.open(configFromOpts(opts).dataDir);
        process.stdout.write(JSON.stringify({ current_kid: ring.current.kid, ...ring.jwks() }) + "\n");
      } catch (e) {
        if (e instanceof ExitError) throw e;
        throw new ExitError(2, `intent-sidecar: ${(e as Error).message}`);
      }
    });
}
