// Attack review of the recent hardening (request guard, tokens and roles, holds cap, secrets at rest, principals,
// signed audit checkpoints, data-dir modes and lock). Every test asserts the SECURE outcome: the tests that pass are
// regression tests; the bypasses found are under describe("findings of the attack review (closed)"), and the one part
// about an attested URL's credentials is closed by refusing URLs with userinfo at declaration.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request as httpRequest } from "node:http";
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { RawClient } from "./raw-client.ts";
import { stubPolicy } from "../holds/policy-stub.ts";
import { auditRowHash } from "../../sidecar/store/index.ts";
import { runCli, spawnDaemon } from "../cli/daemon-process.ts";

type D = Awaited<ReturnType<typeof startTestDaemon>>;

const AGENTS = { "alice-bot": "tok-alice-0123456789", "mallory-bot": "tok-mallory-0123456789" };
const EXECUTORS = { "pay-exec": "tok-exec-0123456789" };
const OPERATOR = "op-token-0123456789";

/** A request with full control of the Host and Origin headers (fetch forbids setting Host). */
function raw(
  addr: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: any }> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host, port, method: opts.method ?? "GET", path: opts.path, headers: opts.headers ?? {}, setHost: false },
      (res) => {
        let text = "";
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
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

const disburse = (agent: string, n: number, extra: Record<string, unknown> = {}) => ({
  agent,
  action: "treasury.disburse",
  params: { ticket: `T-${n}` },
  ...extra,
});

let d: D;
beforeAll(async () => {
  d = await startTestDaemon({
    policy: stubPolicy({
      allow: ["treasury.disburse", "http.request", "tool.call"],
      hold: ["wire.send", "wire.other"],
      maxOpenPerAgent: 3,
    }),
    config: {
      agentTokens: AGENTS,
      executorTokens: EXECUTORS,
      operatorTokens: { alice: OPERATOR },
      principals: { "alice-bot": { tenant: "acme" } },
    },
  });
});
afterAll(async () => {
  await d?.close();
  if (d) removeDir(d.dataDir);
});

describe("request guard: Host spellings (DNS rebinding)", () => {
  const foreign = [
    "localhost.",
    "LOCALHOST.",
    "127.0.0.1.nip.io",
    "localtest.me",
    "user@localhost",
    "localhost@evil.example",
    "evil.example",
    "evil.example:80",
    "0x7f.1",
    "0x7f000001",
    "2130706433",
    "127.1",
    "0177.0.0.1",
    "[::ffff:7f00:1]x",
    "localhost:7400 evil",
    "localhost%00.evil.example",
    "",
  ];
  for (const host of foreign) {
    it(`agent API refuses Host ${JSON.stringify(host)}`, async () => {
      const r = await raw(d.agentAddr, { path: "/healthz", headers: { host } });
      expect([400, 403]).toContain(r.status);
    });
    it(`operator API refuses Host ${JSON.stringify(host)}`, async () => {
      const r = await raw(d.operatorAddr, {
        path: "/v1/holds",
        headers: { host, authorization: `Bearer ${OPERATOR}` },
      });
      expect([400, 403]).toContain(r.status);
    });
  }

  it("loopback spellings pass (LOCALHOST, 127.0.0.2, [::1])", async () => {
    for (const host of ["LOCALHOST", "127.0.0.2:1", "[::1]:7400"]) {
      const r = await raw(d.agentAddr, { path: "/healthz", headers: { host } });
      expect(r.status, host).toBe(200);
    }
  });

  it("two Host headers are refused", async () => {
    const port = Number(d.agentAddr.split(":").at(-1));
    const c = new RawClient(port);
    c.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n");
    const [r] = await c.responses(1);
    expect(r!.status).toBe(400);
    c.socket.destroy();
  });
});

describe("request guard: Origin", () => {
  for (const origin of ["null", "http://localhost", "http://127.0.0.1", "file://", ""]) {
    it(`agent API refuses Origin ${JSON.stringify(origin)} even with a valid token`, async () => {
      const r = await raw(d.agentAddr, {
        method: "POST",
        path: "/v1/intents",
        headers: {
          host: "localhost",
          ORIGIN: origin,
          "content-type": "application/json",
          authorization: `Bearer ${AGENTS["alice-bot"]}`,
        },
        body: JSON.stringify(disburse("alice-bot", 1)),
      });
      expect(r.status).toBe(403);
    });
  }

  it("operator API: only its own origin (same host:port) is allowed", async () => {
    const port = d.operatorAddr.split(":").at(-1);
    const h = { authorization: `Bearer ${OPERATOR}` };
    const refused = [
      { host: `127.0.0.1:${port}`, origin: "null" },
      { host: `127.0.0.1:${port}`, origin: `http://localhost:${port}` },
      { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:1${port}` },
      { host: `127.0.0.1:${port}`, origin: `https://127.0.0.1:${port}` },
      { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}.evil.example` },
      { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1` },
    ];
    for (const x of refused) {
      const r = await raw(d.operatorAddr, { method: "POST", path: "/v1/holds/x/approve", headers: { ...h, ...x } });
      expect(r.status, JSON.stringify(x)).toBe(403);
      expect(r.body.error).toBe("origin_refused");
    }
  });
});

describe("tokens", () => {
  const body = JSON.stringify(disburse("alice-bot", 2));
  const cases: [string, Record<string, string>, string][] = [
    ["token in query", {}, `/v1/intents?token=${AGENTS["alice-bot"]}`],
    ["access_token in query", {}, `/v1/intents?access_token=${AGENTS["alice-bot"]}`],
    ["prefix of the token", { authorization: `Bearer ${AGENTS["alice-bot"].slice(0, -1)}` }, "/v1/intents"],
    ["token plus suffix", { authorization: `Bearer ${AGENTS["alice-bot"]}x` }, "/v1/intents"],
    ["two tokens", { authorization: `Bearer ${AGENTS["alice-bot"]} ${AGENTS["alice-bot"]}` }, "/v1/intents"],
    [
      "Basic scheme",
      { authorization: `Basic ${Buffer.from(`x:${AGENTS["alice-bot"]}`).toString("base64")}` },
      "/v1/intents",
    ],
    ["token without scheme", { authorization: AGENTS["alice-bot"] }, "/v1/intents"],
    ["operator token", { authorization: `Bearer ${OPERATOR}` }, "/v1/intents"],
    ["x-api-key header", { "x-api-key": AGENTS["alice-bot"] }, "/v1/intents"],
  ];
  for (const [name, headers, path] of cases) {
    it(`refuses ${name} (401)`, async () => {
      const r = await raw(d.agentAddr, {
        method: "POST",
        path,
        headers: { host: "localhost", "content-type": "application/json", ...headers },
        body,
      });
      expect(r.status).toBe(401);
    });
  }
});

describe("roles and ownership", () => {
  it("mallory cannot read (or long-poll) alice's intent by any route", async () => {
    const a = await http(`${d.url}/v1/intents`, { body: disburse("alice-bot", 10), token: AGENTS["alice-bot"] });
    expect(a.body.decision).toBe("APPROVED");
    const id = a.body.intent_id;
    for (const p of [`/v1/intents/${id}`, `/v1/intents/${id}?wait=1`, `/v1/intents/${encodeURIComponent(id)}?wait=0`]) {
      const r = await http(`${d.url}${p}`, { token: AGENTS["mallory-bot"] });
      expect(r.status, p).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain("APPROVED");
    }
    const head = await raw(d.agentAddr, {
      method: "HEAD",
      path: `/v1/intents/${id}`,
      headers: { host: "localhost", authorization: `Bearer ${AGENTS["mallory-bot"]}` },
    });
    expect(head.status).toBe(404);
    // idempotency keys are per agent: mallory replaying alice's key gets its own intent, never alice's
    const k = await http(`${d.url}/v1/intents`, {
      body: disburse("alice-bot", 11, { idempotency_key: "shared-key" }),
      token: AGENTS["alice-bot"],
    });
    const m = await http(`${d.url}/v1/intents`, {
      body: disburse("mallory-bot", 11, { idempotency_key: "shared-key" }),
      token: AGENTS["mallory-bot"],
    });
    expect(m.body.intent_id).not.toBe(k.body.intent_id);
  });

  it("an executor token neither declares nor reads intents (any method or path spelling)", async () => {
    const a = await http(`${d.url}/v1/intents`, { body: disburse("alice-bot", 12), token: AGENTS["alice-bot"] });
    const t = EXECUTORS["pay-exec"];
    for (const p of ["/v1/intents", "/v1/intents/", "/v1/intents?x=1"]) {
      const r = await http(`${d.url}${p}`, { body: disburse("pay-exec", 13), token: t });
      expect(r.status, p).not.toBe(200);
      expect(r.body.decision, p).toBeUndefined();
    }
    const g = await http(`${d.url}/v1/intents/${a.body.intent_id}?wait=1`, { token: t });
    expect(g.status).toBe(403);
    const h = await raw(d.agentAddr, {
      method: "HEAD",
      path: `/v1/intents/${a.body.intent_id}`,
      headers: { host: "localhost", authorization: `Bearer ${t}` },
    });
    expect(h.status).toBe(403);
  });

  it("receipts and redemption are bound to the attestation and the executor role", async () => {
    const a = await http(`${d.url}/v1/intents`, { body: disburse("alice-bot", 14), token: AGENTS["alice-bot"] });
    const b = await http(`${d.url}/v1/intents`, { body: disburse("alice-bot", 15), token: AGENTS["alice-bot"] });
    // another intent's attestation
    const r1 = await http(`${d.url}/v1/intents/${a.body.intent_id}/receipt`, {
      body: { outcome: "succeeded" },
      token: EXECUTORS["pay-exec"],
      headers: { "x-intent-attestation": b.body.attestation },
    });
    expect(r1.status).toBe(403);
    const r2 = await http(`${d.url}/v1/attestations/${a.body.intent_id}/redeem`, {
      body: { attestation: b.body.attestation },
      token: EXECUTORS["pay-exec"],
    });
    expect(r2.status).toBe(403);
    // an agent token cannot redeem once executor tokens exist, even its own attestation
    const r3 = await http(`${d.url}/v1/attestations/${a.body.intent_id}/redeem`, {
      body: { attestation: a.body.attestation },
      token: AGENTS["alice-bot"],
    });
    expect(r3.status).toBe(403);
    const r4 = await http(`${d.url}/v1/intents/${a.body.intent_id}/receipt`, {
      body: { outcome: "succeeded" },
      token: AGENTS["alice-bot"],
      headers: { "x-intent-attestation": a.body.attestation },
    });
    expect(r4.status).toBe(403);
  });
});

describe("holds cap", () => {
  it("concurrent hold-worthy intents (distinct keys, two actions) never exceed max_open_per_agent", async () => {
    const rs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        http(`${d.url}/v1/intents`, {
          token: AGENTS["mallory-bot"],
          body: {
            agent: "mallory-bot",
            action: i % 2 ? "wire.send" : "wire.other",
            params: { n: i },
            idempotency_key: `cap-${i}`,
          },
        }),
      ),
    );
    const pending = rs.filter((r) => r.body.decision === "PENDING").length;
    expect(pending).toBeLessThanOrEqual(3);
    // replays of the pending ones do not open more, and a fresh one is denied
    const more = await http(`${d.url}/v1/intents`, {
      token: AGENTS["mallory-bot"],
      body: { agent: "mallory-bot", action: "wire.send", params: { n: 99 } },
    });
    expect(more.body.decision).toBe("DENIED");
  });
});

