// The OpenClaw plugin's before_tool_call handler against a real sidecar (spawned, token mode, test policy): what the
// hook returns for APPROVED, DENIED, PENDING (and the retry after an operator approves or denies), and that it fails
// closed when the sidecar is unreachable, silent, or refuses. Registration through the plugin entry's register(api)
// with a recording api; test/openclaw/openclaw.test.ts loads the same plugin in a real OpenClaw gateway.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import plugin, {
  createBeforeToolCallHandler,
  HOOK_PRIORITY,
  type BeforeToolCallEvent,
  type BeforeToolCallResult,
  type ToolContext,
} from "@intent-sidecar/openclaw";
import manifest from "../../openclaw/openclaw.plugin.json" with { type: "json" };
import { AGENT_TOKEN, holdIdOf, startSidecar, type TestSidecar } from "./sidecar.ts";

let sc: TestSidecar;
const env = () => ({ INTENT_SIDECAR_AGENT_TOKEN: AGENT_TOKEN });
const ctx: ToolContext = { agentId: "main", sessionKey: "agent:main:main", sessionId: "s-1", runId: "run-1" };
const call = (toolName: string, params: Record<string, unknown>, id = "call-1"): BeforeToolCallEvent => ({
  toolName,
  params,
  toolCallId: id,
});

beforeAll(async () => {
  sc = await startSidecar();
});
afterAll(async () => {
  await sc?.stop();
});

