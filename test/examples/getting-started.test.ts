// docs/getting-started.md, as a test: the sidecar running, the example agent getting APPROVED, DENIED and PENDING,
// an operator approving the hold (CLI and operator API), the agent executing through the executor gate.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "bin/intent-sidecar.mjs");
const OPERATOR_TOKEN = "op-secret-alice";
let dir: string;
let daemon: RunningDaemon;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "getting-started-"));
  // The bundled reference policy, plus a `resolve` pin so the proxy step needs no DNS (CI has no network): the
  // rules deny curl before any upstream connection is made.
  const policyDir = path.join(dir, "policy");
  fs.cpSync(path.join(ROOT, "policy-examples/reference"), policyDir, { recursive: true });
  const policyFile = path.join(policyDir, "policy.yaml");
  const pinned = fs
    .readFileSync(policyFile, "utf8")
    .replace(
      '  require_attestation: ["api.production.company.com"]\n',
      '  require_attestation: ["api.production.company.com"]\n  resolve: { "api.github.com": "127.0.0.1" }\n  allow_addresses: ["127.0.0.1/32"]\n',
    );
  expect(pinned).toContain("resolve:");
  fs.writeFileSync(policyFile, pinned);
  daemon = await spawnDaemon(
    ["--policy", policyFile, "--data-dir", path.join(dir, "data")],
    {
      INTENT_SIDECAR_OPERATOR_TOKENS: `alice=${OPERATOR_TOKEN}`,
      INTENT_SIDECAR_NEMOCLAW_DECLARATION: path.join(dir, "none.json"),
    },
    { cwd: ROOT, readyTimeoutMs: 85_000 },
  );
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("getting started", { timeout: 180_000 }, () => {
  it("the sidecar runs the bundled reference policy and answers /healthz", async () => {
    expect(daemon.ready.policy_digest).toMatch(/^sha256:[0-9a-f]{64}$/u);
    const health = await (await fetch(`http://${daemon.ready.agent_addr}/healthz`)).json();
    expect(JSON.stringify(health)).toContain(daemon.ready.policy_digest);
  });

  it("the example agent gets all three decisions; an operator approves; the gate lets each attestation through once", async () => {
    const agent = spawn(process.execPath, ["--import", "tsx", "examples/agent.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        INTENT_SIDECAR_URL: `http://${daemon.ready.agent_addr}`,
        INTENT_SIDECAR_OPERATOR_URL: `http://${daemon.ready.operator_addr}`,
        WAIT_SECONDS: "120",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    agent.stderr!.on("data", (c) => (stderr += c));
    const lines: string[] = [];
    const exited = new Promise<number | null>((r) => agent.once("exit", r));
    let approved = false;
    for await (const line of createInterface({ input: agent.stdout! })) {
      lines.push(line);
      const hold = /hold (hold_\S+) needs/u.exec(line);
      if (hold && !approved) {
        approved = true;
        // the operator approves with the CLI, as the guide shows
        const r = spawnSync(process.execPath, [CLI, "holds", "approve", hold[1]!, "--comment", "refund ok"], {
          cwd: ROOT,
          encoding: "utf8",
          env: {
            ...process.env,
            INTENT_SIDECAR_OPERATOR_URL: `http://${daemon.ready.operator_addr}`,
            INTENT_SIDECAR_OPERATOR_TOKEN: OPERATOR_TOKEN,
          },
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/approved \(1 of 1 approvals\)/u);
      }
    }
    expect(await exited, stderr + lines.join("\n")).toBe(0);
    const out = lines.join("\n");
    expect(out).toMatch(/^\[1\] slack\.post_message -> APPROVED/mu);
    expect(out).toMatch(/^\[2\] shell\.exec -> DENIED .*tool_calls\/deny/mu);
    expect(out).toMatch(/^\[3\] payments\.refund -> PENDING .*tool_calls\/hold/mu);
    expect(out).toContain("executed slack.post_message through the executor gate");
    expect(out).toContain("executed payments.refund through the executor gate (approved by alice)");
    expect(out.match(/replaying the same attestation is refused: replayed/gu)).toHaveLength(2);
    expect(out).toMatch(/decisions: APPROVED, DENIED, APPROVED$/u);
  });

  it("policy simulate replays those intents against another policy while the sidecar runs", () => {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        "policy",
        "simulate",
        "--policy",
        "policy-examples/devops-tools/policy.yaml",
        "--data-dir",
        path.join(dir, "data"),
        "--json",
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    // slack.post_message stays APPROVED and shell.exec DENIED; devops-tools has no payments.* tools
    expect(report).toMatchObject({ replayed: 3, changed: 1, transitions: { "PENDING -> DENIED": 1 } });
    expect(report.changes[0]).toMatchObject({
      action: "tool.call",
      recorded: "PENDING",
      outcome: "APPROVED",
      candidate: "DENIED",
    });
  });

  it("the operator console is served on the operator listener", async () => {
    const res = await fetch(`http://${daemon.ready.operator_addr}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/u);
  });

  it("the proxy denies a curl, with the reference rule's reason", () => {
    const r = spawnSync(
      "curl",
      [
        "-sS",
        "-x",
        `http://${daemon.ready.proxy_addr}`,
        "--cacert",
        path.join(dir, "data", "proxy-ca.crt.pem"),
        "-w",
        "\\n%{http_code}",
        "https://api.github.com/zen",
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const [body, status] = r.stdout.trim().split("\n");
    expect(status).toBe("403");
    expect(JSON.parse(body!)).toMatchObject({
      error: "forbidden",
      reasons: [{ block: "network", message: "curl may not make network requests" }],
    });
  });
});
