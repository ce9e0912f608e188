// Splunk HEC export through the real daemon to an HEC stand-in on loopback: batched POSTs with the token header and
// the HEC envelope, retried after failures, and nothing lost when the daemon is killed (SIGKILL) while the collector
// is down: the events wait in the durable outbox and go out after the restart.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { validateOcsf } from "../../sidecar/exports/validate.ts";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { spawnDaemon } from "../cli/daemon-process.ts";
import { nativeTransfer, VENDOR_A } from "../sidecar/intents.ts";
import { freePort, hecEvents, piiPolicy, startExportDaemon, startReceiver, waitFor, type Receiver } from "./helpers.ts";

vi.setConfig({ testTimeout: 120_000 });

const TOKEN = "0b3c5e0e-hec-token-for-tests";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(): { dir: string; tokenFile: string } {
  const dir = tempDir("isc-exports-hec-");
  const tokenFile = join(dir, "hec-token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  cleanups.push(() => removeDir(dir));
  return { dir, tokenFile };
}

async function receiver(opts: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const r = await startReceiver(opts);
  cleanups.push(() => r.close());
  return r;
}

const decisionsOf = (r: Receiver) => hecEvents(r).filter((e) => e.event.metadata.event_code === "intent.decision");

describe("Splunk HEC export", () => {
  it("POSTs batches of HEC envelopes with the token header; every event is valid OCSF", async () => {
    const { dir, tokenFile } = setup();
    const hec = await receiver();
    const d = await startExportDaemon(
      { splunk_hec: { url: hec.url, token_file: tokenFile, batch: 4, flush_ms: 150 } },
      { base: dir, policy: piiPolicy() },
    );
    cleanups.push(() => d.close());
    const ids = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => (await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: `ok.step${i}`, params: {} } })).body.intent_id as string),
    );
    await waitFor(() => decisionsOf(hec).length >= 10, 15_000, "10 decisions at the HEC receiver");
    expect(new Set(decisionsOf(hec).map((e) => e.event.api.request.uid))).toEqual(new Set(ids));
    for (const q of hec.requests) {
      expect(q.path).toBe("/services/collector/event");
      expect(q.headers.authorization).toBe(`Splunk ${TOKEN}`);
      expect(q.headers["content-type"]).toBe("application/json");
      expect(q.body.toString().split("\n").length).toBeLessThanOrEqual(4);
    }
    expect(hec.requests.some((q) => q.body.toString().split("\n").length > 1)).toBe(true); // batched, not one by one
    for (const e of hecEvents(hec)) {
      expect(e.sourcetype).toBe("ocsf");
      expect(e.time).toBeCloseTo(e.event.time / 1000, 3); // HEC time is in seconds
      expect(validateOcsf(e.event).errors).toEqual([]);
    }
  });

  it("retries from the outbox after the collector fails, and counts the failures", async () => {
    const { dir, tokenFile } = setup();
    const hec = await receiver({ failFirst: 2 });
    const d = await startExportDaemon(
      { splunk_hec: { url: hec.url, token_file: tokenFile, batch: 50, flush_ms: 20, retry_initial_ms: 50, retry_max_ms: 200 } },
      { base: dir, policy: piiPolicy() },
    );
    cleanups.push(() => d.close());
    for (let i = 0; i < 5; i++) expect((await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "ok.x", params: {} } })).body.decision).toBe("APPROVED");
    await waitFor(() => decisionsOf(hec).length >= 5, 15_000, "5 decisions after the retries");
    const metrics = (await http(`${d.url}/metrics`)).body as string;
    const failures = Number(/intent_sidecar_export_failures_total\{sink="splunk_hec"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/intent_sidecar_export_events_total\{sink="splunk_hec",result="delivered"\} [1-9]/);
    await waitFor(() => (d.db.prepare("SELECT COUNT(*) AS n FROM export_outbox").get() as { n: number }).n === 0, 5000, "an empty outbox");
  });

  it("a daemon killed while the collector is down loses nothing: the events go out after the restart", async () => {
    const { dir, tokenFile } = setup();
    const port = await freePort(); // nothing listens here yet
    const config = join(dir, "sidecar.yaml");
    writeFileSync(
      config,
      [
        "exports:",
        "  splunk_hec:",
        `    url: http://127.0.0.1:${port}`,
        `    token_file: ${tokenFile}`,
        "    batch: 3",
        "    flush_ms: 50",
        "    retry_initial_ms: 100",
        "    retry_max_ms: 300",
        "",
      ].join("\n"),
    );
    const args = ["--config", config, "--data-dir", join(dir, "data")];
    const first = await spawnDaemon(args, {}, { readyTimeoutMs: 110_000 });
    cleanups.push(async () => void (await first.stop("SIGKILL")));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await http(`${first.url}/v1/intents`, { body: nativeTransfer(VENDOR_A, "0.01") });
      expect(r.body.decision).toBe("APPROVED");
      ids.push(r.body.intent_id);
    }
    const denied = await http(`${first.url}/v1/intents`, { body: nativeTransfer(VENDOR_A, "0.2") });
    ids.push(denied.body.intent_id);
    await new Promise((r) => setTimeout(r, 300)); // a delivery attempt or two fail meanwhile
    await first.stop("SIGKILL");

    const hec = await receiver({ port });
    const second = await spawnDaemon(args, {}, { readyTimeoutMs: 110_000 });
    cleanups.push(async () => void (await second.stop()));
    await waitFor(() => decisionsOf(hec).length >= 5, 20_000, "the 5 decisions made before the kill");
    expect(new Set(decisionsOf(hec).map((e) => e.event.api.request.uid))).toEqual(new Set(ids));
    expect(hec.requests.every((q) => q.headers.authorization === `Splunk ${TOKEN}`)).toBe(true);
  });
});

