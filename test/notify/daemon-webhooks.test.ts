// Webhooks through the daemon: DENIED, PENDING and hold outcomes arrive signed from the durable outbox, while a
// webhook that never answers does not hold up any decision.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { startTestDaemon, http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { verifyWebhook, SIGNATURE_HEADER } from "../../sidecar/notify/signature.ts";

const received: { type: string; body: string; signature: string }[] = [];
const servers: Server[] = [];
let hung = 0;
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dir: string;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`;
}

beforeAll(async () => {
  const good = await serve((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ type: String(req.headers["x-intent-sidecar-event"]), body, signature: String(req.headers[SIGNATURE_HEADER]) });
      res.writeHead(200).end("ok");
    });
  });
  const hanging = await serve(() => void hung++); // accepts and never answers
  dir = tempDir();
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(
    policyFile,
    `version: 1
actions:
  allow: ["treasury.disburse"]
custom:
  - id: big
    when: 'intent.action == "treasury.disburse"'
    hold: 'double(intent.params.amount_usd) > 1000.0'
    reason: "review"
  - id: no-ticket
    when: 'intent.action == "treasury.disburse"'
    deny: '!has(intent.params.ticket)'
    reason: "needs a ticket"
notify:
  webhooks: ["${hanging}", "${good}"]
`,
  );
  d = await startTestDaemon({ dataDir: join(dir, "data"), config: { policyFile, operatorTokens: { alice: "alice-hook-token" } } });
});

afterAll(async () => {
  await d?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  removeDir(dir);
});

async function until(cond: () => boolean) {
  while (!cond()) await new Promise((r) => setTimeout(r, 25));
}

describe("webhooks through the daemon", () => {
  it("sends DENIED, PENDING and hold outcomes, signed; a hanging webhook delays nothing", async () => {
    const post = (params: Record<string, unknown>) =>
      http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "treasury.disburse", params, context: {} } });
    const denied = await post({ amount_usd: 5 });
    expect(denied.body.decision).toBe("DENIED");
    const held = await post({ amount_usd: 5000, ticket: "T-1" });
    expect(held.body.decision).toBe("PENDING");
    // decisions came back although the hanging webhook has not answered a single delivery
    await until(() => hung >= 1);
    const ok = await http(`http://${d.operatorAddr}/v1/holds/${held.body.hold.id}/approve`, { body: {}, token: "alice-hook-token" });
    expect(ok.body.state).toBe("approved");

    await until(() => received.length >= 3);
    const secret = readFileSync(join(d.dataDir, "webhook-secret"), "utf8").trim();
    for (const r of received) expect(verifyWebhook(secret, r.signature, r.body)).toBe(true);
    const byType = Object.fromEntries(received.map((r) => [r.type, JSON.parse(r.body)]));
    expect(byType["intent.denied"].data).toMatchObject({ intent_id: denied.body.intent_id, reasons: [{ rule: "no-ticket" }] });
    expect(byType["hold.pending"].data).toMatchObject({ id: held.body.hold.id, state: "pending" });
    expect(byType["hold.approved"].data).toMatchObject({ id: held.body.hold.id, state: "approved", approvals: [{ operator: "alice" }] });
    expect(d.holdsSystem.outbox.stats().pending).toBeGreaterThanOrEqual(1); // the hanging receiver's rows wait for retry
  });
});
