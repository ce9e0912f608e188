// `intent-sidecar mcp`: a real MCP client (the SDK's) through the proxy (the CLI, a child process) to a real MCP
// server (the SDK's McpServer, verifying attestations with the real executor gate), against an in-process daemon
// serving the reference policy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BIN } from "../cli/daemon-process.ts";
import { http, removeDir, startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import type { Received } from "./fixtures/server.ts";
import {
  AGENT,
  AGENT_TOKEN,
  OPERATOR_TOKEN,
  FIXTURE,
  TSX,
  proxyEnv,
  received,
  spawnHttpProxy,
  startHttpFixture,
  stdioProxyClient,
} from "./helpers.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;
const config = { agentTokens: { [AGENT]: AGENT_TOKEN }, operatorTokens: { op: OPERATOR_TOKEN } };

const text = (r: CallToolResult) => r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
const decisionMeta = (r: CallToolResult) =>
  r._meta?.["io.intent-sidecar/decision"] as { decision: string; hold_id?: string; intent_id?: string } | undefined;

let d: Daemon;
let dir: string;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = tempDir("isc-mcp-");
  d = await startTestDaemon({ config });
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await d?.close();
  removeDir(dir);
});

async function proxy(name: string, holdWait?: number, options?: string[]) {
  const log = join(dir, `${name}-${Math.random().toString(36).slice(2)}.jsonl`);
  const p = await stdioProxyClient({
    sidecar: d.url,
    name,
    log,
    ...(holdWait !== undefined ? { holdWait } : {}),
    ...(options ? { options } : {}),
  });
  closers.push(() => p.client.close());
  return { ...p, log };
}

