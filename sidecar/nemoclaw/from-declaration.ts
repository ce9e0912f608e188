// How the daemon serves NemoClaw: if an installed declaration points its activation socket at this daemon's
// data directory, serve that socket with the declared componentId and connection settings.
import path from "node:path";
import { readDeclaration, defaultDeclarationPath } from "./declaration.ts";
import { startActivationServer, type ActivationServer, type ActivationServerOptions } from "./activation-server.ts";

export interface FromDeclarationOptions {
  dataDir: string;
  activePolicyDigest: ActivationServerOptions["activePolicyDigest"];
  /** Default: `$INTENT_SIDECAR_NEMOCLAW_DECLARATION`, else `~/.config/nemoclaw/external-component.json`. */
  declarationPath?: string;
  log?: ActivationServerOptions["log"];
  deadlineMs?: number;
}

/** Starts the activation socket when a declaration for this data directory is installed; null otherwise
 * (a sidecar that NemoClaw does not use opens no extra socket). */
export async function startFromDeclaration(opts: FromDeclarationOptions): Promise<ActivationServer | null> {
  const file = opts.declarationPath ?? process.env.INTENT_SIDECAR_NEMOCLAW_DECLARATION ?? defaultDeclarationPath();
  const declaration = readDeclaration(file);
  if (!declaration) return null;
  const socketDir = path.dirname(declaration.activationSocketPath);
  const dataDir = path.resolve(opts.dataDir);
  if (socketDir !== dataDir && !socketDir.startsWith(dataDir + path.sep)) return null; // another sidecar's
  return startActivationServer({
    socketPath: declaration.activationSocketPath,
    componentId: declaration.componentId,
    activePolicyDigest: opts.activePolicyDigest,
    expected: { interceptor: declaration.interceptor, middleware: declaration.middleware },
    log: opts.log,
    deadlineMs: opts.deadlineMs,
  });
}