describe("openclaw plugin: the before_tool_call hook", () => {
  it("registers before_tool_call (lowest priority) through register(api), with the manifest's id", async () => {
    const seen: {
      hook: string;
      handler: (e: BeforeToolCallEvent, c: ToolContext) => Promise<BeforeToolCallResult>;
      opts: any;
    }[] = [];
    plugin.register({
      pluginConfig: { url: sc.url },
      on: (hook, handler, opts) => seen.push({ hook, handler, opts }),
    });
    expect(plugin.id).toBe(manifest.id);
    expect(seen.map((s) => s.hook)).toEqual(["before_tool_call"]);
    expect(seen[0].opts).toEqual({ priority: HOOK_PRIORITY });
    // the token comes from INTENT_SIDECAR_AGENT_TOKEN of the process: absent here, so the sidecar refuses (401)
    const saved = process.env.INTENT_SIDECAR_AGENT_TOKEN;
    delete process.env.INTENT_SIDECAR_AGENT_TOKEN;
    try {
      const r = await seen[0].handler(call("read", { path: "a.txt" }), ctx);
      expect(r.block).toBe(true);
      expect(r.blockReason).toMatch(/intent-sidecar refused to decide \(unauthorized 401/);
      process.env.INTENT_SIDECAR_AGENT_TOKEN = AGENT_TOKEN;
      expect(await seen[0].handler(call("read", { path: "a.txt" }), ctx)).toEqual({ params: { path: "a.txt" } });
    } finally {
      if (saved === undefined) delete process.env.INTENT_SIDECAR_AGENT_TOKEN;
      else process.env.INTENT_SIDECAR_AGENT_TOKEN = saved;
    }
  });

  it("APPROVED: no block, and the params the sidecar decided on are returned (they win over other hooks' rewrites)", async () => {
    const hook = createBeforeToolCallHandler({ url: sc.url }, { env: env() });
    const params = { url: "https://api.github.com/repos/x/y", nested: { b: 1, a: [1, 2] } };
    expect(await hook(call("web_fetch", params), ctx)).toEqual({ params });
  });

  it("DENIED: blocked with the sidecar's reasons and the intent id", async () => {
    const hook = createBeforeToolCallHandler({ url: sc.url }, { env: env() });
    const r = await hook(call("exec", { command: "rm -rf /" }), ctx);
    expect(r.block).toBe(true);
    expect(r.blockReason).toMatch(
      /^intent-sidecar DENIED openclaw\.exec \(intent [0-9a-f-]+\): tool_calls\/deny: tool openclaw\.exec matches tool_calls\.deny "openclaw\.exec"\. The tool did not run/,
    );
  });

  it("PENDING: blocked with the hold id and how to retry; the same call reports the hold until approved, then runs once", async () => {
    const hook = createBeforeToolCallHandler({ url: sc.url }, { env: env() });
    const params = { order: "A-1", amount: "12.50" };
    const r1 = await hook(call("held_tool", params), ctx);
    expect(r1.block).toBe(true);
    expect(r1.blockReason).toMatch(/^intent-sidecar is holding openclaw\.held_tool for human review: hold hold_/);
    expect(r1.blockReason).toMatch(/0\/1 approvals, expires \d{4}-/);
    expect(r1.blockReason).toMatch(/call this tool again with exactly the same arguments/);
    const holdId = holdIdOf(r1.blockReason);

    // what the sidecar recorded: tool.call with tool, args and OpenClaw's ids in context
    const hold = (await sc.holds()).find((h) => h.id === holdId);
    expect(hold.intent).toEqual({
      agent: "oc-bot",
      action: "tool.call",
      params: { tool: "openclaw.held_tool", args: params },
      context: {
        openclaw: {
          agent_id: "main",
          // stored copies redact credential-named keys ("session", "key"): the operator sees digests
          session_key: { redacted: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
          session_id: { redacted: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
          run_id: "run-1",
          tool_call_id: "call-1",
          tool_name: "held_tool",
        },
      },
      redacted: {
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        fields: ["context.openclaw.session_key", "context.openclaw.session_id"],
      },
    });

    // a repeat (args in another key order, a new tool call id) asks about the same hold
    const r2 = await hook(call("held_tool", { amount: "12.50", order: "A-1" }, "call-2"), ctx);
    expect(r2.block).toBe(true);
    expect(r2.blockReason).toMatch(/is still holding/);
    expect(holdIdOf(r2.blockReason)).toBe(holdId);
    // other args, or another session, are other calls: held separately
    const other = await hook(call("held_tool", { order: "A-2", amount: "12.50" }), ctx);
    expect(holdIdOf(other.blockReason)).not.toBe(holdId);
    const otherSession = await hook(call("held_tool", params), { ...ctx, sessionKey: "agent:main:other" });
    expect(holdIdOf(otherSession.blockReason)).not.toBe(holdId);

    await sc.resolve(holdId, "approve");
    expect(await hook(call("held_tool", params, "call-3"), ctx)).toEqual({ params });
    // the approval was for one call: the next identical call is declared (and held) anew
    const r4 = await hook(call("held_tool", params, "call-4"), ctx);
    expect(r4.block).toBe(true);
    expect(holdIdOf(r4.blockReason)).not.toBe(holdId);
  });

  it("PENDING then denied by an operator: the retry is blocked with DENIED", async () => {
    const hook = createBeforeToolCallHandler({ url: sc.url }, { env: env() });
    const r1 = await hook(call("held_tool", { order: "B-1" }), ctx);
    const holdId = holdIdOf(r1.blockReason);
    await sc.resolve(holdId, "deny");
    const r2 = await hook(call("held_tool", { order: "B-1" }), ctx);
    expect(r2.block).toBe(true);
    expect(r2.blockReason).toMatch(
      new RegExp(`^intent-sidecar DENIED openclaw\\.held_tool \\(hold ${holdId} was denied\\)`),
    );
  });

  it("pendingWaitMs: a hold approved while the hook waits lets the call run", async () => {
    const hook = createBeforeToolCallHandler({ url: sc.url, pendingWaitMs: 8000 }, { env: env() });
    const pending = hook(call("held_tool", { order: "C-1" }), ctx);
    let holdId: string | undefined;
    for (let i = 0; i < 50 && !holdId; i++) {
      await new Promise((r) => setTimeout(r, 100));
      holdId = (await sc.holds()).find((h) => h.state === "pending" && h.intent.params.args.order === "C-1")?.id;
    }
    expect(holdId).toBeDefined();
    await sc.resolve(holdId!, "approve");
    expect(await pending).toEqual({ params: { order: "C-1" } });
  });

  it("fails closed: unreachable sidecar, a sidecar that never answers, a tool name that is no tool.call", async () => {
    const port = await freePort();
    const down = createBeforeToolCallHandler({ url: `http://127.0.0.1:${port}` }, { env: env() });
    const r1 = await down(call("read", { path: "a" }), ctx);
    expect(r1.block).toBe(true);
    expect(r1.blockReason).toMatch(
      new RegExp(
        `^intent-sidecar at http://127\\.0\\.0\\.1:${port} could not be reached or did not answer .*fail closed`,
      ),
    );

    const silent = await silentServer();
    try {
      const slow = createBeforeToolCallHandler({ url: silent.url, timeoutMs: 300 }, { env: env() });
      const t0 = Date.now();
      const r2 = await slow(call("read", { path: "a" }), ctx);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r2.block).toBe(true);
      expect(r2.blockReason).toMatch(/could not be reached or did not answer/);
    } finally {
      await silent.close();
    }

    const hook = createBeforeToolCallHandler({ url: sc.url }, { env: env() });
    const r3 = await hook(call("my tool!", {}), ctx);
    expect(r3.block).toBe(true);
    expect(r3.blockReason).toMatch(/cannot be declared as a tool\.call intent/);
    // an intent the sidecar refuses (403: the body names another agent than the token's) blocks too
    const mismatch = createBeforeToolCallHandler({ url: sc.url, agent: "someone-else" }, { env: env() });
    const r4 = await mismatch(call("read", { path: "a" }), ctx);
    expect(r4.block).toBe(true);
    expect(r4.blockReason).toMatch(/^intent-sidecar refused to decide \(agent_mismatch 403: .*fail closed/);
  });

  it("rejects settings the manifest's schema rejects", () => {
    expect(() => createBeforeToolCallHandler({ url: "ftp://x" })).toThrow(/config.url/);
    expect(() => createBeforeToolCallHandler({ timeoutMs: 0 })).toThrow(/config.timeoutMs/);
    expect(() => createBeforeToolCallHandler({ server: "a.b" })).toThrow(/config.server/);
    expect(() => createBeforeToolCallHandler({ nope: 1 } as never)).toThrow(/unknown config key nope/);
    expect(Object.keys(manifest.configSchema.properties).sort()).toEqual(
      ["agent", "context", "pendingWaitMs", "server", "timeoutMs", "tokenEnv", "url"].sort(),
    );
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A TCP server that accepts and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<import("node:net").Socket>();
  const s: Server = createServer((sock) => sockets.add(sock));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(s.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        s.close(() => r());
      }),
  };
}
