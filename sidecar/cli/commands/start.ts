// `intent-sidecar start`: runs the daemon; prints one JSON `ready` line on stdout; logs go to stderr.
// SIGTERM/SIGINT: stop accepting, drain, close SQLite. SIGHUP: reload the policy.
import type { Command } from "commander";
import { ConfigError, loadConfig } from "../../config.ts";
import { startDaemon } from "../../daemon.ts";
import { createLogger } from "../../log.ts";
import { ExitError } from "../exit.ts";

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
    .action(
      async (opts: {
        policy?: string;
        dataDir?: string;
        config?: string;
        agentAddr?: string;
        proxyAddr?: string;
        operatorAddr?: string;
      }) => {
        let config;
        try {
          config = loadConfig(opts);
        } catch (e) {
          if (e instanceof ConfigError) throw new ExitError(2, `intent-sidecar: ${e.message}`);
          throw e;
        }
        const log = createLogger();
        let daemon;
        try {
          daemon = await startDaemon({ config, log });
        } catch (e) {
          const err = e as Error & { code?: string };
          throw new ExitError(2, `intent-sidecar: cannot start: ${err.message}`);
        }
        // stdout carries only the ready line; a reader that goes away (e.g. `| head -1`) must not stop the daemon
      process.stdout.on("error", () => undefined);
      process.stdout.write(JSON.stringify(daemon.readyInfo()) + "\n");
        log.info(daemon.readyInfo(), "ready");

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
        // keep running until a signal arrives
        await new Promise<never>(() => {});
      },
    );
}