describe("principals", () => {
  for (const tenant of ["ACME", "acme ", " acme", 1, ["acme"], { id: "acme" }, null, true, "ａｃｍｅ"]) {
    it(`context.tenant ${JSON.stringify(tenant)} contradicting alice-bot's principal is refused`, async () => {
      const r = await http(`${d.url}/v1/intents`, {
        token: AGENTS["alice-bot"],
        body: disburse("alice-bot", 20, { context: { tenant } }),
      });
      expect(r.status).toBe(403);
    });
  }
  it("the principal's own tenant passes", async () => {
    const r = await http(`${d.url}/v1/intents`, {
      token: AGENTS["alice-bot"],
      body: disburse("alice-bot", 21, { context: { tenant: "acme" } }),
    });
    expect(r.body.decision).toBe("APPROVED");
  });
});

describe("data dir lock", () => {
  it("a second daemon on the same dir through a symlinked path is refused", async () => {
    const base = tempDir("isc-atk-");
    const dir = join(base, "data");
    const a = await startTestDaemon({ dataDir: dir, policy: stubPolicy({}) });
    try {
      symlinkSync(dir, join(base, "link"));
      await expect(startTestDaemon({ dataDir: join(base, "link"), policy: stubPolicy({}) })).rejects.toThrow(
        /another intent-sidecar daemon/,
      );
      await expect(startTestDaemon({ dataDir: `${dir}/./`, policy: stubPolicy({}) })).rejects.toThrow(
        /another intent-sidecar daemon/,
      );
    } finally {
      await a.close();
      removeDir(base);
    }
  });
});

