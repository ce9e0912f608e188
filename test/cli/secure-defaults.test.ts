// Secure defaults of `intent-sidecar start` (issue "Hardening"), through the real binary:
//   - no tokens configured and no --dev: agent and operator tokens generated into the data dir (0600), reused later;
//   - Origin / foreign Host refused on the agent and operator listeners (the console's same-origin calls still work);
//   - --dev: tokenless, but cross-site shaped requests (Origin, foreign Host, non-JSON POST) refused;
//   - every file in the data dir 0600, the dir 0700; one daemon per data dir (the second exits 2, naming the first).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "node:http";
import { chmodSync, existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../sidecar/helpers.ts";
import { runCli, spawnDaemon } from "./daemon-process.ts";

const intent = {
  action: "tool.call",
  params: { tool: "slack.post_message", args: { channel: "#ops", text: "hello" } },
  context: { justification: "status update" },
};

/** One HTTP request with exactly these headers (fetch would not let us set Host). */
function raw(
  base: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: any }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path, method: o.method ?? (o.body !== undefined ? "POST" : "GET"), headers: { host: u.host, ...o.headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode!, body });
        });
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      out[rel + name] = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) walk(p, `${rel}${name}/`);
    }
  };
  walk(dir, "");
  return out;
}

let root: string;
beforeAll(() => {
  root = tempDir("isc-secure-");
});
afterAll(() => removeDir(root));

