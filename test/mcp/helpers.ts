// Shared pieces of the MCP proxy tests: a governed proxy in front of the fixture server, over stdio or HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { BIN } from "../cli/daemon-process.ts";
import { buildServer, type Received } from "./fixtures/server.ts";

export const FIXTURE = fileURLToPath(new URL("./fixtures/server.ts", import.meta.url));
export const AGENT = "mcp-agent";
export const AGENT_TOKEN = "mcp-agent-token-0123456789";
export const OPERATOR_TOKEN = "mcp-operator-token-0123456789";

/** `node --import tsx <file>` with the workspace packages resolved to their sources. */
export const TSX = [process.execPath, "--conditions=intent-sidecar-source", "--import", "tsx"];

export function received(log: string): Received[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Received);
}

/** Proxy env: the CLI from sources, the agent token, and what the fixture needs to verify. */
export function proxyEnv(o: { sidecar: string; name: string; log?: string }): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    INTENT_SIDECAR_SOURCE: "1",
    INTENT_SIDECAR_TOKEN: AGENT_TOKEN,
    FIXTURE_NAME: o.name,
    FIXTURE_AGENT: AGENT,
    FIXTURE_JWKS: `${o.sidecar}/.well-known/jwks.json`,
    ...(o.log ? { FIXTURE_LOG: o.log } : {}),
  };
}

/** An SDK client connected to `intent-sidecar mcp --name <name> -- node fixture` (stdio both ways). */
export async function stdioProxyClient(o: {
  sidecar: string;
  name: string;
  log: string;
  holdWait?: number;
  /** more `intent-sidecar mcp` options (e.g. --no-hide-denied) */
  options?: string[];
}): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      BIN,
      "mcp",
      "--name",
      o.name,
      "--sidecar",
      o.sidecar,
      "--hold-wait",
      String(o.holdWait ?? 2),
      ...(o.options ?? []),
      "--",
      ...TSX,
      FIXTURE,
    ],
    env: proxyEnv(o),
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (d) => (err += d));
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport, stderr: () => err };
}

/** The fixture server over Streamable HTTP in this process (one McpServer per session). */
export async function startHttpFixture(o: {
  name: string;
  jwks: string;
  onCall: (r: Received) => void;
}): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const server: Server = createServer(async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    const existing = typeof sid === "string" ? sessions.get(sid) : undefined;
    if (existing) return existing.handleRequest(req, res);
    let body = "";
    for await (const c of req) body += c;
    const parsed = body ? JSON.parse(body) : undefined;
    if (!isInitializeRequest(parsed)) {
      res.writeHead(400).end();
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    await buildServer({ name: o.name, agent: AGENT, jwks: o.jwks, onCall: o.onCall }).server.connect(transport);
    await transport.handleRequest(req, res, parsed);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    async close() {
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** `intent-sidecar mcp --upstream <url>` as a child process; resolves with the URL from its ready line. */
export async function spawnHttpProxy(o: {
  sidecar: string;
  name: string;
  upstream: string;
}): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [BIN, "mcp", "--name", o.name, "--sidecar", o.sidecar, "--upstream", o.upstream, "--listen", "127.0.0.1:0"],
    { env: proxyEnv(o), stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const o = JSON.parse(line) as { event?: string; url?: string };
        if (o.event === "ready" && o.url) resolve(o.url);
      } catch {
        /* not the ready line */
      }
    });
    child.once("exit", (code) => reject(new Error(`mcp proxy exited (${code}): ${err}`)));
  });
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