/** Every byte the daemon keeps in the data dir's SQLite files. */
function storeBytes(dir: string): string {
  return ["intent-sidecar.db", "intent-sidecar.db-wal"]
    .map((f) => join(dir, f))
    .filter(existsSync)
    .map((f) => readFileSync(f).toString("latin1"))
    .join("\n");
}

describe("findings of the attack review (closed)", () => {
  const secret = (label: string) => `${label}${randomBytes(12).toString("hex")}`;

  /** Declares an http.request whose URL carries a userinfo password and an api_key query parameter. */
  async function urlWithCredentials(): Promise<{ pass: string; key: string; id: string }> {
    const pass = secret("userinfopass");
    const key = secret("querykey");
    const r = await http(`${d.url}/v1/intents`, {
      token: AGENTS["alice-bot"],
      body: {
        agent: "alice-bot",
        action: "http.request",
        // userinfo is refused at declaration (see below); the query's credential is what is left to redact
        params: { method: "GET", url: `https://api.example.com/v1/items?api_key=${key}&x=1&note=${pass}` },
      },
    });
    expect(r.body.decision).toBe("APPROVED");
    return { pass, key, id: r.body.intent_id };
  }

  it("secrets at rest: a credential in the URL query of an http.request intent is not in the stored intent", async () => {
    const { pass, key, id } = await urlWithCredentials();
    const row = d.db.prepare("SELECT intent_json FROM intents WHERE id = ?").get(id) as { intent_json: string };
    expect(row.intent_json.includes(pass), "a harmless query value stays readable").toBe(true);
    expect(row.intent_json.includes(key), "api_key query parameter stored in the intent").toBe(false);
    const stored = JSON.parse(row.intent_json);
    expect(stored.params.url).toMatch(
      /^https:\/\/api\.example\.com\/v1\/items\?api_key=sha256:[0-9a-f]{64}&x=1&note=userinfopass[0-9a-f]+$/,
    );
    expect(stored.redacted.fields).toContain("params.url");
    const ops = await http(`http://${d.operatorAddr}/v1/decisions`, { token: OPERATOR });
    expect(JSON.stringify(ops.body)).not.toContain(key);
  });

  it("secrets at rest: credential headers whose names the list misses are not stored", async () => {
    const names = [
      "X-Authorization",
      "Authentication",
      "X-Session-Id",
      "X-Passphrase",
      "X-Hub-Signature-256",
      "Sessionid",
    ];
    const values = Object.fromEntries(names.map((n) => [n, secret(`v${n.replace(/\W/g, "")}`)]));
    const r = await http(`${d.url}/v1/intents`, {
      token: AGENTS["alice-bot"],
      body: {
        agent: "alice-bot",
        action: "http.request",
        params: { method: "GET", url: "https://api.example.com/v1/items", headers: values },
      },
    });
    expect(r.body.decision).toBe("APPROVED");
    const bytes = storeBytes(d.dataDir);
    const stored = names.filter((n) => bytes.includes(values[n]!));
    expect(stored, `stored in the clear: ${stored.join(", ")}`).toEqual([]);
  });

  it("secrets at rest: credentials in tool.call args and in context are not stored (non-http actions are not redacted)", async () => {
    const tok = secret("sk_live_");
    const r = await http(`${d.url}/v1/intents`, {
      token: AGENTS["alice-bot"],
      body: {
        agent: "alice-bot",
        action: "tool.call",
        params: { tool: "github.create_issue", args: { token: tok, title: "x" } },
        context: { api_key: tok },
      },
    });
    expect(r.body.decision).toBe("APPROVED");
    expect(storeBytes(d.dataDir).includes(tok)).toBe(false);
  });
});

