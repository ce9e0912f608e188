// A newcomer's papercuts (issue "Real packages and a lean runtime", item 7), each through the real CLI or listeners:
// `ca env` keeps the sidecar's own APIs out of the proxy (NO_PROXY), a busy port names the flag to change,
// `policy check DIR` validates the directory's policy file, a missing intent field is "params.to is required", and
// the daemon logs one line per decision and hold outcome without params, headers, bodies, tokens or attestations.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { join } from "node:path";
import { EnvHttpProxyAgent, fetch as undiciFetch } from "undici";
import { removeDir, startTestDaemon, tempDir, http } from "../sidecar/helpers.ts";
import { BIN, spawnDaemon } from "./daemon-process.ts";
import { noProxyHosts } from "../../sidecar/cli/commands/ca.ts";
import { createClient } from "../../sdk/index.ts";

const dirs: string[] = [];
const temp = (p: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach(removeDir));

function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: 90_000, ...(opts.cwd ? { cwd: opts.cwd } : {}), env: { ...process.env, ...opts.env } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 2) : 0, stdout, stderr }),
    ),
  );
}

/** A stand-in for a corporate HTTP proxy: refuses every request and CONNECT with 403 and counts them. */
async function refusingProxy(): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createHttpServer((_req, res) => {
    hits++;
    res.writeHead(403, { "content-type": "text/plain" }).end("proxy says no");
  });
  server.on("connect", (_req, socket) => {
    hits++;
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections(); // the clients keep their connections alive
      }),
  };
}

