// Budget alerts survive a crash: SIGKILL the real daemon process while its threshold alerts wait in the outbox (the
// receiver refused them), restart on the same data dir: each threshold arrives exactly once, nothing is lost, and
// spend after the restart neither re-alerts a threshold nor forgets the window's total.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { http, removeDir, tempDir } from "./helpers.ts";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";

const ENV = { INTENT_SIDECAR_AGENT_TOKENS: "bot=crash-agent-token", INTENT_SIDECAR_OPERATOR_TOKENS: "op=crash-op-token" };
const children: RunningDaemon[] = [];
const dirs: string[] = [];
let receiver: Server | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop("SIGKILL");
  for (const d of dirs.splice(0)) removeDir(d);
  receiver?.closeAllConnections();
  receiver?.close();
});

async function until(cond: () => boolean, ms = 60_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("budget alerts across a crash", { timeout: 240_000 }, () => {
  it("SIGKILL with alerts queued: after the restart each threshold arrives once", async () => {
    let accepting = false;
    const deliveries: { id: string; threshold: number; total: string }[] = [];
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (!accepting) return void res.writeHead(503).end();
        const e = JSON.parse(body);
        if (e.type === "budget.threshold") deliveries.push({ id: e.id, threshold: e.data.threshold, total: e.data.total });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const dir = tempDir("isc-cost-crash-");
    dirs.push(dir);
    const policy = join(dir, "policy.yaml");
    // a 1000-day fixed window: the test cannot straddle two windows
    writeFileSync(
      policy,
      `actions:
  allow: ["llm.*"]
budgets:
  - id: bot-budget
    scope: agent
    per: 1000d
    limit: "10 USD"
    alert_at: [0.25, 0.5, 0.75]
    on_exceed: deny
notify:
  webhooks: ["${hook}"]
`,
    );
    const args = ["--data-dir", join(dir, "data"), "--policy", policy];
    const spend = (base: string, amount: string) =>
      http(`${base}/v1/intents`, { token: "crash-agent-token", body: { action: "llm.run", params: {}, cost: { amount, currency: "USD" } } });

    const a = await spawnDaemon(args, ENV, { readyTimeoutMs: 90_000, dev: false });
    children.push(a);
    expect((await spend(a.url, "3")).body.decision).toBe("APPROVED"); // 3: 0.25
    expect((await spend(a.url, "2.5")).body.decision).toBe("APPROVED"); // 5.5: 0.5
    await a.stop("SIGKILL");

    accepting = true;
    const b = await spawnDaemon(args, ENV, { readyTimeoutMs: 90_000, dev: false });
    children.push(b);
    expect((await spend(b.url, "1")).body.decision).toBe("APPROVED"); // 6.5: nothing new
    expect((await spend(b.url, "1")).body.decision).toBe("APPROVED"); // 7.5: 0.75
    const over = await spend(b.url, "2.51"); // 10.01 > 10: denied, the window total survived the crash
    expect(over.body.decision).toBe("DENIED");
    expect(over.body.reasons.at(-1).message).toContain("agent bot has spent 7.5 USD of its 10 USD budget bot-budget");

    await until(() => deliveries.length >= 3);
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would arrive within the next delivery passes
    expect(deliveries.map((x) => x.threshold).sort()).toEqual([0.25, 0.5, 0.75]);
    expect(new Set(deliveries.map((x) => x.id)).size).toBe(3);
    expect(deliveries.find((x) => x.threshold === 0.5)!.total).toBe("5.5");

    const usage = await http(`${b.operatorUrl}/v1/usage?scope=agent`, { token: "crash-op-token" });
    expect(usage.body.costs.totals).toEqual([{ scope: "agent", key: "bot", currency: "USD", total: "7.5" }]);
    expect(usage.body.budgets[0].streams[0]).toMatchObject({ key: "bot", total: "7.5", alerted: [0.25, 0.5, 0.75] });
  });
});
