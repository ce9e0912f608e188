// The JSONL sink's rotation by size (keep N, 0600, no gap and no reordering across files) and a sink that cannot
// write: decisions are unchanged, the failures are counted, and the events wait in the outbox.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { validateOcsf } from "../../sidecar/exports/validate.ts";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { piiPolicy, readJsonl, startExportDaemon, waitFor } from "./helpers.ts";

vi.setConfig({ testTimeout: 60_000 });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("JSONL rotation", () => {
  it("rotates by size, keeps N files of 0600, and the kept files hold the latest events in order", async () => {
    const dir = tempDir("isc-exports-rot-");
    cleanups.push(() => removeDir(dir));
    const file = join(dir, "ocsf.jsonl");
    const d = await startExportDaemon({ ocsf_jsonl: { path: file, max_bytes: 4096, keep: 2, batch: 2, flush_ms: 10 } }, { base: dir, policy: piiPolicy() });
    cleanups.push(() => d.close());
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: `ok.n${i}`, params: {} } })).body.intent_id);
    await waitFor(() => readJsonl(file).some((e) => e.api.request.uid === ids.at(-1)), 15_000, "the last event in the current file");

    const files = [`${file}.2`, `${file}.1`, file];
    for (const f of files) {
      expect(existsSync(f), f).toBe(true);
      expect(statSync(f).size).toBeLessThanOrEqual(4096);
      expect(statSync(f).mode & 0o777).toBe(0o600);
    }
    expect(existsSync(`${file}.3`)).toBe(false);
    const kept = files.flatMap((f) => readJsonl(f));
    for (const e of kept) expect(validateOcsf(e).errors).toEqual([]);
    const keptIds = kept.map((e) => e.api.request.uid as string);
    expect(keptIds.length).toBeGreaterThan(4);
    expect(keptIds.length).toBeLessThan(ids.length); // older files were dropped
    expect(keptIds).toEqual(ids.slice(ids.length - keptIds.length)); // a gapless, ordered suffix
  });

  it("a sink that cannot write changes no decision: failures are counted and the events stay queued", async () => {
    const dir = tempDir("isc-exports-bad-");
    cleanups.push(() => removeDir(dir));
    const target = join(dir, "a-directory");
    mkdirSync(target);
    const d = await startExportDaemon({ ocsf_jsonl: { path: target, flush_ms: 10, retry_initial_ms: 20, retry_max_ms: 50 } }, { base: dir, policy: piiPolicy() });
    cleanups.push(() => d.close());
    for (let i = 0; i < 3; i++) expect((await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "ok.x", params: {} } })).body.decision).toBe("APPROVED");
    expect((await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "nope", params: {} } })).body.decision).toBe("DENIED");
    const metrics = await waitFor(async () => {
      const m = (await http(`${d.url}/metrics`)).body as string;
      return Number(/intent_sidecar_export_failures_total\{sink="ocsf_jsonl"\} (\d+)/.exec(m)?.[1] ?? 0) >= 2 && m;
    }, 10_000, "counted sink failures");
    expect(metrics).not.toMatch(/result="delivered"/);
    expect(metrics).toMatch(/intent_sidecar_export_outbox\{sink="ocsf_jsonl",state="pending"\} 4/);
    const n = (d.db.prepare("SELECT COUNT(*) AS n FROM export_outbox WHERE sink = 'ocsf_jsonl' AND state = 'pending'").get() as { n: number }).n;
    expect(n).toBe(4);
  });
});
