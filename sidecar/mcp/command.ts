// `intent-sidecar mcp`: a governing MCP proxy (docs/mcp.md). Every tools/call becomes a `tool.call` intent named
// `<name>.<tool>` at the sidecar's agent API; approved calls are forwarded with the attestation in `_meta`, denied and
// held ones are answered to the model with the reasons, and nothing is forwarded while the sidecar cannot decide.
//
//   intent-sidecar mcp --name payments -- node server.js             wrap a stdio server (stdio for the client)
//   intent-sidecar mcp --name docs --upstream https://host/mcp       front a Streamable HTTP server
import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ExitError } from "../cli/exit.ts";
import { Governor } from "./governor.ts";
import { runStdio, startHttp, type Log } from "./modes.ts";

interface McpOpts {
  name: string;
  upstream?: string;
  listen: string;
  sidecar: string;
  agent?: string;
  tokenFile?: string;
  holdWait: string;
  quiet?: boolean;
  hideDenied: boolean;
}

const DEFAULT_TOKEN_FILE = ".intent-sidecar/agent-token";

export function registerMcp(program: Command): void {
  program
    .command("mcp")
    .description("governing MCP proxy: every tools/call is declared as a tool.call intent first (docs/mcp.md)")
    .usage("--name NAME [options] -- COMMAND [ARGS...]  |  --name NAME --upstream URL [--listen HOST:PORT]")
    .requiredOption("--name <name>", "the server's name: tool x is governed as <name>.x (policy tool_calls globs)")
    .option("--upstream <url>", "front this Streamable HTTP MCP server instead of wrapping a command")
    .option("--listen <host:port>", "with --upstream: where to serve Streamable HTTP (port 0 picks one)", "127.0.0.1:0")
    .option(
      "--sidecar <url>",
      "the sidecar's agent API (env INTENT_SIDECAR_URL)",
      process.env.INTENT_SIDECAR_URL ?? "http://127.0.0.1:7400",
    )
    .option("--agent <name>", "agent name in the intents (default: the token's)")
    .option(
      "--token-file <file>",
      `file holding the agent token when INTENT_SIDECAR_TOKEN is not set (default ./${DEFAULT_TOKEN_FILE} if it exists)`,
    )
    .option(
      "--hold-wait <seconds>",
      "how long a held call waits for an operator before the model is told to retry",
      "30",
    )
    .option(
      "--no-hide-denied",
      "list every tool in tools/list (default: the tools the policy denies outright by name are hidden)",
    )
    .option("--quiet", "no log lines on stderr")
    .argument("[command...]", "the stdio MCP server to wrap, after --")
    .action(async (command: string[], opts: McpOpts) => {
      if (!/^[A-Za-z0-9_-]+$/.test(opts.name))
        throw new ExitError(2, `mcp: --name must be letters, digits, _ or - (got "${opts.name}")`);
      if (!opts.upstream === (command.length === 0))
        throw new ExitError(2, "mcp: give either a command to wrap (after --) or --upstream URL, not both");
      const holdWait = Number(opts.holdWait);
      if (!Number.isFinite(holdWait) || holdWait < 0 || holdWait > 3600)
        throw new ExitError(2, "mcp: --hold-wait must be a number of seconds from 0 to 3600");
      const token = process.env.INTENT_SIDECAR_TOKEN || readToken(opts.tokenFile);
      if (!token && !opts.agent)
        throw new ExitError(
          2,
          "mcp: an agent token is required: set INTENT_SIDECAR_TOKEN or pass --token-file (or --agent for a sidecar in --dev mode)",
        );
      const governor = new Governor({
        sidecarUrl: opts.sidecar,
        server: opts.name,
        holdWaitMs: holdWait * 1000,
        hideDenied: opts.hideDenied,
        ...(token ? { token } : {}),
        ...(opts.agent ? { agent: opts.agent } : {}),
      });
      // stdout may be the MCP channel: logs go to stderr only
      const log: Log = opts.quiet
        ? () => {}
        : (line) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...line }) + "\n");

      if (opts.upstream) {
        let upstream: URL;
        try {
          upstream = new URL(opts.upstream);
        } catch {
          throw new ExitError(2, `mcp: --upstream is not a URL: ${opts.upstream}`);
        }
        if (upstream.protocol !== "http:" && upstream.protocol !== "https:")
          throw new ExitError(2, "mcp: --upstream must be an http(s) URL");
        const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(opts.listen);
        if (!m) throw new ExitError(2, `mcp: --listen must be HOST:PORT (got "${opts.listen}")`);
        const proxy = await startHttp({
          host: m[1]!.replace(/^\[|\]$/g, ""),
          port: Number(m[2]),
          upstream,
          governor,
          log,
        });
        process.stdout.write(JSON.stringify({ event: "ready", url: proxy.url, upstream: upstream.href }) + "\n");
        await new Promise<void>((done) => {
          const stop = () => void proxy.close().then(done);
          process.once("SIGTERM", stop);
          process.once("SIGINT", stop);
        });
        return;
      }
      log({ event: "mcp.start", name: opts.name, command: command[0], sidecar: governor.sidecarUrl });
      let code: number;
      try {
        code = await runStdio({ command: command[0]!, args: command.slice(1), governor, log });
      } catch (e) {
        throw new ExitError(2, `mcp: cannot start ${command[0]}: ${(e as Error).message}`);
      }
      process.exit(code);
    });
}

function readToken(file: string | undefined): string | undefined {
  const path =
    file ?? process.env.INTENT_SIDECAR_TOKEN_FILE ?? (existsSync(DEFAULT_TOKEN_FILE) ? DEFAULT_TOKEN_FILE : undefined);
  if (!path) return undefined;
  try {
    return readFileSync(resolve(path), "utf8").trim() || undefined;
  } catch (e) {
    throw new ExitError(2, `mcp: cannot read the agent token file ${path}: ${(e as Error).message}`);
  }
}
