// Day-two operations on a running sidecar's Rego layer: `policy reload` (what changed, or why a version was refused),
// `policy list` (digest, files, last error, pending), and external data (`policy data update`, PUT
// /v1/policy/data/{path}): applied at once with a new digest, audited, persisted across restarts.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openPolicy } from "../../sidecar/policy-runtime.ts";
import { silentLogger } from "../../sidecar/log.ts";
import { openDatabase, auditRows } from "../../sidecar/store/index.ts";
import { httpViaProxy } from "../proxy/helpers.ts";
import { runCli } from "../cli/run-policy-cli.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

vi.setConfig({ testTimeout: 60_000 });

const TOKEN = "alice-operator-token-1234567890";
const good = (marker: string) => `package ops.net

default allow := false

deny contains sprintf("%s is blocked by data.blocked_hosts", [input.request.host]) if input.request.host in data.blocked_hosts
# ${marker}
`;

let dir: string;
let policyFile: string;
let dataDir: string;
let d: Awaited<ReturnType<typeof startTestDaemon>>;

async function start() {
  const policy = await openPolicy(policyFile, silentLogger(), { dataDir, watch: false });
  d = await startTestDaemon({ policy, dataDir, config: { policyFile, operatorTokens: { alice: TOKEN } } });
}

beforeAll(async () => {
  dir = tempDir("policy-ops-");
  dataDir = join(dir, "data");
  mkdirSync(join(dir, "net"));
  writeFileSync(join(dir, "net", "rules.rego"), good("v1"));
  writeFileSync(join(dir, "net", "data.json"), JSON.stringify({ blocked_hosts: ["a.test"] }));
  policyFile = join(dir, "policy.yaml");
  writeFileSync(
    policyFile,
    `version: 1\nnetwork:\n  package: ops.net\n  modules: ["net/*.rego"]\n  data: ["net/data.json"]\n  allow_addresses: ["127.0.0.2/32"]\n  resolve:\n    a.test: "127.0.0.2"\n    b.test: "127.0.0.2"\n`,
  );
  await start();
});

afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const cli = (...args: string[]) => runCli(["policy", ...args, "--url", `http://${d.operatorAddr}`, "--token", TOKEN]);
const reasons = async (host: string) => {
  const [h, p] = d.proxyAddr.split(":");
  const r = await httpViaProxy({ host: h!, port: Number(p) } as never, `http://${host}/x`);
  expect(r.status).toBe(403);
  return (JSON.parse(r.body).reasons as { message: string }[]).map((x) => x.message);
};

describe("policy reload and policy list", () => {
  it("a broken module is refused with its error; a good one reports what changed; list shows both", async () => {
    const before = await cli("list", "--json");
    expect(before.code, before.stderr).toBe(0);
    const s0 = JSON.parse(before.stdout);
    expect(s0.last_error).toBeNull();
    expect(s0.files.map((f: { kind: string; path: string }) => [f.kind, f.path.slice(dir.length + 1)])).toEqual([
      ["policy", "policy.yaml"],
      ["module", "net/rules.rego"],
      ["data", "net/data.json"],
    ]);
    for (const f of s0.files) expect(f.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    writeFileSync(join(dir, "net", "rules.rego"), "package ops.net\n\nallow if {\n");
    const pending = JSON.parse((await cli("list", "--json")).stdout);
    expect(pending.pending.files).toEqual([{ path: join(dir, "net", "rules.rego"), state: "modified" }]);

    const bad = await cli("reload");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/reload refused; the last valid policy stays active/);
    expect(bad.stdout).toMatch(/rules\.rego:\d+:\d+/);
    const afterBad = await cli("list");
    expect(afterBad.code).toBe(0);
    expect(afterBad.stdout).toContain(`digest   ${s0.digest}`);
    expect(afterBad.stdout).toMatch(/last reload error \(.+\):\n.*rules\.rego/);
    expect(afterBad.stdout).toMatch(/pending:\n\s+modified\s+net\/rules\.rego/);

    writeFileSync(join(dir, "net", "rules.rego"), good("v2"));
    const ok = await cli("reload");
    expect(ok.code, ok.stderr).toBe(0);
    const s1 = JSON.parse((await cli("list", "--json")).stdout);
    expect(ok.stdout).toBe(`policy reloaded: ${s0.digest} -> ${s1.digest}\n  modified  ${join(dir, "net", "rules.rego")}\n`);
    expect(s1.digest).not.toBe(s0.digest);
    expect(s1.last_error).toBeNull();
    expect(s1.pending).toEqual({ settling: false, files: [] });
    const mod = s1.files.find((f: { kind: string }) => f.kind === "module");
    expect(mod.digest).not.toBe(s0.files[1].digest);
    expect(Date.parse(mod.changed_at)).toBeGreaterThanOrEqual(Date.parse(s0.loaded_at) - 1000);
    const same = await cli("reload", "--json");
    expect(JSON.parse(same.stdout)).toMatchObject({ ok: true, changed: false, changes: { added: [], removed: [], modified: [] } });
  });
});