describe("a collector that never answers", () => {
  it("holds neither decisions nor the daemon's stop", async () => {
    const { createServer } = await import("node:http");
    const hung = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => (hung.close(() => r()), hung.closeAllConnections())));
    const { dir, tokenFile } = setup();
    const d = await startExportDaemon(
      { splunk_hec: { url: `http://127.0.0.1:${(hung.address() as { port: number }).port}`, token_file: tokenFile, flush_ms: 10, timeout_ms: 30_000 } },
      { base: dir, policy: piiPolicy() },
    );
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) expect((await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "ok.x", params: {} } })).body.decision).toBe("APPROVED");
    expect(Date.now() - t0).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 100)); // the POST is in flight
    const t1 = Date.now();
    await d.close();
    expect(Date.now() - t1).toBeLessThan(5000);
  });
});

describe("exports config errors", () => {
  it("refuses a missing token file and plain http to another host, saying what to fix", async () => {
    const { loadConfig } = await import("../../sidecar/config.ts");
    const { dir } = setup();
    const cfg = join(dir, "c.yaml");
    writeFileSync(cfg, "exports:\n  splunk_hec: {url: http://splunk.example.com:8088, token_file: t}\n");
    expect(() => loadConfig({ config: cfg }, {})).toThrow(/exports\.splunk_hec\.url: .*use https:\/\//);
    writeFileSync(cfg, "exports:\n  splunk_hec: {url: https://splunk.example.com:8088}\n");
    expect(() => loadConfig({ config: cfg }, {})).toThrow(/exports\.splunk_hec\.token_file/);
    writeFileSync(cfg, "exports:\n  ocsf_jsonl: {path: x.jsonl, max_bytes: 10 parsecs}\n");
    expect(() => loadConfig({ config: cfg }, {})).toThrow(/exports\.ocsf_jsonl/);
    writeFileSync(cfg, "exports:\n  otlp: {endpoint: 'grpc://collector:4317'}\n");
    expect(() => loadConfig({ config: cfg }, {})).toThrow(/exports\.otlp\.endpoint: must be an http/);
    writeFileSync(cfg, "exports:\n  splunk: {}\n");
    expect(() => loadConfig({ config: cfg }, {})).toThrow(/exports: unknown key\(s\) splunk/);
    // the token file is read at start: a missing one stops the daemon with the path, never a token
    const hecDir = setup().dir;
    await expect(
      startExportDaemon({ splunk_hec: { url: "http://127.0.0.1:9", token_file: "missing-token" } }, { base: hecDir, policy: piiPolicy() }),
    ).rejects.toThrow(/exports\.splunk_hec\.token_file: cannot read .*missing-token/);
  });
});