async function approve(holdId: string) {
  const r = await http(`http://${d.operatorAddr}/v1/holds/${holdId}/approve`, {
    body: { comment: "ok" },
    token: OPERATOR_TOKEN,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

describe("stdio: intent-sidecar mcp --name NAME -- COMMAND", () => {
  it("forwards an allowed call with an attestation the server verifies with the executor gate", async () => {
    const { client, log } = await proxy("web");
    // only web.fetch is in tool_calls.allow: the other tools are denied by name and hidden
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(["fetch"]);

    const args = { url: "https://api.github.com/repos/octo/hello" };
    const r = (await client.callTool({ name: "fetch", arguments: args })) as CallToolResult;
    expect(r.isError ?? false, text(r)).toBe(false);
    expect(text(r)).toContain("fetch ran");
    const got = received(log);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ tool: "fetch", args, verified: true, attested: true });

    // the same call again is a new intent with a fresh attestation (the first one is spent), and runs again
    const r2 = (await client.callTool({ name: "fetch", arguments: args })) as CallToolResult;
    expect(r2.isError ?? false, text(r2)).toBe(false);
    const again = received(log);
    expect(again).toHaveLength(2);
    expect(again[1]!.verified).toBe(true);
    expect(again[1]!.jti).not.toBe(again[0]!.jti);
  }, 60_000);

  it("a policy denial answers the model with the reasons and never reaches the server", async () => {
    const { client, log } = await proxy("shell");
    const r = (await client.callTool({ name: "exec", arguments: { cmd: "rm -rf /" } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/shell\.exec was denied by policy/);
    expect(text(r)).toMatch(/shell\.\*/); // the deny glob that matched, from the sidecar's reasons
    expect(decisionMeta(r)?.decision).toBe("DENIED");
    expect(received(log)).toEqual([]);

    // a URL outside tool_calls.domains: denied by the domain rule
    const { client: web, log: webLog } = await proxy("web");
    const r2 = (await web.callTool({
      name: "fetch",
      arguments: { url: "https://pastebin.com/raw/x" },
    })) as CallToolResult;
    expect(r2.isError).toBe(true);
    expect(text(r2)).toContain("pastebin.com");
    expect(received(webLog)).toEqual([]);
  }, 60_000);

  it("a held call reports progress, names the hold, and runs exactly once after approval when retried", async () => {
    const { client, log } = await proxy("payments", 1);
    const args = { charge: "ch_42", amount: "19.99" };
    const progress: { progress: number; message?: string }[] = [];
    const r = (await client.callTool({ name: "refund", arguments: args }, undefined, {
      onprogress: (p) => progress.push(p),
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    const meta = decisionMeta(r)!;
    expect(meta.decision).toBe("PENDING");
    expect(meta.hold_id).toMatch(/^hold_/);
    expect(text(r)).toContain(meta.hold_id!);
    expect(text(r)).toMatch(/Retry the same call/);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]!.message).toContain(meta.hold_id!);
    expect(received(log)).toEqual([]);

    // retrying before approval finds the same hold
    const r1 = (await client.callTool({ name: "refund", arguments: args })) as CallToolResult;
    expect(decisionMeta(r1)?.hold_id).toBe(meta.hold_id);
    expect(received(log)).toEqual([]);

    await approve(meta.hold_id!);
    const r2 = (await client.callTool({ name: "refund", arguments: args })) as CallToolResult;
    expect(r2.isError ?? false, text(r2)).toBe(false);
    const got = received(log);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ tool: "refund", args, verified: true });
    expect(got[0]!.approval).toMatchObject({ hold_id: meta.hold_id });

    // once run, the same call again is a new intent: held again, and the server is not called a second time
    const r3 = (await client.callTool({ name: "refund", arguments: args })) as CallToolResult;
    expect(decisionMeta(r3)?.decision).toBe("PENDING");
    expect(decisionMeta(r3)?.hold_id).not.toBe(meta.hold_id);
    expect(received(log)).toHaveLength(1);
  }, 60_000);

  it("an approval that arrives while the call waits forwards the call in the same request", async () => {
    const { client, log } = await proxy("payments", 20);
    const args = { charge: "ch_43", amount: "5.00" };
    const call = client.callTool({ name: "refund", arguments: args }) as Promise<CallToolResult>;
    let holdId: string | undefined;
    for (let i = 0; i < 100 && !holdId; i++) {
      const list = await http(`http://${d.operatorAddr}/v1/holds?state=pending`, { token: OPERATOR_TOKEN });
      holdId = (list.body.holds as { id: string; intent: { params: { args: unknown } } }[]).find(
        (h) => JSON.stringify(h.intent.params.args) === JSON.stringify(args),
      )?.id;
      if (!holdId) await new Promise((res) => setTimeout(res, 100));
    }
    expect(holdId).toBeDefined();
    await approve(holdId!);
    const r = await call;
    expect(r.isError ?? false, text(r)).toBe(false);
    expect(received(log)).toHaveLength(1);
    expect(received(log)[0]!.verified).toBe(true);
  }, 60_000);

  it("tools/list hides the tools the policy denies by name; a hidden tool called anyway is denied", async () => {
    // payments.* is allowed (and held): every tool listed
    const pay = await proxy("payments");
    expect((await pay.client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      "exec",
      "fetch",
      "post_message",
      "refund",
    ]);
    // shell.* is in tool_calls.deny: nothing listed
    const shell = await proxy("shell");
    expect((await shell.client.listTools()).tools).toEqual([]);
    expect(shell.stderr()).toContain('"event":"mcp.tools_hidden"');
    const r = (await shell.client.callTool({ name: "exec", arguments: { cmd: "id" } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(decisionMeta(r)?.decision).toBe("DENIED");
    expect(text(r)).toContain("shell.exec");
    expect(received(shell.log)).toHaveLength(0);
    // --no-hide-denied: the list is passed through unfiltered, and the calls are governed as always
    const all = await proxy("shell", undefined, ["--no-hide-denied"]);
    expect((await all.client.listTools()).tools).toHaveLength(4);
    const r2 = (await all.client.callTool({ name: "exec", arguments: { cmd: "id" } })) as CallToolResult;
    expect(decisionMeta(r2)?.decision).toBe("DENIED");
    expect(received(all.log)).toHaveLength(0);
  }, 60_000);

  it("fails closed: with the sidecar stopped mid-session every call is refused and nothing is forwarded", async () => {
    const own = await startTestDaemon({ config });
    let stopped = false;
    closers.push(async () => (stopped ? undefined : own.close()));
    const log = join(dir, "fail-closed.jsonl");
    const { client } = await stdioProxyClient({ sidecar: own.url, name: "slack", log });
    closers.push(() => client.close());
    const args = { channel: "#ops", text: "deploy done" };
    const ok = (await client.callTool({ name: "post_message", arguments: args })) as CallToolResult;
    expect(ok.isError ?? false, text(ok)).toBe(false);
    expect(received(log)).toHaveLength(1);

    await own.close();
    stopped = true;
    const r = (await client.callTool({
      name: "post_message",
      arguments: { ...args, text: "again" },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/could not decide/);
    expect(text(r)).toContain(own.url);
    expect(decisionMeta(r)?.decision).toBe("UNAVAILABLE");
    expect(received(log)).toHaveLength(1);
    // tools/list fails closed too: a JSON-RPC error rather than an unscreened list
    await expect(client.listTools()).rejects.toThrow(/could not screen the tools/);
    // other methods still pass through
    await expect(client.ping()).resolves.toBeDefined();
  }, 60_000);
});

describe("malformed JSON-RPC", () => {
  /** The proxy with raw pipes: lines in, lines out. */
  function rawProxy(server: string[]) {
    const child = spawn(
      process.execPath,
      [BIN, "mcp", "--quiet", "--name", "web", "--sidecar", d.url, "--", ...server],
      {
        env: proxyEnv({ sidecar: d.url, name: "web" }),
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    closers.push(async () => child.kill());
    const lines: unknown[] = [];
    const waiters: (() => void)[] = [];
    createInterface({ input: child.stdout! }).on("line", (l) => {
      lines.push(JSON.parse(l));
      waiters.splice(0).forEach((w) => w());
    });
    const next = async (): Promise<any> => {
      while (lines.length === 0) await new Promise<void>((r) => waiters.push(r));
      return lines.shift();
    };
    const send = (s: string) => child.stdin!.write(s + "\n");
    return { child, next, send };
  }
  const init = (id: number) =>
    JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });

  it("from the client: parse errors and invalid requests get JSON-RPC errors, and the proxy stays up", async () => {
    const p = rawProxy([...TSX, FIXTURE]);
    p.send("this is not json");
    expect(await p.next()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: expect.any(String) } });
    p.send(JSON.stringify({ jsonrpc: "2.0", id: 7 }));
    expect(await p.next()).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32600 } });
    p.send(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "fetch", arguments: [1] } }));
    expect(await p.next()).toMatchObject({ id: 8, error: { code: -32602 } });
    p.send(init(9));
    expect(await p.next()).toMatchObject({ id: 9, result: { serverInfo: { name: "fixture-web" } } });
    expect(p.child.exitCode).toBe(null);
  }, 60_000);

  it("from the server: the client gets a JSON-RPC error for its request, the server gets one for its garbage", async () => {
    // a broken server: prints garbage, then answers every request with an invalid message carrying its id
    const script = `
      process.stdout.write("garbage from the server\\n");
      require("node:readline").createInterface({ input: process.stdin }).on("line", (l) => {
        let m; try { m = JSON.parse(l); } catch { return; }
        if (m.error) { process.stderr.write("server got error " + m.error.code + "\\n"); return; }
        if (m.id !== undefined && m.method) process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, bogus: 1 }) + "\\n");
      });`;
    const p = rawProxy([process.execPath, "-e", script]);
    let err = "";
    p.child.stderr!.on("data", (c) => (err += c));
    p.send(init(1));
    expect(await p.next()).toMatchObject({
      id: 1,
      error: { code: -32603, message: expect.stringMatching(/malformed/) },
    });
    p.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }));
    expect(await p.next()).toMatchObject({ id: 2, error: { code: -32603 } });
    await new Promise((r) => setTimeout(r, 200));
    expect(err).toContain("server got error -32700");
    expect(p.child.exitCode).toBe(null);
  }, 60_000);
});

