// Safe reload (threat model class 8): a policy written in place passes through valid prefixes (a file cut before its
// `custom` ticket rule is a weaker, valid policy). The watcher loads a change only once the files stayed the same
// over the settle interval, so no prefix ever becomes active; atomic renames are picked up; operator reloads refuse
// a policy whose files changed while they were read.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { open, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadPolicy, PolicyManager, type LoadedPolicy } from "../../sidecar/policy/index.ts";
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

const SETTLE = 300;
/** Longer than the 150 ms debounce the watcher used to have, shorter than the settle interval. */
const PAUSE = 160;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A policy that denies disbursements without a ticket; `version` changes the bytes (and an allowed action). */
function policy(version: string, filler = 0): string {
  const lines = [`actions:`, `  allow: ["treasury.disburse", "report.${version}"]`];
  for (let i = 0; i < filler; i++) lines.push(`# filler line ${i} to make the write take several chunks`);
  lines.push(
    `custom:`,
    `  - id: no-disbursement-without-ticket`,
    `    when: 'intent.action == "treasury.disburse"'`,
    `    deny: '!has(intent.params.ticket) || intent.params.ticket == ""'`,
    `    reason: "disbursements need a ticket reference"`,
  );
  return lines.join("\n") + "\n";
}

const noTicket = intent({ action: "treasury.disburse", params: { amount_usd: "900000" } });

/** Writes `text` into `file` in place (truncate, then line by line with pauses), as an editor or `cat >` would. */
async function writeInChunks(file: string, text: string, pauseMs: number): Promise<void> {
  const h = await open(file, "w");
  try {
    for (const line of text.split(/(?<=\n)/)) {
      await h.write(line);
      await sleep(pauseMs);
    }
  } finally {
    await h.close();
  }
}

function next(mgr: PolicyManager): Promise<LoadedPolicy> {
  return new Promise((resolve) => mgr.once("reloaded", resolve));
}

describe("safe reload", () => {
  it("a policy written in chunks (pauses shorter than the settle interval) never activates a prefix", async () => {
    const f = await t.write("policy.yaml", policy("a"));
    m = new PolicyManager(f, { settleMs: SETTLE });
    const first = await m.start();
    const final = policy("b", 3);
    // the danger is real: the prefix before `custom:` is a valid policy that approves a disbursement without ticket
    const prefix = await loadPolicy(await t.write("prefix.yaml", final.slice(0, final.indexOf("custom:"))));
    expect((await decide(prefix, noTicket)).effect).toBe("allow");

    const reloads: LoadedPolicy[] = [];
    m.on("reloaded", (p) => reloads.push(p));
    const failures: unknown[] = [];
    m.on("reload_failed", (e) => failures.push(e));
    let writing = true;
    const seen = new Set<string>();
    const poll = (async () => {
      while (writing) {
        const p = m!.current()!;
        seen.add(p.digest);
        expect((await decide(p, noTicket)).effect).toBe("deny");
        await sleep(5);
      }
    })();
    const started = Date.now();
    await writeInChunks(f, final, PAUSE);
    expect(Date.now() - started).toBeGreaterThan(3 * SETTLE); // the write spans several settle intervals
    writing = false;
    await poll;
    expect([...seen]).toEqual([first.digest]); // nothing was loaded while the write went on
    expect(failures).toEqual([]); // nor was a partial file even tried

    const done = reloads.length > 0 ? reloads[0]! : await next(m);
    expect(reloads.length).toBeLessThanOrEqual(1);
    expect(done.config.custom.map((r) => r.id)).toEqual(["no-disbursement-without-ticket"]);
    expect(m.current()!.digest).not.toBe(first.digest);
    expect((await decide(m.current()!, noTicket)).effect).toBe("deny");
    expect((await decide(m.current()!, intent({ action: "report.b", params: {} }))).effect).toBe("allow");
  });

  it("a file that keeps changing is not loaded until it settles, then the last version is", async () => {
    const f = await t.write("policy.yaml", policy("a"));
    m = new PolicyManager(f, { settleMs: SETTLE });
    const first = await m.start();
    const reloads: LoadedPolicy[] = [];
    m.on("reloaded", (p) => reloads.push(p));
    const until = Date.now() + 4 * SETTLE;
    let i = 0;
    while (Date.now() < until) {
      await writeFile(f, policy(`v${i++}`)); // each write complete and valid, but the file never rests
      await sleep(PAUSE);
      expect(m.current()!.digest).toBe(first.digest);
    }
    expect(reloads).toEqual([]);
    const p = reloads[0] ?? (await next(m));
    expect((await decide(p, intent({ action: `report.v${i - 1}`, params: {} }))).effect).toBe("allow");
    await sleep(2 * SETTLE);
    expect(reloads).toHaveLength(1);
  });

  it("an atomic rename is picked up after the settle interval", async () => {
    const f = await t.write("policy.yaml", policy("a"));
    m = new PolicyManager(f, { settleMs: SETTLE });
    await m.start();
    const reloaded = next(m);
    const tmp = path.join(t.dir, ".policy.yaml.tmp");
    await writeFile(tmp, policy("renamed", 50));
    const at = Date.now();
    await rename(tmp, f);
    const p = await reloaded;
    expect(Date.now() - at).toBeGreaterThanOrEqual(SETTLE - 20);
    expect((await decide(p, intent({ action: "report.renamed", params: {} }))).effect).toBe("allow");
  });

  it("waits for referenced files too (a Rego data file written in chunks)", async () => {
    await t.write("net/rules.rego", "package nemoclaw.network\ndefault allow := false\n");
    await t.write("net/data.json", '{"a": 1}');
    const f = await t.write("policy.yaml", 'network:\n  modules: ["net/*.rego"]\n  data: ["net/data.json"]\n');
    m = new PolicyManager(f, { settleMs: SETTLE });
    await m.start();
    const reloads: LoadedPolicy[] = [];
    const failures: unknown[] = [];
    m.on("reloaded", (p) => reloads.push(p));
    m.on("reload_failed", (e) => failures.push(e));
    await writeInChunks(path.join(t.dir, "net/data.json"), '{"a":\n 2,\n "b":\n 3\n}\n', PAUSE);
    expect(reloads).toEqual([]);
    expect(failures).toEqual([]); // the half-written JSON was never loaded
    const p = reloads[0] ?? (await next(m));
    expect(p.config.network?.data).toEqual({ a: 2, b: 3 });
  });

  it("an operator reload is immediate but refuses a policy whose file changed while it was read", async () => {
    const f = await t.write("policy.yaml", policy("a"));
    let sabotage = false;
    m = new PolicyManager(f, {
      watch: false,
      load: async (file) => {
        const p = await loadPolicy(file);
        if (sabotage) await writeFile(file, policy("c")); // a writer gets in between the reads
        return p;
      },
    });
    const first = await m.start();
    await writeFile(f, policy("b"));
    sabotage = true;
    const r = await m.reload();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toMatch(/changed while it was being read.*atomically/s);
    expect(m.current()).toBe(first);
    sabotage = false;
    const ok = await m.reload(); // no settle interval for the operator
    expect(ok.ok).toBe(true);
    expect((await decide(m.current()!, intent({ action: "report.c", params: {} }))).effect).toBe("allow");
    expect(m.lastError).toBeUndefined();
  });
});