describe("intent-sidecar start: secure defaults", { timeout: 120_000 }, () => {
  it("generates agent and operator tokens (0600) on first start, says where, and requires them", async () => {
    const dir = join(root, "tokens");
    const d = await spawnDaemon(["--data-dir", dir], {}, { dev: false });
    let agentToken: string;
    try {
      expect(d.ready.agent_token_file).toBe(join(dir, "agent-token"));
      expect(d.ready.operator_token_file).toBe(join(dir, "operator-token"));
      agentToken = readFileSync(join(dir, "agent-token"), "utf8").trim();
      const operatorToken = readFileSync(join(dir, "operator-token"), "utf8").trim();
      for (const t of [agentToken, operatorToken]) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes base64url
      expect(agentToken).not.toBe(operatorToken);
      for (const f of ["agent-token", "operator-token"]) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
      // the human lines name the files and the console, never the tokens
      expect(d.stderr()).toContain(join(dir, "agent-token"));
      expect(d.stderr()).toContain(join(dir, "operator-token"));
      expect(d.stderr()).toContain(`http://${d.ready.operator_addr}/console/`);
      expect(d.stderr()).not.toContain(agentToken);
      expect(d.stderr()).not.toContain(operatorToken);
      expect(d.stderr()).not.toContain("DEV MODE");

      const json = { "content-type": "application/json" };
      const anon = await raw(d.url, "/v1/intents", { headers: json, body: JSON.stringify({ ...intent, agent: "x" }) });
      expect(anon.status).toBe(401);
      const ok = await raw(d.url, "/v1/intents", {
        headers: { ...json, authorization: `Bearer ${agentToken}` },
        body: JSON.stringify(intent),
      });
      expect(ok.status).toBe(200);
      expect(ok.body.decision).toBe("APPROVED");
      expect((await raw(d.url, `/v1/intents/${ok.body.intent_id}`)).status).toBe(401);

      const who = await raw(d.operatorUrl, "/v1/whoami", { headers: { authorization: `Bearer ${operatorToken}` } });
      expect(who).toEqual({ status: 200, body: { operator: "operator" } });
      // the agent token is not an operator token
      expect((await raw(d.operatorUrl, "/v1/whoami", { headers: { authorization: `Bearer ${agentToken}` } })).status).toBe(401);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // a later start reuses them
    const again = await spawnDaemon(["--data-dir", dir], {}, { dev: false });
    try {
      expect(readFileSync(join(dir, "agent-token"), "utf8").trim()).toBe(agentToken);
      expect(again.stderr()).toContain("reused");
      const r = await raw(again.url, "/v1/intents", {
        headers: { "content-type": "application/json", authorization: `Bearer ${agentToken}` },
        body: JSON.stringify({ ...intent, idempotency_key: "again" }),
      });
      expect(r.body.decision).toBe("APPROVED");
    } finally {
      await again.stop();
    }
  });

  it("refuses Origin and foreign Host on the agent and operator listeners; the console's same-origin calls work", async () => {
    const dir = join(root, "origin");
    const d = await spawnDaemon(["--data-dir", dir], {}, { dev: false });
    try {
      const agentToken = readFileSync(d.ready.agent_token_file!, "utf8").trim();
      const operatorToken = readFileSync(d.ready.operator_token_file!, "utf8").trim();
      const agentAuth = { authorization: `Bearer ${agentToken}`, "content-type": "application/json" };
      const body = JSON.stringify(intent);

      const cross = await raw(d.url, "/v1/intents", { headers: { ...agentAuth, origin: "https://evil.example" }, body });
      expect(cross.status).toBe(403);
      expect(cross.body.error).toBe("origin_refused");
      const rebound = await raw(d.url, "/v1/intents", { headers: { ...agentAuth, host: "evil.example:7400" }, body });
      expect(rebound.status).toBe(403);
      expect(rebound.body.error).toBe("host_refused");
      expect((await raw(d.url, "/.well-known/jwks.json", { headers: { host: "attacker.test" } })).status).toBe(403);
      // loopback names are fine
      for (const host of ["localhost", `localhost:${new URL(d.url).port}`, "127.0.0.1", "127.1.2.3:80", "[::1]:7400"]) {
        expect((await raw(d.url, "/healthz", { headers: { host } })).status, host).toBe(200);
      }

      const opAuth = { authorization: `Bearer ${operatorToken}` };
      const sameOrigin = await raw(d.operatorUrl, "/v1/policy/reload", {
        method: "POST",
        headers: { ...opAuth, origin: d.operatorUrl, "content-type": "application/json" },
        body: "{}",
      });
      expect(sameOrigin.status).toBe(200);
      const crossOp = await raw(d.operatorUrl, "/v1/holds", { headers: { ...opAuth, origin: "http://evil.example" } });
      expect(crossOp.status).toBe(403);
      expect(crossOp.body.error).toBe("origin_refused");
      // same port, different (rebinding) host name: refused for the Host itself
      const reboundOp = await raw(d.operatorUrl, "/v1/holds", {
        headers: { ...opAuth, host: `evil.example:${new URL(d.operatorUrl).port}`, origin: `http://evil.example:${new URL(d.operatorUrl).port}` },
      });
      expect(reboundOp.status).toBe(403);
      expect(reboundOp.body.error).toBe("host_refused");
      expect((await raw(d.operatorUrl, "/console/")).status).toBe(200);
      // the holds CLI finds the generated operator token through --token-file
      const list = runCli(["holds", "list", "--url", d.operatorUrl, "--token-file", d.ready.operator_token_file!, "--json"], {
        INTENT_SIDECAR_OPERATOR_TOKEN: "",
      });
      expect(list.stderr).toBe("");
      expect(list.status).toBe(0);
    } finally {
      await d.stop();
    }
  });

  it("--dev: no tokens, the agent from the body, but Origin, foreign Host and non-JSON POSTs are refused with a reason", async () => {
    const dir = join(root, "dev");
    const d = await spawnDaemon(["--data-dir", dir, "--dev"], {}, { dev: false });
    try {
      expect(d.ready.agent_token_file).toBeUndefined();
      expect(existsSync(join(dir, "agent-token"))).toBe(false);
      expect(d.stderr()).toContain("DEV MODE");
      const body = JSON.stringify({ ...intent, agent: "dev-bot" });
      const ok = await raw(d.url, "/v1/intents", { headers: { "content-type": "application/json; charset=utf-8" }, body });
      expect(ok.body.decision).toBe("APPROVED");

      // what a web page can send without a CORS preflight
      for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        const r = await raw(d.url, "/v1/intents", { headers: { "content-type": type }, body });
        expect(r.status, type).toBe(415);
        expect(r.body.error).toBe("unsupported_media_type");
        expect(r.body.message).toMatch(/application\/json/);
      }
      expect((await raw(d.url, "/v1/intents", { headers: {}, body })).status).toBe(415);
      const fromPage = await raw(d.url, "/v1/intents", {
        headers: { "content-type": "application/json", origin: "https://evil.example" },
        body,
      });
      expect(fromPage.status).toBe(403);
      expect(fromPage.body.message).toMatch(/web pages/);
      const rebound = await raw(d.url, `/v1/intents/${ok.body.intent_id}`, { headers: { host: "rebind.evil.example" } });
      expect(rebound.status).toBe(403);
      expect(rebound.body.error).toBe("host_refused");
      expect((await raw(d.url, `/v1/intents/${ok.body.intent_id}`)).status).toBe(200);
    } finally {
      await d.stop();
    }
  });

  it("configured tokens are used as they are: no token files", async () => {
    const dir = join(root, "configured");
    const d = await spawnDaemon(
      ["--data-dir", dir],
      { INTENT_SIDECAR_AGENT_TOKENS: "bot=agent-secret-1234", INTENT_SIDECAR_OPERATOR_TOKENS: "alice=op-secret-1234" },
      { dev: false },
    );
    try {
      expect(d.ready.agent_token_file).toBeUndefined();
      expect(existsSync(join(dir, "agent-token"))).toBe(false);
      expect(existsSync(join(dir, "operator-token"))).toBe(false);
      const r = await raw(d.url, "/v1/intents", {
        headers: { "content-type": "application/json", authorization: "Bearer agent-secret-1234" },
        body: JSON.stringify(intent),
      });
      expect(r.body.decision).toBe("APPROVED");
    } finally {
      await d.stop();
    }
  });

  it("keeps every file in the data dir 0600 (the dir 0700) and lets one daemon at a time use it", async () => {
    const dir = join(root, "modes");
    const d = await spawnDaemon(["--data-dir", dir], {}, { dev: false });
    try {
      const m = modes(dir);
      expect(Object.keys(m)).toEqual(expect.arrayContaining(["intent-sidecar.db", "intent-sidecar.db-wal", "intent-sidecar.db-shm", "keys"]));
      for (const [f, mode] of Object.entries(m)) expect(mode, f).toBe(f === "keys" ? "700" : "600");
      expect(statSync(dir).mode & 0o777).toBe(0o700);

      // a second daemon on the same data dir: exit 2, naming the first one's pid and the directory
      const second = runCli(["start", "--data-dir", dir, "--agent-addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0", "--operator-addr", "127.0.0.1:0"], {
        INTENT_SIDECAR_AGENT_TOKENS: "",
        INTENT_SIDECAR_OPERATOR_TOKENS: "",
      });
      expect(second.status).toBe(2);
      expect(second.stderr).toContain(`pid ${d.child.pid}`);
      expect(second.stderr).toContain(dir);
      expect(second.stdout).toBe("");
    } finally {
      await d.stop("SIGKILL"); // no clean shutdown: the lock must not outlive the process
    }
    // files an older version left 0644 are made private again at start
    chmodSync(join(dir, "intent-sidecar.db"), 0o644);
    chmodSync(dir, 0o755);
    const next = await spawnDaemon(["--data-dir", dir], {}, { dev: false });
    try {
      for (const [f, mode] of Object.entries(modes(dir))) expect(mode, f).toBe(f === "keys" ? "700" : "600");
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      expect(await next.stop()).toBe(0);
    }
    expect(existsSync(join(dir, "daemon.pid"))).toBe(false);
  });
});
