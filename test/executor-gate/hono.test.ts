// The hono middleware in a real HTTP executor (127.0.0.1, port 0): attested requests reach the handler once;
// everything else gets 403 {"error":code,"message":...} and the handler never runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Hono } from "hono";
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { createGate, gateMiddleware, type GateVariables } from "../../executor-gate/index.ts";
import { toolIntent } from "./intents.ts";
import { SIDECAR_START_MS, startSidecar, type TestSidecar } from "./sidecar.ts";
import { testReplay } from "./test-replay.ts";

let sc: TestSidecar;
let server: ServerType;
let url: string;
const posted: unknown[] = [];

beforeAll(async () => {
  sc = await startSidecar();
  const gate = createGate({ replay: testReplay(), jwks: sc.jwksUrl });
  // An executor for `slack.post_message`: the intent is the tool call this request performs, built from the route
  // and the JSON body exactly as the agent declared it.
  const app = new Hono<{ Variables: GateVariables }>();
  app.post(
    "/tools/:tool",
    gateMiddleware(gate, {
      intentFor: async (c) => ({
        agent: c.req.header("x-agent") ?? "",
        action: "tool.call",
        params: { tool: c.req.param("tool")!, args: (await c.req.json()) as Record<string, unknown> },
        context: {},
      }),
    }),
    async (c) => {
      posted.push(await c.req.json());
      return c.json({ ok: true, jti: c.get("attestation").jti });
    },
  );
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => {
      url = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
}, SIDECAR_START_MS);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await sc?.close();
});

async function call(args: unknown, headers: Record<string, string>) {
  const res = await fetch(`${url}/tools/slack.post_message`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agent": "ops-bot", ...headers },
    body: typeof args === "string" ? args : JSON.stringify(args),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("gateMiddleware", () => {
  it("runs an attested request once, and refuses the replay", async () => {
    const intent = toolIntent();
    const { token, intentId } = await sc.attest(intent);
    const before = posted.length;
    const ok = await call(intent.params.args, { "x-intent-attestation": token });
    expect(ok).toEqual({ status: 200, body: { ok: true, jti: intentId } });
    const replay = await call(intent.params.args, { "x-intent-attestation": token });
    expect(replay.status).toBe(403);
    expect(replay.body).toMatchObject({ error: "replayed" });
    expect(posted.length).toBe(before + 1);
  });

  it.each([
    { name: "no attestation header", code: "missing", args: toolIntent().params.args, token: false },
    {
      name: "another tool argument",
      code: "digest_mismatch",
      args: { channel: "#ops", text: "something else" },
      token: true,
    },
    { name: "a garbage token", code: "malformed", args: toolIntent().params.args, token: "garbage" },
    { name: "a body the mapping cannot read", code: "malformed", args: "{not json", token: true },
  ])("answers 403 for $name ($code) and never reaches the handler", async (row) => {
    const headers: Record<string, string> = {};
    if (row.token === true) headers["x-intent-attestation"] = (await sc.attest(toolIntent())).token;
    else if (typeof row.token === "string") headers["x-intent-attestation"] = row.token;
    const before = posted.length;
    const res = await call(row.args, headers);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe(row.code);
    expect(typeof res.body.message).toBe("string");
    expect(posted.length).toBe(before);
  });
});
