// PII through the MCP gateway with the real MCP client and server: arguments the policy redacts reach the server in
// their redacted form (the executor gate there verifies the attestation against them), a call with a denied
// detector never reaches it, and the server's result reaches the client with its PII redacted by the sidecar
// (POST /v1/intents/{id}/result); when the sidecar cannot screen a result, it is withheld.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createGate, memoryReplayStore } from "@intent-sidecar/executor-gate";
import { removeDir, startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import { AGENT, AGENT_TOKEN, OPERATOR_TOKEN, spawnHttpProxy } from "./helpers.ts";

const POLICY = `
tool_calls:
  allow: ["crm.*"]
pii:
  detectors: {email: redact, payment_card: redact, us_ssn: deny, phone: hold}
`;

interface Call {
  args: Record<string, unknown>;
  verified: boolean;
  error?: string;
}

/** A CRM server over Streamable HTTP whose lookup tool verifies the attestation and answers with PII. */
async function crmServer(jwks: string, calls: Call[]): Promise<{ url: string; close(): Promise<void> }> {
  const gate = createGate({ jwks, replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }) });
  const build = () => {
    const server = new McpServer({ name: "crm", version: "1.0.0" });
    server.registerTool("lookup", { inputSchema: { query: z.string() } }, async (args, extra) => {
      const call: Call = { args, verified: false };
      try {
        await gate.consume(extra._meta?.["io.intent-sidecar/attestation"], {
          agent: AGENT,
          action: "tool.call",
          params: { tool: "crm.lookup", args },
        });
        call.verified = true;
      } catch (e) {
        call.error = (e as Error).message;
      }
      calls.push(call);
      if (!call.verified) return { content: [{ type: "text", text: `refused: ${call.error}` }], isError: true };
      if (args.query === "deep") {
        // nested past the scanner's depth bound: the sidecar cannot screen it
        let deep: Record<string, unknown> = { email: "frank@example.com" };
        for (let i = 0; i < 80; i++) deep = { deep };
        return { content: [{ type: "text", text: "deep" }], structuredContent: deep };
      }
      return {
        content: [{ type: "text", text: `found ${args.query}: contact dave@example.com, card 4111 1111 1111 1111` }],
        structuredContent: { owner: "erin@example.com", order: "ORD-2024-000123" },
      };
    });
    return server;
  };
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const http: Server = createServer(async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    const existing = typeof sid === "string" ? sessions.get(sid) : undefined;
    if (existing) return existing.handleRequest(req, res);
    let body = "";
    for await (const c of req) body += c;
    const parsed = body ? JSON.parse(body) : undefined;
    if (!isInitializeRequest(parsed)) return void res.writeHead(400).end();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
    });
    await build().connect(transport);
    await transport.handleRequest(req, res, parsed);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    async close() {
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

const text = (r: CallToolResult) => r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dir: string;
const calls: Call[] = [];
const closers: (() => Promise<unknown>)[] = [];
let client: Client;

beforeAll(async () => {
  dir = tempDir("isc-mcp-pii-");
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({
    config: { policyFile, agentTokens: { [AGENT]: AGENT_TOKEN }, operatorTokens: { op: OPERATOR_TOKEN } },
  });
  const upstream = await crmServer(`${d.url}/.well-known/jwks.json`, calls);
  closers.push(() => upstream.close());
  const p = await spawnHttpProxy({ sidecar: d.url, name: "crm", upstream: upstream.url });
  closers.push(() => p.stop());
  client = new Client({ name: "pii-client", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(p.url)));
  closers.push(() => client.close());
}, 60_000);
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await d?.close();
  removeDir(dir);
});

describe("MCP gateway: PII in arguments and results", () => {
  it("forwards the redacted arguments the attestation binds, and redacts the result", async () => {
    const r = (await client.callTool({ name: "lookup", arguments: { query: "bob@example.com" } })) as CallToolResult;
    expect(r.isError ?? false, text(r)).toBe(false);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({ args: { query: "[REDACTED:email]" }, verified: true });
    expect(text(r)).toBe("found [REDACTED:email]: contact [REDACTED:email], card [REDACTED:payment_card]");
    expect(r.structuredContent).toEqual({ owner: "[REDACTED:email]", order: "ORD-2024-000123" });
    const audit = d.db.prepare("SELECT data_json FROM audit WHERE type = 'result.redacted'").all() as { data_json: string }[];
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.data_json).counts).toEqual({ email: 2, payment_card: 1 });
    expect(JSON.stringify(audit)).not.toMatch(/dave|erin|4111/);
  });

  it("a denied detector never reaches the server", async () => {
    const r = (await client.callTool({ name: "lookup", arguments: { query: "ssn 536-22-1234" } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("params.args.query contains a US social security number (us_ssn)");
    expect(text(r)).not.toContain("536-22-1234");
    expect(calls).toHaveLength(1);
  });

  it("held for a phone number, approved by an operator: forwarded with the email redacted and the phone kept", async () => {
    const before = calls.length;
    const call = client.callTool({ name: "lookup", arguments: { query: "alice@example.com +44 20 7946 0958" } });
    const op = `http://${d.operatorAddr}`;
    let holdId: string | undefined;
    for (let i = 0; i < 100 && !holdId; i++) {
      const list = (await (await fetch(`${op}/v1/holds`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).json()) as {
        holds?: { id: string; state?: string }[];
      };
      holdId = list.holds?.find((h) => h.state === undefined || h.state === "pending")?.id;
      if (!holdId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(holdId).toBeDefined();
    const ok = await fetch(`${op}/v1/holds/${holdId}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(ok.status).toBe(200);
    const r = (await call) as CallToolResult;
    expect(r.isError ?? false, text(r)).toBe(false);
    expect(calls.slice(before)).toEqual([{ args: { query: "[REDACTED:email] +44 20 7946 0958" }, verified: true }]);
  }, 60_000);

  it("a result the sidecar cannot screen is withheld (fail closed)", async () => {
    const err = await client.callTool({ name: "lookup", arguments: { query: "deep" } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(calls.at(-1)).toEqual({ args: { query: "deep" }, verified: true }); // the tool ran
    expect(err?.message).toMatch(/the tool ran, but its result was withheld: .*could not screen it for PII/);
    expect(err?.message).not.toContain("frank");
  });
});