describe("findings of the attack review (closed): credentials in an http.request URL", () => {
  // An APPROVED intent's claims keep the URL as declared (the attestation binds it byte for byte), so a URL that
  // carries credentials is refused when it is declared: the proxy refuses such URLs anyway, and a header is stored
  // only as a digest.
  it("a URL with user:password@ is refused (400) and nothing of it is stored", async () => {
    const pass = `claimpass${randomBytes(12).toString("hex")}`;
    const r = await http(`${d.url}/v1/intents`, {
      token: AGENTS["alice-bot"],
      body: {
        agent: "alice-bot",
        action: "http.request",
        params: { method: "GET", url: `https://u:${pass}@api.example.com/` },
      },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body.issues)).toContain("params.url");
    expect(JSON.stringify(r.body)).toContain("credentials");
    d.db.pragma("wal_checkpoint(PASSIVE)");
    expect(storeBytes(d.dataDir).includes(pass)).toBe(false);
  });
});

// ---- real processes: audit verify and file modes ----------------------------------------------------------------

const START_MS = 120_000;

describe("findings of the attack review (closed): audit verify (real daemon)", () => {
  let base: string;
  beforeAll(async () => {
    base = tempDir("isc-atk-cp-");
    const p = await spawnDaemon(
      ["--data-dir", base],
      { INTENT_SIDECAR_AGENT_TOKENS: "bot=tok-bot-0123456789" },
      {
        readyTimeoutMs: START_MS,
      },
    );
    for (let i = 0; i < 5; i++) {
      await http(`${p.url}/v1/intents`, {
        token: "tok-bot-0123456789",
        body: { agent: "bot", action: "tool.call", params: { tool: "shell.exec", args: { cmd: `rm -rf /${i}` } } },
      });
    }
    expect(await p.stop("SIGTERM")).toBe(0);
    // a second run: another start checkpoint and stop checkpoint
    const q = await spawnDaemon(
      ["--data-dir", base],
      { INTENT_SIDECAR_AGENT_TOKENS: "bot=tok-bot-0123456789" },
      {
        readyTimeoutMs: START_MS,
      },
    );
    await http(`${q.url}/v1/intents`, {
      token: "tok-bot-0123456789",
      body: { agent: "bot", action: "tool.call", params: { tool: "shell.exec", args: { cmd: "ls" } } },
    });
    expect(await q.stop("SIGTERM")).toBe(0);
  }, START_MS * 2);
  afterAll(() => removeDir(base));

  it("audit verify: deleting the newer checkpoints and rewriting the rows after an older one is detected", () => {
    expect(runCli(["audit", "verify", "--data-dir", base]).status).toBe(0);
    const db = new Database(join(base, "intent-sidecar.db"));
    const cps = db.prepare("SELECT id, seq FROM audit_checkpoints ORDER BY seq").all() as { id: number; seq: number }[];
    const oldest = cps[0]!;
    // keep only the oldest checkpoint (a genuine one, signed by the daemon at its first start)
    db.prepare("DELETE FROM audit_checkpoints WHERE id <> ?").run(oldest.id);
    // rewrite every decision after it consistently: DENIED → APPROVED
    const rows = db.prepare("SELECT seq, ts, type, data_json, prev_hash FROM audit ORDER BY seq").all() as {
      seq: number;
      ts: string;
      type: string;
      data_json: string;
      prev_hash: string;
    }[];
    const from = oldest.seq + 1;
    let prev = rows.find((r) => r.seq === from)!.prev_hash;
    let changed = 0;
    for (const r of rows.filter((x) => x.seq >= from)) {
      const data = JSON.parse(r.data_json);
      if (r.type === "decision" && data.decision !== "APPROVED") {
        data.decision = "APPROVED";
        data.reasons = [];
        changed++;
      }
      const hash = auditRowHash(prev, r.seq, r.ts, r.type, data);
      db.prepare("UPDATE audit SET data_json = ?, prev_hash = ?, hash = ? WHERE seq = ?").run(
        JSON.stringify(data),
        prev,
        hash,
        r.seq,
      );
      prev = hash;
    }
    db.prepare("UPDATE audit_head SET seq = ?, hash = ?").run(rows.at(-1)!.seq, prev);
    db.close();
    expect(changed).toBeGreaterThan(0);
    const v = runCli(["audit", "verify", "--data-dir", base]);
    expect(v.status, `audit verify accepted the rewrite:\n${v.stdout}${v.stderr}`).toBe(1);
  });
});