describe("ca env: NO_PROXY for the sidecar's own listeners", { timeout: 120_000 }, () => {
  it("lists loopback in every spelling and the configured hosts (IPv6 bare and bracketed, no wildcards)", () => {
    expect(noProxyHosts(["127.0.0.1:7400", "127.0.0.1:7402"])).toEqual(["127.0.0.1", "localhost", "::1", "[::1]"]);
    expect(noProxyHosts(["10.0.0.5:7400", "[fd00::7]:7402", "0.0.0.0:1", "[::]:2"])).toEqual([
      "127.0.0.1",
      "localhost",
      "::1",
      "[::1]",
      "10.0.0.5",
      "fd00::7",
      "[fd00::7]",
    ]);
  });

  it("an HTTP client honouring the exported env reaches the agent API directly, not through HTTP_PROXY", async () => {
    const d = await startTestDaemon();
    const proxy = await refusingProxy();
    try {
      const dataDir = temp("isc-noproxy-");
      const config = join(dataDir, "config.yaml");
      writeFileSync(config, `agent_addr: "${d.agentAddr}"\noperator_addr: "10.1.2.3:7402"\n`);
      const r = await cli(["ca", "env", "--data-dir", dataDir, "--config", config, "--format", "json"]);
      expect(r.code, r.stderr).toBe(0);
      const vars = JSON.parse(r.stdout) as Record<string, string>;
      expect(vars.NO_PROXY).toBe(vars.no_proxy);
      expect(vars.NO_PROXY!.split(",")).toEqual(["127.0.0.1", "localhost", "::1", "[::1]", "10.1.2.3"]);
      // the shell form exports them too
      const sh = await cli(["ca", "env", "--data-dir", dataDir, "--config", config]);
      expect(sh.stdout).toContain(`export NO_PROXY='${vars.NO_PROXY}'`);
      expect(sh.stdout).toContain(`export no_proxy='${vars.NO_PROXY}'`);

      // undici's EnvHttpProxyAgent (what node's fetch uses with NODE_USE_ENV_PROXY) with the exported values
      const direct = new EnvHttpProxyAgent({ httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: vars.NO_PROXY });
      const res = await undiciFetch(`http://${d.agentAddr}/healthz`, { dispatcher: direct });
      expect(res.status).toBe(200);
      const viaLocalhost = await undiciFetch(`http://localhost:${d.agentAddr.split(":")[1]}/healthz`, { dispatcher: direct });
      expect(viaLocalhost.status).toBe(200);
      expect(proxy.hits()).toBe(0);
      // without NO_PROXY the same client goes through the proxy and is refused: the papercut this fixes
      const proxied = new EnvHttpProxyAgent({ httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: "" });
      await expect(undiciFetch(`http://${d.agentAddr}/healthz`, { dispatcher: proxied })).rejects.toThrow();
      expect(proxy.hits()).toBe(1);

      // curl reads the same variables from its environment (async: the daemon runs in this process)
      const curl = await new Promise<{ error?: Error; stdout: string }>((resolve) =>
        execFile(
          "curl",
          ["-s", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}", `http://${d.agentAddr}/healthz`],
          { env: { ...process.env, http_proxy: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: vars.NO_PROXY!, no_proxy: vars.no_proxy! } },
          (error, stdout) => resolve({ ...(error ? { error } : {}), stdout }),
        ),
      );
      if ((curl.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") console.warn("curl not installed; undici covered NO_PROXY");
      else {
        expect(curl.stdout).toBe("200");
        expect(proxy.hits()).toBe(1);
      }
    } finally {
      await proxy.close();
      await d.close();
      removeDir(d.dataDir);
    }
  });
});

describe("start: a busy port names the flag to change", { timeout: 120_000 }, () => {
  let busy: Server;
  let addr: string;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    addr = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  for (const flag of ["--agent-addr", "--operator-addr"]) {
    it(`${flag} on a port in use`, async () => {
      const err = await spawnDaemon([flag, addr, "--data-dir", temp("isc-busy-")]).then(
        async (d) => {
          await d.stop();
          return "started";
        },
        (e: Error) => e.message,
      );
      expect(err).toContain(`intent-sidecar: cannot start: ${addr} is in use: pass ${flag} HOST:PORT (or 127.0.0.1:0 for any free port)`);
      expect(err).toMatch(/daemon exited \(2\)/);
    });
  }
});

describe("policy check DIR validates the directory's policy file", { timeout: 120_000 }, () => {
  it("exit 0 for a valid policy.yaml / policy.md, 1 with file:line:col for an invalid one, 2 for I/O", async () => {
    const root = temp("isc-check-");
    const good = join(root, "good");
    const md = join(root, "md");
    const bad = join(root, "bad");
    const empty = join(root, "empty");
    for (const d of [good, md, bad, empty]) mkdirSync(d);
    writeFileSync(join(good, "policy.yaml"), 'actions:\n  allow: ["report.*"]\n');
    writeFileSync(join(md, "policy.md"), '# Policy\n\n```yaml\nactions:\n  allow: ["report.*"]\n```\n');
    writeFileSync(join(bad, "policy.yaml"), 'actions:\n  allow: ["report.*"]\nevm:\n  max_valu: "0.1 ETH"\n');

    const [ok, okMd, invalid, none, missing] = await Promise.all([
      cli(["policy", "check", good], { cwd: root }),
      cli(["policy", "check", md], { cwd: root }),
      cli(["policy", "check", bad], { cwd: root }),
      cli(["policy", "check", empty], { cwd: root }),
      cli(["policy", "check", join(root, "nope")], { cwd: root }),
    ]);
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    expect([okMd.code, okMd.stderr]).toEqual([0, ""]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^bad\/policy\.yaml:4:3: evm\.max_valu: unknown field "max_valu"; did you mean "max_value"\?/m);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no policy.yaml, policy.yml, policy.md or .rego files");
    expect(missing.code).toBe(2);
  });
});

describe("a missing intent field in the product's words", () => {
  it("400 invalid_intent: params.to is required (issues and message), and the SDK says the same", async () => {
    const d = await startTestDaemon();
    try {
      const r = await http(`${d.url}/v1/intents`, {
        body: { agent: "bot", action: "evm.transaction", params: { chain_id: 8453, value: "1" } },
      });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({
        error: "invalid_intent",
        message: "the intent is invalid: params.to is required",
        issues: [{ path: "params.to", message: "is required" }],
      });
      const t = await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "tool.call", params: { args: 1 } } });
      expect(t.body.issues).toEqual([
        { path: "params.tool", message: "is required" },
        { path: "params.args", message: "must be an object" },
      ]);
      expect(JSON.stringify(t.body)).not.toMatch(/Invalid input|received undefined/);
      const sdk = createClient({ baseUrl: d.url });
      const e = await sdk
        .declare({ agent: "bot", action: "evm.transaction", params: { chain_id: 8453, value: "1" } } as never)
        .catch((x: Error) => x);
      expect(String((e as Error).message)).toContain("params.to is required");
    } finally {
      await d.close();
      removeDir(d.dataDir);
    }
  });
});

