// The pii block in fleet mode (a real throwaway PostgreSQL, test/fleet/postgres.ts): a redacted decision is stored
// without the raw value in the shared store, and an idempotent retry of the same declared intent replays it (the
// idempotency rows keep the declared intent's digest, not the redacted one the attestation binds).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import pg from "pg";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { pgSkipReason, startPostgres, type PgCluster } from "../fleet/postgres.ts";

const skip = pgSkipReason();
if (skip) console.warn(`[pii-fleet] skipped: ${skip}`);
const TOKEN = "pii-fleet-token-0123456789";

describe.skipIf(skip !== undefined)("pii in fleet mode", () => {
  let cluster: PgCluster;
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  let dir: string;
  beforeAll(async () => {
    cluster = await startPostgres();
    dir = tempDir("isc-pii-fleet-");
    const policyFile = join(dir, "policy.yaml");
    writeFileSync(policyFile, `tool_calls:\n  allow: ["mail.*"]\npii:\n  detectors: {email: redact}\n`);
    d = await startTestDaemon({ config: { policyFile, agentTokens: { bot: TOKEN }, databaseUrl: cluster.url } });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    cluster?.destroy();
    if (dir) removeDir(dir);
  });

  it("stores the redacted form and replays an idempotent retry", async () => {
    const body = { action: "tool.call", params: { tool: "mail.send", args: { to: "alice@example.com" } }, idempotency_key: "k1" };
    const a = await http(`${d.url}/v1/intents`, { token: TOKEN, body });
    expect(a.body.decision).toBe("APPROVED");
    expect(a.body.redacted).toEqual({ params: { tool: "mail.send", args: { to: "[REDACTED:email]" } } });
    const b = await http(`${d.url}/v1/intents`, { token: TOKEN, body });
    expect(b.status).toBe(200);
    expect(b.body.intent_id).toBe(a.body.intent_id);
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    try {
      const rows = await c.query("SELECT * FROM fleet_intents");
      expect(rows.rows.length).toBeGreaterThan(0);
      expect(JSON.stringify(rows.rows)).not.toContain("alice@example.com");
    } finally {
      await c.end();
    }
  });
});
