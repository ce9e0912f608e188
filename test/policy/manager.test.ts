// Hot reload: file changes (including editors' rename-on-save) and operator reloads; a broken edit keeps the last
// valid policy serving and records the error; a fixed edit takes over.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { PolicyManager, PolicyError, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { decide, intent, tempDir } from "./helpers.ts";

let t: Awaited<ReturnType<typeof tempDir>>;
let m: PolicyManager | undefined;
beforeEach(async () => {
  t = await tempDir();
});
afterEach(async () => {
  m?.stop();
  m = undefined;
  await t.cleanup();
});

const allowing = (action: string) => `actions:\n  allow: ["${action}"]\n`;

/** Resolves with the next event of that name. */
function next<E extends "reloaded" | "reload_failed">(
  mgr: PolicyManager,
  event: E,
): Promise<E extends "reloaded" ? LoadedPolicy : PolicyError> {
  return new Promise((resolve) => mgr.once(event, ((x: never) => resolve(x)) as never));
}

describe("PolicyManager", () => {
  it("start() throws PolicyError when the first load fails", async () => {
    const f = await t.write("policy.yaml", "actions:\n  allow: 3\n");
    m = new PolicyManager(f, { watch: false });
    await expect(m.start()).rejects.toBeInstanceOf(PolicyError);
    expect(m.current()).toBeUndefined();
  });

  it("reload(): a broken edit keeps the last valid policy and records the error; a fixed edit takes over", async () => {
    const f = await t.write("policy.yaml", allowing("report.a"));
    m = new PolicyManager(f, { watch: false });
    const first = await m.start();
    const failed = next(m, "reload_failed");
    await writeFile(f, 'actions:\n  allow: ["report.b"\n');
    const r = await m.reload();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.code).toBe("policy_invalid");
    expect((await failed).message).toMatch(/policy\.yaml:\d+:\d+: YAML syntax/);
    expect(m.current()).toBe(first);
    expect(m.lastError?.line).toBeGreaterThan(0);
    expect((await decide(m.current()!, intent({ action: "report.a", params: {} }))).effect).toBe("allow");

    await writeFile(f, allowing("report.b"));
    const ok = await m.reload();
    expect(ok).toMatchObject({ ok: true, changed: true });
    expect(ok.ok && ok.digest).toBe(m.current()!.digest);
    expect(m.lastError).toBeUndefined();
    expect((await decide(m.current()!, intent({ action: "report.a", params: {} }))).effect).toBe("deny");
    expect((await decide(m.current()!, intent({ action: "report.b", params: {} }))).effect).toBe("allow");
  });

  it("reloads when the file is edited in place", async () => {
    const f = await t.write("policy.yaml", allowing("report.a"));
    m = new PolicyManager(f, { debounceMs: 50 });
    const first = await m.start();
    const reloaded = next(m, "reloaded");
    await writeFile(f, allowing("report.c"));
    const p = await reloaded;
    expect(p.digest).not.toBe(first.digest);
    expect(m.current()).toBe(p);
  });

  it("survives rename-on-save and keeps watching afterwards", async () => {
    const f = await t.write("policy.yaml", allowing("report.a"));
    m = new PolicyManager(f, { debounceMs: 50 });
    await m.start();
    for (const action of ["report.x", "report.y"]) {
      const reloaded = next(m, "reloaded");
      const tmp = path.join(t.dir, ".policy.yaml.swp");
      await writeFile(tmp, allowing(action));
      await rename(tmp, f);
      await reloaded;
      expect((await decide(m.current()!, intent({ action, params: {} }))).effect).toBe("allow");
    }
  });

  it("a broken edit on disk is reported and the previous policy keeps serving until the fix", async () => {
    const f = await t.write("policy.yaml", allowing("report.a"));
    m = new PolicyManager(f, { debounceMs: 50 });
    const first = await m.start();
    const failed = next(m, "reload_failed");
    await writeFile(f, 'evm:\n  max_value: "lots"\n');
    const err = await failed;
    expect(err.issues[0]).toMatchObject({ line: 2, column: 14, path: "evm.max_value" });
    expect(m.current()).toBe(first);
    const reloaded = next(m, "reloaded");
    await writeFile(f, 'evm:\n  max_value: "1 ether"\n');
    expect((await reloaded).config.evm?.maxValue).toBe(10n ** 18n);
    expect(m.lastError).toBeUndefined();
  });

  it("follows a symlinked policy whose target is swapped atomically (Kubernetes ConfigMap volumes)", async () => {
    const { mkdir, symlink } = await import("node:fs/promises");
    await mkdir(path.join(t.dir, "v1"));
    await writeFile(path.join(t.dir, "v1", "policy.yaml"), allowing("report.v1"));
    await symlink("v1", path.join(t.dir, "..data"));
    await symlink(path.join("..data", "policy.yaml"), path.join(t.dir, "policy.yaml"));
    m = new PolicyManager(path.join(t.dir, "policy.yaml"), { debounceMs: 50 });
    await m.start();
    await mkdir(path.join(t.dir, "v2"));
    await writeFile(path.join(t.dir, "v2", "policy.yaml"), allowing("report.v2"));
    const reloaded = next(m, "reloaded");
    await symlink("v2", path.join(t.dir, "..data_tmp"));
    await rename(path.join(t.dir, "..data_tmp"), path.join(t.dir, "..data"));
    await reloaded;
    expect((await decide(m.current()!, intent({ action: "report.v2", params: {} }))).effect).toBe("allow");
  });

  it("reloads when a referenced file changes", async () => {
    await t.write("net/rules.rego", "package nemoclaw.network\ndefault allow := false\n");
    await t.write("net/data.json", '{"a": 1}');
    const f = await t.write("policy.yaml", 'network:\n  modules: ["net/*.rego"]\n  data: ["net/data.json"]\n');
    m = new PolicyManager(f, { debounceMs: 50 });
    const first = await m.start();
    const reloaded = next(m, "reloaded");
    await writeFile(path.join(t.dir, "net/data.json"), '{"a": 2}');
    const p = await reloaded;
    expect(p.config.network?.data).toEqual({ a: 2 });
    expect(p.digest).not.toBe(first.digest);
  });
});