describe("findings of the attack review (closed): audit verify (real daemon, truncation)", () => {
  it(
    "audit verify: deleting every row and every checkpoint but the first start's (row 0) is detected",
    async () => {
      const dir = tempDir("isc-atk-trunc-");
      try {
        const p = await spawnDaemon(
          ["--data-dir", dir],
          { INTENT_SIDECAR_AGENT_TOKENS: "bot=tok-bot-0123456789" },
          {
            readyTimeoutMs: START_MS,
          },
        );
        for (let i = 0; i < 3; i++) {
          await http(`${p.url}/v1/intents`, {
            token: "tok-bot-0123456789",
            body: { agent: "bot", action: "tool.call", params: { tool: "shell.exec", args: { cmd: `x${i}` } } },
          });
        }
        expect(await p.stop("SIGTERM")).toBe(0);
        const db = new Database(join(dir, "intent-sidecar.db"));
        db.exec("DELETE FROM audit_checkpoints WHERE seq > 0; DELETE FROM audit; DELETE FROM audit_head;");
        db.close();
        const v = runCli(["audit", "verify", "--data-dir", dir]);
        expect(v.status, `audit verify accepted an emptied log:\n${v.stdout}${v.stderr}`).toBe(1);
      } finally {
        removeDir(dir);
      }
    },
    START_MS,
  );
});

