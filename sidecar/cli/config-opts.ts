// The `--config` / `--data-dir` options that the offline commands (audit, keys, ca) share, resolved exactly as
// `start` resolves them, so a command finds the same data directory the daemon uses.
import { ConfigError, loadConfig, type SidecarConfig } from "../config.ts";
import { ExitError } from "./exit.ts";

export interface DirOpts {
  dataDir?: string;
  config?: string;
}

/** The effective configuration; a config file that cannot be read or is invalid ends the command with exit 2. */
export function configFromOpts(opts: DirOpts): SidecarConfig {
  try {
    return loadConfig({
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new ExitError(2, `intent-sidecar: ${e.message}`);
    throw e;
  }
}
