import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Outbox } from "../../sidecar/notify/outbox.ts";
import { verifyWebhook, SIGNATURE_HEADER } from "../../sidecar/notify/signature.ts";
import { loadWebhookSecret } from "../../sidecar/notify/secret.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "outbox-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A webhook receiver that fails the first `failFirst` requests with 500. */
async function receiver(failFirst = 0) {
  const got: { body: string; signature: string | undefined; type: string | undefined }[] = [];
  let seen = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen++;
      if (seen <= failFirst) return void res.writeHead(500).end();
      got.push({ body, signature: req.headers[SIGNATURE_HEADER] as string, type: req.headers["x-intent-sidecar-event"] as string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, attempts: () => seen };
}

async function until(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("webhook outbox", () => {
  it("delivers signed events that the receiver can verify, retrying failures with backoff", async () => {
    const rx = await receiver(2);
    const db = new Database(join(tempDir(), "state.db"));
    const outbox = new Outbox({ db, webhooks: () => [rx.url], defaultSecret: "s3cret", baseDelayMs: 10 });
    outbox.enqueue({ type: "hold.pending", data: { hold_id: "h1" } });
    const stop = outbox.start(20);
    cleanup.push(stop);
    await until(() => rx.got.length === 1);
    expect(rx.attempts()).toBe(3);
    const { body, signature, type } = rx.got[0]!;
    expect(type).toBe("hold.pending");
    expect(JSON.parse(body)).toMatchObject({ type: "hold.pending", data: { hold_id: "h1" } });
    expect(verifyWebhook("s3cret", signature, body)).toBe(true);
    expect(verifyWebhook("wrong", signature, body)).toBe(false);
    expect(verifyWebhook("s3cret", signature, body.replace("h1", "h2"))).toBe(false);
    await until(() => outbox.stats().delivered === 1); // the receiver has answered; the outbox records it next
    expect(outbox.stats()).toEqual({ pending: 0, delivered: 1, dead: 0 });
    expect(rx.attempts()).toBe(3); // delivered once: no retry after the success
  });

  it("a dead webhook neither blocks enqueueing nor other receivers, and gives up after max attempts", async () => {
    const ok = await receiver();
    const db = new Database(join(tempDir(), "state.db"));
    const outbox = new Outbox({
      db,
      webhooks: () => ["http://127.0.0.1:1/nothing-listens", { url: ok.url, secret: "per-hook" }],
      defaultSecret: "x",
      baseDelayMs: 5,
      maxAttempts: 3,
    });
    // enqueueing is a synchronous local insert: nothing has touched the network yet
    for (let i = 0; i < 50; i++) expect(outbox.enqueue({ type: "intent.denied", data: { i } })).toBe(2);
    expect(outbox.stats()).toEqual({ pending: 100, delivered: 0, dead: 0 });
    expect(ok.attempts()).toBe(0);
    const stop = outbox.start(10);
    cleanup.push(stop);
    await until(() => ok.got.length === 50 && outbox.stats().dead === 50);
    expect(verifyWebhook("per-hook", ok.got[0]!.signature, ok.got[0]!.body)).toBe(true);
  });

  it("undelivered events survive a restart and are delivered by the next process", async () => {
    const dir = tempDir();
    const file = join(dir, "state.db");
    const first = new Database(file);
    const rx = await receiver();
    new Outbox({ db: first, webhooks: () => [rx.url], defaultSecret: "k" }).enqueue({ type: "hold.expired", data: { n: 1 } });
    first.close(); // "crash" before any delivery
    expect(rx.got).toHaveLength(0);
    let clock = Date.now();
    const second = new Outbox({ db: new Database(file), webhooks: () => [rx.url], defaultSecret: "k", now: () => clock });
    await second.deliverDue();
    expect(rx.got.map((g) => JSON.parse(g.body).data)).toEqual([{ n: 1 }]);
    // delivered rows are kept a week for inspection, then purged
    expect(second.purge()).toBe(0);
    clock += 8 * 86_400_000;
    expect(second.purge()).toBe(1);
    expect(second.stats()).toEqual({ pending: 0, delivered: 0, dead: 0 });
  });

  it("keeps a generated default secret in the data dir with mode 0600", () => {
    const dir = tempDir();
    const s1 = loadWebhookSecret(dir, {});
    expect(loadWebhookSecret(dir, {})).toBe(s1);
    expect(statSync(join(dir, "webhook-secret")).mode & 0o777).toBe(0o600);
    expect(loadWebhookSecret(dir, { INTENT_SIDECAR_WEBHOOK_SECRET: "env" })).toBe("env");
  });
});