describe("Streamable HTTP: intent-sidecar mcp --upstream URL --listen 127.0.0.1:0", () => {
  it("relays a session to the upstream server, governing every call", async () => {
    const calls: Received[] = [];
    const upstream = await startHttpFixture({
      name: "web",
      jwks: `${d.url}/.well-known/jwks.json`,
      onCall: (r) => calls.push(r),
    });
    closers.push(() => upstream.close());
    const p = await spawnHttpProxy({ sidecar: d.url, name: "web", upstream: upstream.url });
    closers.push(() => p.stop());
    expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);

    const client = new Client({ name: "http-client", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(p.url));
    await client.connect(transport);
    closers.push(() => client.close());
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["fetch"]);

    const args = { url: "https://api.github.com/zen" };
    const ok = (await client.callTool({ name: "fetch", arguments: args })) as CallToolResult;
    expect(ok.isError ?? false, text(ok)).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ tool: "fetch", args, verified: true });

    // web.exec is in no allow list: hidden from tools/list, and called anyway it is denied, never forwarded
    const no = (await client.callTool({ name: "exec", arguments: { cmd: "id" } })) as CallToolResult;
    expect(no.isError).toBe(true);
    expect(decisionMeta(no)?.decision).toBe("DENIED");
    expect(calls).toHaveLength(1);

    // malformed JSON to the proxy's endpoint: a JSON-RPC parse error, and the session goes on
    const bad = await fetch(p.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": transport.sessionId!,
        "mcp-protocol-version": "2025-06-18",
      },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe(-32700);
    expect((await client.listTools()).tools).toHaveLength(1);
    await transport.terminateSession();
  }, 60_000);
});