describe("one log line per decision and hold outcome, never a secret", { timeout: 180_000 }, () => {
  it("logs event, ids, agent, action, decision, rules, hold_id, operator, duration_ms and nothing from params", async () => {
    const SECRET = "sk-live-DO-NOT-LOG-4f9c2a7e1b";
    const cwd = temp("isc-log-");
    const d = await spawnDaemon([], { INTENT_SIDECAR_OPERATOR_TOKENS: "alice=op-alice-token-123456" }, { cwd });
    try {
      const declare = (body: object) => http(`${d.url}/v1/intents`, { body: { agent: "bot", ...body } });
      const approved = await declare({
        action: "evm.transaction",
        params: { chain_id: 8453, to: "0x1111111111111111111111111111111111111111", value: "10000000000000000" },
        context: { tenant: "acme", justification: `pay vendor ${SECRET}` },
      });
      expect(approved.body.decision).toBe("APPROVED");
      const held = await declare({ action: "tool.call", params: { tool: "payments.refund", args: { api_key: SECRET } } });
      expect(held.body.decision).toBe("PENDING");
      const denied = await declare({
        action: "http.request",
        params: { method: "POST", url: "https://evil.example/x", headers: { authorization: `Bearer ${SECRET}` }, body: { k: SECRET } },
      });
      expect(denied.status).toBe(200);
      const op = { authorization: "Bearer op-alice-token-123456" };
      const approve = await fetch(`${d.operatorUrl}/v1/holds/${held.body.hold.id}/approve`, {
        method: "POST",
        headers: { ...op, "content-type": "application/json" },
        body: JSON.stringify({ comment: "ok" }),
      });
      expect(approve.status).toBe(200);
      const final = await http(`${d.url}/v1/intents/${held.body.intent_id}`);
      expect(final.body.decision).toBe("APPROVED");

      type Line = Record<string, unknown>;
      let lines: Line[] = [];
      for (let i = 0; i < 100; i++) {
        lines = d
          .stderr()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Line);
        if (lines.filter((l) => l.event === "decision").length >= 3 && lines.some((l) => l.event === "hold.approved")) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const decisions = lines.filter((l) => l.event === "decision");
      expect(decisions).toHaveLength(3);
      const byId = (id: string) => decisions.find((l) => l.intent_id === id)!;
      expect(byId(approved.body.intent_id)).toMatchObject({ agent: "bot", action: "evm.transaction", decision: "APPROVED" });
      expect(byId(held.body.intent_id)).toMatchObject({
        action: "tool.call",
        decision: "PENDING",
        hold_id: held.body.hold.id,
        rules: held.body.reasons.map((r: { block: string; rule: string }) => `${r.block}/${r.rule}`),
      });
      expect(byId(denied.body.intent_id)).toMatchObject({ action: "http.request", decision: denied.body.decision });
      for (const l of decisions) {
        expect(Object.keys(l).filter((k) => !["level", "time", "svc", "msg", "pid", "hostname"].includes(k)).sort()).toEqual(
          ["action", "agent", "decision", "duration_ms", "event", "intent_id", "rules", ...(l.hold_id ? ["hold_id"] : [])].sort(),
        );
        expect(typeof l.duration_ms).toBe("number");
        expect(Array.isArray(l.rules)).toBe(true);
      }
      const approval = lines.find((l) => l.event === "hold.approved")!;
      expect(approval).toMatchObject({
        intent_id: held.body.intent_id,
        hold_id: held.body.hold.id,
        decision: "APPROVED",
        operator: "alice",
        approvers: ["alice"],
      });
      // nothing secret: params, context, headers, bodies, tokens, attestations
      const log = d.stderr();
      expect(log).not.toContain(SECRET);
      expect(log).not.toContain("op-alice-token-123456");
      expect(log).not.toContain(approved.body.attestation);
      expect(log).not.toContain("vendor");
    } finally {
      await d.stop();
    }
  });
});
