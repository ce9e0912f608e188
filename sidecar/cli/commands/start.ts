// `intent-sidecar start`: runs the daemon; prints one JSON `ready` line on stdout; logs go to stderr.
// SIGTERM/SIGINT: stop accepting, drain, close SQLite. SIGHUP: reload the policy.
// Secure by default: with no agent/operator tokens configured, tokens are generated into the data dir (0600) and
// reused (sidecar/token-files.ts); `--dev` keeps the tokenless dev mode instead. Files are created private (umask 077).
import type { Command } from "commander";
import { ConfigError, loadConfig } from "../../config.ts";
import { startDaemon } from "../../daemon.ts";
import { createLogger, setProcessLogger } from "../../log.ts";
import { ExitError } from "../exit.ts";
import { provisionTokens, type TokenFiles } from "../../token-files.ts";

export function registerStart(program: Command): void {
  program
    .command("start")
    .description("run the sidecar daemon (agent API, proxy, operator API)")
    .option("--policy <file>", "policy file (YAML or Markdown); default: the bundled reference policy")
    .option("--data-dir <dir>", "state directory (SQLite, keys)", undefined)
    .option("--config <file>", "config file (YAML)")
    .option("--agent-addr <host:port>", "agent API listener (default 127.0.0.1:7400; port 0 picks one)")
    .option("--proxy-addr <host:port>", "proxy listener (default 127.0.0.1:7401)")
    .option("--operator-addr <host:port>", "operator API listener (default 127.0.0.1:7402)")
    .option("--middleware-addr <host:port>", "OpenShell supervisor middleware (gRPC over TLS); off unless given")
    .option("--interceptor-addr <host:port>", "OpenShell gateway interceptor (gRPC over TLS); off unless given")
    .option(
      "--dev",
      "dev mode: generate no tokens; with no agent tokens configured any local process may declare intents as any agent",
    )
    .action(
      async (opts: {
        policy?: string;
        dataDir?: string;
        config?: string;
        agentAddr?: string;
        proxyAddr?: string;
        operatorAddr?: string;
        middlewareAddr?: string;
        interceptorAddr?: string;
        dev?: boolean;
      }) => {
        let config;
        let tokenFiles: TokenFiles;
        try {
          config = loadConfig(opts);
        } catch (e) {
          if (e instanceof ConfigError) throw new ExitError(2, `intent-sidecar: ${e.message}`);
          throw e;
        }
        process.umask(0o077); // everything the daemon writes into the data dir is private (0600 files, 0700 dirs)
        try {
          ({ config, files: tokenFiles } = provisionTokens(config, { dev: opts.dev === true }));
        } catch (e) {
          throw new ExitError(2, `intent-sidecar: cannot set up tokens in ${config.dataDir}: ${(e as Error).message}`);
        }
        const log = createLogger();
        setProcessLogger(log); // the pipeline's one line per decision, hold outcome and approval
        let daemon;
        try {
          daemon = await startDaemon({ config, log });
        } catch (e) {
          const busy = addrInUse(e, config);
          if (busy) throw new ExitError(2, `intent-sidecar: cannot start: ${busy}`);
          throw new ExitError(2, `intent-sidecar: cannot start: ${(e as Error).message}`);
        }
        const ready = {
          ...daemon.readyInfo(),
          ...(tokenFiles.agentTokenFile ? { agent_token_file: tokenFiles.agentTokenFile } : {}),
          ...(tokenFiles.operatorTokenFile ? { operator_token_file: tokenFiles.operatorTokenFile } : {}),
        };
        let stopping = false;
        const stop = async (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, "shutting down");
          try {
            await daemon.close();
          } finally {
            log.flush?.();
            process.exit(0);
          }
        };
        process.on("SIGTERM", () => void stop("SIGTERM"));
        process.on("SIGINT", () => void stop("SIGINT"));
        process.on("SIGHUP", () => {
          daemon.keys.refresh();
          void daemon.reloadPolicy();
        });
        // the handlers are in place before the ready line: a supervisor may signal as soon as it reads it
        // where the tokens are, for the human who ran `npm start` (never the tokens themselves)
        process.stderr.write(startBanner(daemon.operatorAddr, tokenFiles, opts.dev === true) + "\n");
        // stdout carries only the ready line; a reader that goes away (e.g. `| head -1`) must not stop the daemon
        process.stdout.on("error", () => undefined);
        process.stdout.write(JSON.stringify(ready) + "\n");
        log.info(ready, "ready");
        // keep running until a signal arrives
        await new Promise<never>(() => {});
      },
    );
}

/** For a listener that could not bind because its address is taken: which address, and the flag that changes it
 * ("127.0.0.1:7400 is in use: pass --agent-addr HOST:PORT (or 127.0.0.1:0 for any free port)"). */
export function addrInUse(
  e: unknown,
  cfg: { agentAddr: string; proxyAddr: string; operatorAddr: string },
): string | undefined {
  const err = e as { code?: string; port?: number; address?: string; message?: string } | null;
  if (!err || err.code !== "EADDRINUSE") return undefined;
  const listeners = [
    ["--agent-addr", cfg.agentAddr],
    ["--proxy-addr", cfg.proxyAddr],
    ["--operator-addr", cfg.operatorAddr],
  ] as const;
  const port = (a: string) => Number(a.slice(a.lastIndexOf(":") + 1));
  const host = (a: string) => a.slice(0, a.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  const hit =
    listeners.find(([, a]) => port(a) === err.port && (err.address === undefined || host(a) === err.address)) ??
    listeners.find(([, a]) => port(a) === err.port);
  if (!hit) return `${err.message ?? "an address is in use"}: pass --agent-addr, --proxy-addr or --operator-addr HOST:PORT`;
  const [flag, addr] = hit;
  const h = host(addr);
  const any = `${h.includes(":") ? `[${h}]` : h}:0`;
  return `${addr} is in use: pass ${flag} HOST:PORT (or ${any} for any free port)`;
}

/** The human lines on stderr at start: where the tokens are and the console's URL. */
export function startBanner(operatorAddr: string, files: TokenFiles, dev: boolean): string {
  const lines: string[] = [];
  const made = (f: string) => (files.created.includes(f) ? "generated" : "reused");
  if (files.agentTokenFile) {
    lines.push(
      `intent-sidecar: agent token (${made(files.agentTokenFile)}, agent "agent") in ${files.agentTokenFile}: ` +
        "send it as Authorization: Bearer <token>, e.g. INTENT_SIDECAR_AGENT_TOKEN=$(cat that file)",
    );
  }
  if (files.operatorTokenFile) {
    lines.push(`intent-sidecar: operator token (${made(files.operatorTokenFile)}, operator "operator") in ${files.operatorTokenFile}`);
  }
  if (dev) lines.push("intent-sidecar: --dev: no tokens were generated");
  lines.push(`intent-sidecar: operator console: http://${operatorAddr}/console/ (sign in with an operator token)`);
  return lines.join("\n");
}
