// `intent-sidecar logs`: decisions and proxy denials from the store, with the Rego rule's message, filters, JSON lines
// or a table, and --follow.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CertificateAuthority, startProxy, type ProxyServer } from "../../proxy/index.ts";
import { loadPolicy } from "../../sidecar/policy/load.ts";
import { appendAudit, openDatabase, type Db } from "../../sidecar/store/index.ts";
import { parseSince, registerLogs, runLogs } from "../../sidecar/cli/commands/logs.ts";
import { httpViaProxy } from "../proxy/helpers.ts";
import { runCli } from "./run-policy-cli.ts";

vi.setConfig({ testTimeout: 60_000 });

const rules = `package test.net

default allow := false

allow if input.request.host == "open.test"

deny contains sprintf("%s may not reach %s", [input.request.method, input.request.host]) if input.request.host == "blocked.test"
`;

let dir: string;
let db: Db;
let proxy: ProxyServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "logs-"));
  writeFileSync(path.join(dir, "net.rego"), rules);
  writeFileSync(path.join(dir, "policy.yaml"), `version: 1\nnetwork:\n  package: test.net\n  modules: ["net.rego"]\n  allow_addresses: ["127.0.0.2/32"]\n  resolve:\n    blocked.test: "127.0.0.2"\n`);
  const loaded = await loadPolicy(path.join(dir, "policy.yaml"));
  db = openDatabase(path.join(dir, "data"));
  // the daemon's wiring (sidecar/daemon.ts): the proxy decides by the network block, denials go to the audit log
  proxy = await startProxy({
    port: 0,
    ca: await CertificateAuthority.ephemeral(),
    policy: () => loaded.network!.proxy,
    onDecision: (e) => {
      if (e.allowed) return;
      const { allowed: _allowed, ...denial } = e;
      appendAudit(db, { type: "proxy.denied", ...denial });
    },
  });
  appendAudit(db, {
    type: "decision",
    intent_id: "01-a",
    agent: "treasury-bot",
    action: "evm.transaction",
    digest: "sha256:x",
    decision: "APPROVED",
    reasons: [],
    policy_digest: "sha256:p",
  });
  const r = await httpViaProxy(proxy, "http://blocked.test/upload?token=SECRET123", {
    method: "POST",
    headers: { authorization: "Bearer SECRETBEARER", "content-type": "application/json" },
    body: JSON.stringify({ card: "4111 1111 1111 1111" }),
  });
  expect(r.status).toBe(403);
  appendAudit(db, {
    type: "decision",
    intent_id: "01-b",
    agent: "treasury-bot",
    action: "evm.transaction",
    digest: "sha256:y",
    decision: "DENIED",
    reasons: [{ block: "evm", rule: "max_value", message: "value over 1 ETH" }],
    policy_digest: "sha256:p",
  });
});

afterAll(async () => {
  await proxy?.close();
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const logs = (...args: string[]) => runCli(["logs", "--data-dir", path.join(dir, "data"), ...args], registerLogs);

describe("intent-sidecar logs", () => {
  it("lists a proxy denial with its Rego message, and no secrets", async () => {
    const r = await logs("--json", "--block", "network");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      source: "proxy",
      decision: "DENIED",
      action: "POST blocked.test:80/upload",
      blocks: ["network"],
    });
    expect(lines[0].reasons.map((x: { message: string }) => x.message)).toContain("POST may not reach blocked.test");
    expect(r.stdout).not.toMatch(/SECRET|4111|authorization/i);
  });

  it("filters by decision and agent, and prints a table", async () => {
    const denied = await logs("--json", "--decision", "denied");
    expect(denied.stdout.trim().split("\n").map((l) => JSON.parse(l).source)).toEqual(["proxy", "decision"]);
    const agent = await logs("--json", "--agent", "treasury-bot");
    expect(agent.stdout.trim().split("\n").map((l) => JSON.parse(l).decision)).toEqual(["APPROVED", "DENIED"]);
    const t = await logs();
    expect(t.code).toBe(0);
    const rows = t.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^TIME\s+DECISION\s+SOURCE\s+AGENT\s+ACTION\s+REASONS$/);
    expect(rows).toHaveLength(4);
    expect(rows[2]).toMatch(/DENIED\s+proxy\s+.*POST blocked\.test:80\/upload\s+network\/.*POST may not reach blocked\.test/);
    expect(rows[3]).toMatch(/evm\/max_value: value over 1 ETH/);
    expect((await logs("--json", "--since", "1h")).stdout.trim().split("\n")).toHaveLength(3);
    expect((await logs("--json", "--since", "2999-01-01T00:00:00Z")).stdout).toBe("");
    expect((await logs("--since", "yesterday-ish")).code).toBe(2);
    expect((await logs("--decision", "MAYBE")).code).toBe(2);
    expect((await runCli(["logs", "--data-dir", path.join(dir, "nothing")], registerLogs)).code).toBe(2);
  });

  it("--follow streams new decisions", async () => {
    const out: string[] = [];
    const ac = new AbortController();
    const done = runLogs({ dataDir: path.join(dir, "data"), limit: "1", json: true, follow: true, interval: "20", block: "network" }, (s) => out.push(s), ac.signal);
    await new Promise((r) => setTimeout(r, 60));
    expect(out.join("").trim().split("\n")).toHaveLength(1);
    const r = await httpViaProxy(proxy, "http://blocked.test/again", { method: "DELETE" });
    expect(r.status).toBe(403);
    for (let i = 0; i < 100 && !out.join("").includes("DELETE may not reach"); i++) await new Promise((res) => setTimeout(res, 20));
    ac.abort();
    await done;
    const lines = out.join("").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.action)).toEqual(["POST blocked.test:80/upload", "DELETE blocked.test:80/again"]);
    expect(lines[1].reasons.map((x: { message: string }) => x.message)).toContain("DELETE may not reach blocked.test");
  });

  it("parses --since durations", () => {
    const now = new Date("2026-01-01T12:00:00Z");
    expect(parseSince("1h", now)).toBe("2026-01-01T11:00:00.000Z");
    expect(parseSince("1h30m", now)).toBe("2026-01-01T10:30:00.000Z");
    expect(parseSince("2026-01-01T00:00:00Z", now)).toBe("2026-01-01T00:00:00.000Z");
  });
});
