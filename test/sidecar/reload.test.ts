// Policy reloads as the daemon reports them: a broken edit keeps the last valid policy serving and shows up in
// /healthz, the audit chain and metrics; a fixed edit takes over.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { auditRows } from "../../sidecar/store/index.ts";
import { DEFAULT_POLICY_FILE } from "../../sidecar/config.ts";
import { dirname } from "node:path";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let policyDir: string;
let policyFile: string;
let original: string;

beforeAll(async () => {
  policyDir = tempDir();
  cpSync(dirname(DEFAULT_POLICY_FILE), policyDir, { recursive: true });
  policyFile = join(policyDir, "policy.yaml");
  original = readFileSync(policyFile, "utf8");
  d = await startTestDaemon({ config: { policyFile } });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
  removeDir(policyDir);
});

const report = { agent: "r", action: "report.daily", params: {} };

describe("policy reload", () => {
  it("a broken edit keeps the last valid policy serving and is reported in /healthz, audit and metrics", async () => {
    const before = (await http(`${d.url}/healthz`)).body.policy.digest;
    writeFileSync(policyFile, original.replace('max_value: "0.05 ether"', 'max_value: "0.05 eth"'));
    const r = await d.reloadPolicy();
    expect(r.ok).toBe(false);
    const h = await http(`${d.url}/healthz`);
    expect(h.body.policy.digest).toBe(before);
    expect(h.body.last_reload_error).toMatch(/policy\.yaml:\d+:\d+/);
    expect((await http(`${d.url}/v1/intents`, { body: report })).body.decision).toBe("APPROVED");
    const failed = [...auditRows(d.db)].filter((row) => row.type === "policy.reload_failed");
    expect(failed.length).toBeGreaterThan(0);
    expect(String(failed.at(-1)!.data.error)).toMatch(/max_value/);
    expect((await http(`${d.url}/metrics`)).body).toMatch(
      /intent_sidecar_policy_reloads_total\{result="failed"\} [1-9]/,
    );
  });

  it("a fixed edit takes over with a new digest, recorded in the audit chain", async () => {
    const before = (await http(`${d.url}/healthz`)).body.policy.digest;
    writeFileSync(
      policyFile,
      original.replace('allow: ["treasury.disburse", "report.*"]', 'allow: ["treasury.disburse"]'),
    );
    const r = await d.reloadPolicy();
    expect(r.ok).toBe(true);
    const h = await http(`${d.url}/healthz`);
    expect(h.body.policy.digest).not.toBe(before);
    expect(h.body.last_reload_error).toBeNull();
    const denied = await http(`${d.url}/v1/intents`, { body: report });
    expect(denied.body.decision).toBe("DENIED");
    expect(denied.body.policy.digest).toBe(h.body.policy.digest);
    const ok = [...auditRows(d.db)].filter((row) => row.type === "policy.reloaded");
    expect(ok.at(-1)!.data.digest).toBe(h.body.policy.digest);
  });
});