describe("data dir modes (real daemon, generated tokens)", () => {
  it(
    "every file is 0600 and every directory 0700 after start, decisions and keys rotate",
    async () => {
      const dir = tempDir("isc-atk-modes-");
      try {
        const p = await spawnDaemon(["--data-dir", dir], {}, { dev: false, readyTimeoutMs: START_MS });
        const tok = readFileSync(join(dir, "agent-token"), "utf8").trim();
        const r = await http(`${p.url}/v1/intents`, {
          token: tok,
          body: { action: "tool.call", params: { tool: "shell.exec", args: { cmd: "ls" } } },
        });
        expect(r.status).toBeLessThan(500);
        const rot = runCli(["keys", "rotate", "--data-dir", dir]);
        expect(rot.status, rot.stderr).toBe(0);
        await new Promise((res) => setTimeout(res, 3000)); // the daemon picks the rotation up (every 2 s)
        const v = runCli(["audit", "verify", "--data-dir", dir]);
        expect(v.status, v.stderr).toBe(0);
        const bad: string[] = [];
        const walk = (p0: string) => {
          for (const name of readdirSync(p0)) {
            const f = join(p0, name);
            const st = lstatSync(f);
            if (st.isDirectory()) {
              if ((st.mode & 0o777) !== 0o700) bad.push(`${f} ${(st.mode & 0o777).toString(8)}`);
              walk(f);
            } else if (st.isFile() && (st.mode & 0o077) !== 0) bad.push(`${f} ${(st.mode & 0o777).toString(8)}`);
          }
        };
        const st = lstatSync(dir);
        if ((st.mode & 0o777) !== 0o700) bad.push(`${dir} ${(st.mode & 0o777).toString(8)}`);
        walk(dir);
        await p.stop("SIGTERM");
        expect(bad).toEqual([]);
      } finally {
        removeDir(dir);
      }
    },
    START_MS,
  );
});
