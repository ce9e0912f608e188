import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { intentDigest } from "../../protocol/index.ts";
import { IntentStore, openDatabase, type IntentRecord } from "../../sidecar/store/index.ts";
import { HOLDS_SCHEMA_SQL } from "../../sidecar/holds/schema.ts";
import { runCli } from "../nemoclaw/run-cli.ts";

let dir: string;
let dataDir: string;

const BASE = `version: 1
actions:
  allow: ["report.*", "treasury.disburse"]
tool_calls:
  allow: ["slack.post_message", "github.*", "payments.*"]
  hold: ["payments.*"]
`;

function record(
  id: string,
  at: string,
  body: { action: string; params: Record<string, unknown> },
  decision: IntentRecord["decision"],
  extra: Partial<IntentRecord> = {},
): IntentRecord {
  const intent = { agent: "bot", action: body.action, params: body.params, context: {} };
  return {
    id,
    agent: "bot",
    action: body.action,
    digest: intentDigest(intent),
    intent,
    decision,
    reasons: [],
    policy_digest: `sha256:${"0".repeat(64)}`,
    created_at: at,
    updated_at: at,
    ...extra,
  };
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-"));
  dataDir = path.join(dir, "data");
  const db = openDatabase(dataDir);
  const store = new IntentStore(db);
  const tool = (tool: string) => ({ action: "tool.call", params: { tool, args: {} } });
  store.insert(record("i1", "2026-03-20T10:00:00.000Z", tool("slack.post_message"), "APPROVED"));
  store.insert(record("i2", "2026-03-20T10:01:00.000Z", tool("github.get_repo"), "APPROVED"));
  store.insert(
    record("i3", "2026-03-20T10:02:00.000Z", tool("shell.exec"), "DENIED", {
      reasons: [{ block: "tool_calls", rule: "allow", message: "x" }],
    }),
  );
  // a hold an operator later approved: it was PENDING when decided
  store.insert(
    record("i4", "2026-03-20T10:03:00.000Z", tool("payments.refund"), "APPROVED", {
      hold: { id: "h1", expires_at: "2026-03-21T10:03:00.000Z", approvals_required: 1, approvals: 1 },
      reasons: [{ block: "tool_calls", rule: "hold", message: "x" }],
    }),
  );
  // held only by a soft limit: not replayed, compared as APPROVED
  store.insert(
    record("i5", "2026-03-20T10:04:00.000Z", { action: "report.weekly", params: {} }, "PENDING", {
      hold: { id: "h2", expires_at: "2026-03-21T10:04:00.000Z", approvals_required: 1, approvals: 0 },
      reasons: [{ block: "soft_limits", rule: "hourly", message: "x" }],
    }),
  );
  // a soft-limit hold an operator later denied: the intent row now carries the denial, the holds table the cause
  store.insert(
    record("i6", "2026-03-20T10:05:00.000Z", { action: "report.daily", params: {} }, "DENIED", {
      hold: { id: "h3", expires_at: "2026-03-21T10:05:00.000Z", approvals_required: 1, approvals: 0 },
      reasons: [{ block: "holds", rule: "denied", message: "hold denied by alice" }],
    }),
  );
  db.exec(HOLDS_SCHEMA_SQL);
  db.prepare(
    `INSERT INTO holds (id, intent_id, agent, action, intent_json, reasons_json, rules_json, policy_digest, state,
       approvals_required, created_at, expires_at) VALUES ('h3', 'i6', 'bot', 'report.daily', '{}', ?, '["daily"]', 'x',
       'denied', 1, 0, 0)`,
  ).run(JSON.stringify([{ block: "soft_limits", rule: "daily", message: "x" }]));
  db.close();
  fs.writeFileSync(path.join(dir, "same.yaml"), BASE);
  fs.writeFileSync(
    path.join(dir, "stricter.yaml"),
    BASE.replace(
      'allow: ["slack.post_message", "github.*", "payments.*"]',
      'allow: ["slack.post_message", "github.*", "payments.*", "shell.exec"]\n  deny: ["github.*"]',
    ).replace('hold: ["payments.*"]', 'hold: ["slack.*"]'),
  );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("intent-sidecar policy simulate", () => {
  it("reports no change when the candidate decides like the recorded policy", async () => {
    const r = await runCli([
      "policy",
      "simulate",
      "--policy",
      path.join(dir, "same.yaml"),
      "--data-dir",
      dataDir,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ replayed: 6, changed: 0, unchanged: 6, soft_limit_only: 2, changes: [] });
    expect(report.candidate.digest).toMatch(/^sha256:/u);
  });

  it("lists exactly the intents whose decision would change, with the candidate's reasons", async () => {
    const r = await runCli([
      "policy",
      "simulate",
      "--policy",
      path.join(dir, "stricter.yaml"),
      "--data-dir",
      dataDir,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.changed).toBe(4);
    expect(report.transitions).toEqual({
      "APPROVED -> PENDING": 1,
      "APPROVED -> DENIED": 1,
      "DENIED -> APPROVED": 1,
      "PENDING -> APPROVED": 1,
    });
    const byId = Object.fromEntries(report.changes.map((c: { intent_id: string }) => [c.intent_id, c]));
    expect(byId.i1).toMatchObject({ recorded: "APPROVED", candidate: "PENDING" });
    expect(byId.i2).toMatchObject({ recorded: "APPROVED", candidate: "DENIED" });
    expect(byId.i2.reasons[0]).toMatchObject({ block: "tool_calls" });
    expect(byId.i3).toMatchObject({ recorded: "DENIED", candidate: "APPROVED" });
    expect(byId.i4).toMatchObject({ recorded: "PENDING", candidate: "APPROVED", outcome: "APPROVED" });
    expect(byId.i5).toBeUndefined();
  });

  it("prints a readable table and can fail CI on any change", async () => {
    const r = await runCli([
      "policy",
      "simulate",
      "--policy",
      path.join(dir, "stricter.yaml"),
      "--data-dir",
      dataDir,
      "--fail-on-change",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/replayed 6 intents: 4 would change, 2 unchanged/);
    expect(r.stdout).toMatch(/i2 {2}bot {2}tool\.call {2}APPROVED -> DENIED/);
    expect(
      (
        await runCli([
          "policy",
          "simulate",
          "--policy",
          path.join(dir, "same.yaml"),
          "--data-dir",
          dataDir,
          "--fail-on-change",
        ])
      ).code,
    ).toBe(0);
  });

  it("--limit replays only the most recent intents", async () => {
    const r = await runCli([
      "policy",
      "simulate",
      "--policy",
      path.join(dir, "stricter.yaml"),
      "--data-dir",
      dataDir,
      "--json",
      "--limit",
      "2",
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ replayed: 2 });
  });

  it("says what is wrong with an invalid candidate or a missing store", async () => {
    fs.writeFileSync(path.join(dir, "bad.yaml"), "version: 1\ntool_calls:\n  allow: 5\n");
    const bad = await runCli(["policy", "simulate", "--policy", path.join(dir, "bad.yaml"), "--data-dir", dataDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.yaml:3:\d+/u);
    const missing = await runCli([
      "policy",
      "simulate",
      "--policy",
      path.join(dir, "same.yaml"),
      "--data-dir",
      path.join(dir, "nope"),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no sidecar store/);
  });
});
