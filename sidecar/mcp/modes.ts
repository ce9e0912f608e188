// The two ways `intent-sidecar mcp` runs: wrapping a stdio server (the proxy is itself a stdio server for the client)
// and fronting a Streamable HTTP server (the proxy serves Streamable HTTP on a local address).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ErrorCode, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Governor } from "./governor.ts";
import { LineTransport } from "./lines.ts";
import { Relay } from "./relay.ts";

export type Log = (line: Record<string, unknown>) => void;

/** Environment variables the wrapped server does not inherit (the agent's credentials stay with the proxy). */
const PRIVATE_ENV = ["INTENT_SIDECAR_TOKEN", "INTENT_SIDECAR_TOKEN_FILE"];

/** Wraps `command` (spawned with `args`) and relays between it and this process's stdin/stdout. Resolves with the
 * exit code to use once either side has gone away. */
export async function runStdio(opts: {
  command: string;
  args: string[];
  governor: Governor;
  log: Log;
}): Promise<number> {
  const env = { ...process.env };
  for (const k of PRIVATE_ENV) delete env[k];
  const child = spawn(opts.command, opts.args, { stdio: ["pipe", "pipe", "inherit"], env });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  await spawned;
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))),
  );
  const client = new LineTransport(process.stdin, process.stdout, "client");
  const upstream = new LineTransport(child.stdout!, child.stdin!, "server");
  child.stdin!.on("error", () => {}); // a server that exits mid-write: its exit is reported below
  const relay = new Relay(client, upstream, { governor: opts.governor, log: opts.log });
  const closed = new Promise<void>((resolve) => (relay.onclose = resolve));
  await relay.start();
  const first = await Promise.race([closed.then(() => "closed" as const), exited.then(() => "exited" as const)]);
  if (first === "closed" && child.exitCode === null) {
    // the client went away: stop the server, and make sure it does stop
    child.stdin!.end();
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    t.unref();
  }
  const code = await exited;
  await relay.close();
  return first === "closed" ? 0 : code;
}

export interface HttpProxy {
  url: string;
  close(): Promise<void>;
}

/** Serves Streamable HTTP at `http://<host>:<port>/mcp`; each client session gets its own session upstream. */
export async function startHttp(opts: {
  host: string;
  port: number;
  upstream: URL;
  governor: Governor;
  log: Log;
}): Promise<HttpProxy> {
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; relay: Relay }>();
  let allowedHosts: string[] = [];

  const jsonError = (res: ServerResponse, status: number, code: number, message: string) => {
    if (res.headersSent) return;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/mcp") return jsonError(res, 404, ErrorCode.InvalidRequest, `no MCP endpoint at ${path}; use /mcp`);
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const s = sessions.get(sid);
      if (!s) return jsonError(res, 404, ErrorCode.InvalidRequest, "unknown or closed MCP session");
      return s.transport.handleRequest(req, res);
    }
    if (req.method !== "POST")
      return jsonError(res, 400, ErrorCode.InvalidRequest, "an MCP session starts with a POST of initialize");
    // a new session: read the body to see that it is an initialize request (the transport answers any other error)
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 4 * 1024 * 1024) return jsonError(res, 413, ErrorCode.InvalidRequest, "body too large");
      chunks.push(c as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      return jsonError(res, 400, ErrorCode.ParseError, `Parse error: ${(e as Error).message}`);
    }
    if (!isInitializeRequest(body))
      return jsonError(res, 400, ErrorCode.InvalidRequest, "no session: the first request must be initialize");
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableDnsRebindingProtection: true,
      allowedHosts,
      onsessioninitialized: (id) => void sessions.set(id, { transport, relay }),
    });
    const upstream = new StreamableHTTPClientTransport(opts.upstream);
    const relay: Relay = new Relay(transport, upstream, { governor: opts.governor, log: opts.log });
    relay.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await relay.start();
    await transport.handleRequest(req, res, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      opts.log({ event: "mcp.http_error", error: e.message });
      jsonError(res, 500, ErrorCode.InternalError, "internal error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  allowedHosts = [`${hostPart}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
  return {
    url: `http://${hostPart}:${port}/mcp`,
    async close() {
      await Promise.allSettled([...sessions.values()].map((s) => s.relay.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
