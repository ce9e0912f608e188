// POST /v1/tools/screen (sidecar/api/tools-screen.ts) on a real daemon: which tool names the active policy denies
// outright by name, for the MCP proxy's tools/list. Agent tokens only; nothing about the policy beyond denied/allowed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { fakePolicy } from "../sidecar/fake-policy.ts";
import { http, removeDir, startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import { screenTools } from "../../sidecar/api/tools-screen.ts";
import { compileGlobs } from "../../protocol/glob.ts";

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;
const AGENT_TOKEN = "screen-agent-token-0123456789";
const EXECUTOR_TOKEN = "screen-executor-token-0123456789";
const config = { agentTokens: { bot: AGENT_TOKEN }, executorTokens: { gate: EXECUTOR_TOKEN } };

let d: Daemon;
let dir: string;
beforeAll(async () => {
  dir = tempDir("isc-screen-");
  d = await startTestDaemon({ config }); // the reference policy
});
afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const screen = (url: string, body: unknown, token: string | null = AGENT_TOKEN) =>
  http(`${url}/v1/tools/screen`, { body, ...(token ? { token } : {}) });

describe("POST /v1/tools/screen (reference policy)", () => {
  it("answers denied/allowed per name: deny globs, not in allow/hold; nothing else of the policy", async () => {
    const tools = ["payments.refund", "shell.exec", "github.delete_repo", "github.get_issue", "web.fetch", "web.exec"];
    const r = await screen(d.url, { tools });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.body).toEqual({
      denied: ["shell.exec", "github.delete_repo", "web.exec"],
      allowed: ["payments.refund", "github.get_issue", "web.fetch"],
    });
  });

  it("records nothing: no intent is declared", async () => {
    const before = d.db.prepare("SELECT count(*) AS n FROM intents").get() as { n: number };
    await screen(d.url, { tools: ["shell.exec"] });
    expect(d.db.prepare("SELECT count(*) AS n FROM intents").get()).toEqual(before);
  });

  it("needs an agent token; an executor token is refused", async () => {
    expect((await screen(d.url, { tools: ["web.fetch"] }, null)).status).toBe(401);
    expect((await screen(d.url, { tools: ["web.fetch"] }, "wrong-token")).status).toBe(401);
    const ex = await screen(d.url, { tools: ["web.fetch"] }, EXECUTOR_TOKEN);
    expect(ex.status).toBe(403);
    expect(ex.body.error).toBe("forbidden");
  });

  it("rejects malformed bodies", async () => {
    for (const body of [{}, { tools: "web.fetch" }, { tools: [1] }, { tools: [""] }, { tools: ["x".repeat(513)] }]) {
      const r = await screen(d.url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error).toBe("invalid_request");
    }
    expect((await screen(d.url, { tools: Array(1001).fill("a.b") })).status).toBe(400);
    const raw = await http(`${d.url}/v1/tools/screen`, { raw: "{nope", token: AGENT_TOKEN });
    expect(raw.status).toBe(400);
    expect(raw.body.error).toBe("invalid_json");
  });
});

describe("other policies", () => {
  it("no policy loaded → 503", async () => {
    const policy = fakePolicy();
    const own = await startTestDaemon({ config, policy });
    try {
      policy.set(undefined);
      const r = await screen(own.url, { tools: ["web.fetch"] });
      expect(r.status).toBe(503);
      expect(r.body.error).toBe("policy_unavailable");
    } finally {
      await own.close();
    }
  });

  it("actions.deny matching tool.call, or no tool_calls block: every name is denied", async () => {
    for (const [i, yaml] of [
      'version: 1\nactions:\n  deny: ["tool.*"]\ntool_calls:\n  allow: ["*"]\n',
      'version: 1\nactions:\n  allow: ["report.send"]\n',
    ].entries()) {
      const file = join(dir, `policy-${i}.yaml`);
      writeFileSync(file, yaml);
      const own = await startTestDaemon({ config: { ...config, policyFile: file } });
      try {
        const r = await screen(own.url, { tools: ["web.fetch", "a.b"] });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body).toEqual({ denied: ["web.fetch", "a.b"], allowed: [] });
      } finally {
        await own.close();
      }
    }
  });

  it("screenTools: a config it cannot read denies nothing (the normal path still decides every call)", () => {
    expect(screenTools({}, ["a.b"])).toEqual({ denied: [], allowed: ["a.b"] });
    const g = compileGlobs;
    const cfg = { custom: [], toolCalls: { allow: g(["a.*"]), deny: g(["a.x"]), hold: g(["h.*"]) } };
    expect(screenTools(cfg, ["a.b", "a.x", "h.y", "z.z"])).toEqual({ denied: ["a.x", "z.z"], allowed: ["a.b", "h.y"] });
  });
});