describe("external data", () => {
  it("replaces a subtree of data: the rule decides differently at once, audited, persisted across a restart", async () => {
    expect(await reasons("a.test")).toContain("a.test is blocked by data.blocked_hosts");
    expect(await reasons("b.test")).not.toContain("b.test is blocked by data.blocked_hosts");
    const digest0 = JSON.parse((await cli("list", "--json")).stdout).digest;

    writeFileSync(join(dir, "hosts.yaml"), "- b.test\n");
    const up = await cli("data", "update", join(dir, "hosts.yaml"), "--at", "data.blocked_hosts");
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(new RegExp(`^data\\.blocked_hosts updated: policy ${digest0} -> sha256:[0-9a-f]{64}\\n$`));
    expect(await reasons("b.test")).toContain("b.test is blocked by data.blocked_hosts");
    expect(await reasons("a.test")).not.toContain("a.test is blocked by data.blocked_hosts");

    const s = JSON.parse((await cli("list", "--json")).stdout);
    expect(s.digest).not.toBe(digest0);
    expect(s.files_digest).toBe(digest0);
    expect(s.data).toEqual([{ path: "data.blocked_hosts", digest: expect.stringMatching(/^sha256:/), updated_at: expect.any(String), updated_by: "alice" }]);
    expect((await cli("list")).stdout).toMatch(/ext-data\s+data\.blocked_hosts\s+[0-9a-f]{12}\s+.* by alice/);

    // refused: not JSON, a bad path, root not an object
    const r1 = await http(`http://${d.operatorAddr}/v1/policy/data/blocked_hosts`, { method: "PUT", raw: "{nope", token: TOKEN });
    expect(r1.status).toBe(400);
    const r2 = await http(`http://${d.operatorAddr}/v1/policy/data/__proto__`, { method: "PUT", body: [1], token: TOKEN });
    expect(r2.status).toBe(400);
    const r3 = await http(`http://${d.operatorAddr}/v1/policy/data`, { method: "PUT", body: [1], token: TOKEN });
    expect(r3.status).toBe(422);
    expect((await http(`http://${d.operatorAddr}/v1/policy`, {})).status).toBe(401);
    expect(JSON.parse((await cli("list", "--json")).stdout).digest).toBe(s.digest);

    const file = join(dataDir, "policy-data.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8")).entries[0]).toMatchObject({ path: ["blocked_hosts"], value: ["b.test"], updated_by: "alice" });

    await d.close();
    const db = openDatabase(dataDir);
    const rows = [...auditRows(db)].filter((r) => r.type === "policy.data_updated");
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data).toMatchObject({ operator: "alice", path: "data.blocked_hosts", digest_before: digest0, digest_after: s.digest });

    await start();
    expect(JSON.parse((await cli("list", "--json")).stdout).digest).toBe(s.digest);
    expect(await reasons("b.test")).toContain("b.test is blocked by data.blocked_hosts");
    // a reload of the files keeps the external data on top
    writeFileSync(join(dir, "net", "rules.rego"), good("v3"));
    expect((await cli("reload")).code).toBe(0);
    expect(await reasons("b.test")).toContain("b.test is blocked by data.blocked_hosts");
    expect(await reasons("a.test")).not.toContain("a.test is blocked by data.blocked_hosts");
  });
});
