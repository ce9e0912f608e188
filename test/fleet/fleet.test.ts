// Fleet mode (issue 17): four real sidecar processes on one real PostgreSQL (a throwaway cluster, test/fleet/postgres.ts)
// share one tenant cap, one set of holds (quorum across hosts), single-use redemptions and a fleet JWKS; a stopped
// database yields only DENIED/503 and service resumes when it returns; SIGKILL loses no answered decision.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import pg from "pg";
import { createServer, type Server } from "node:http";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";
import { pgSkipReason, startPostgres, type PgCluster } from "./postgres.ts";

const skip = pgSkipReason();
if (skip) console.warn(`[fleet] skipped: ${skip}`);

const CAP_USD = 10_000;
const POLICY = `
actions:
  allow: ["pay", "wire.send", "ping"]
rate_limits:
  - id: ping-burst
    actions: ["ping"]
    scope: tenant
    max: 5
    per: 1m
custom:
  - id: big-wire
    hold: 'intent.action == "wire.send"'
    reason: wires need two operators
soft_limits:
  - id: tenant-usd
    actions: ["pay"]
    measure: 'double(intent.params.usd)'
    scope: tenant
    window: 1h
    max: ${CAP_USD}
holds:
  approvals_required: 2
  max_open_per_agent: 1000
notify:
  webhooks:
    - url: WEBHOOK_URL
      events: [hold_resolved]
`;
const AGENTS = Array.from({ length: 8 }, (_, i) => `bot${i}`);
const agentTokens = Object.fromEntries(AGENTS.map((a) => [a, `tok-${a}-0123456789`]));
const principals = Object.fromEntries(AGENTS.map((a) => [a, { tenant: "acme" }]));
const OPS = { alice: "op-alice-0123456789", bob: "op-bob-0123456789" };
const EXEC = "exec-0123456789abcdef";

type Answer = { status: number; body: Record<string, any> };

async function post(url: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, any> };
}

async function get(url: string, token: string): Promise<Answer> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, any> };
}

describe.skipIf(skip !== undefined)("fleet mode on PostgreSQL (4 sidecars, one store)", () => {
  let cluster: PgCluster;
  let dir: string;
  let configFile: string;
  const sidecars: RunningDaemon[] = [];
  let sql: pg.Pool;
  let hooks: Server;
  const received: { type: string; data: { id?: string; intent_id?: string } }[] = [];

  const start = (i: number) =>
    spawnDaemon(["--config", configFile, "--data-dir", join(dir, `node${i}`)], {}, { dev: false, readyTimeoutMs: 60_000 });

  beforeAll(async () => {
    cluster = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), "intent-sidecar-fleet-"));
    hooks = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        try {
          received.push(JSON.parse(body));
        } catch {
          /* not an event */
        }
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", () => r()));
    const hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/hook`;
    writeFileSync(join(dir, "policy.yaml"), POLICY.replace("WEBHOOK_URL", hookUrl));
    configFile = join(dir, "sidecar.yaml");
    writeFileSync(
      configFile,
      JSON.stringify({
        policy: "policy.yaml",
        store: cluster.url,
        agent_tokens: agentTokens,
        operator_tokens: OPS,
        executor_tokens: { exec: EXEC },
        principals,
      }),
    );
    // four sidecars starting at once: the migration lock lets exactly one create the schema
    sidecars.push(...(await Promise.all([0, 1, 2, 3].map(start))));
    sql = new pg.Pool({ connectionString: cluster.url, max: 2 });
    sql.on("error", () => undefined); // idle connections die when the test stops the server
  }, 180_000);

  afterAll(async () => {
    for (const [i, s] of sidecars.entries())
      if (s.child.exitCode !== null) console.warn(`[fleet] sidecar ${i} exited ${s.child.exitCode}: ${s.stderr().slice(-1500)}`);
    await Promise.all(sidecars.map((s) => s.stop()));
    await sql?.end();
    hooks?.close();
    cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Room under the caps for the next test: the entries and the streams' running totals. */
  const resetLedger = () => sql.query("DELETE FROM fleet_ledger; UPDATE fleet_ledger_heads SET cum = 0");

  const pay = (s: RunningDaemon, agent: string, usd: number) =>
    post(`${s.url}/v1/intents`, agentTokens[agent]!, { agent, action: "pay", params: { usd: String(usd) }, context: {} });

  it("4 × 200 concurrent intents at one tenant cap: the approved total never exceeds it, the rest is PENDING", async () => {
    const answers = await Promise.all(
      sidecars.flatMap((s, si) => Array.from({ length: 200 }, (_, k) => pay(s, AGENTS[(si * 2 + k) % AGENTS.length]!, 100))),
    );
    const approved = answers.filter((a) => a.body.decision === "APPROVED");
    const pending = answers.filter((a) => a.body.decision === "PENDING");
    expect(answers.every((a) => a.status === 200 || a.status === 202)).toBe(true);
    expect(approved.length * 100).toBeLessThanOrEqual(CAP_USD); // 0 overshoot
    expect(approved.length).toBe(CAP_USD / 100); // and the cap is used up, not left idle
    expect(pending.length).toBe(800 - approved.length);
    expect(pending.every((a) => a.body.reasons.some((r: { rule: string }) => r.rule === "tenant-usd"))).toBe(true);
    // the store agrees: reservations sum to the cap, every decision is recorded once
    const sum = await sql.query("SELECT sum(amount)::bigint AS s FROM fleet_ledger WHERE limit_id = 'tenant-usd'");
    expect(Number(sum.rows[0].s) / 1_000_000).toBe(CAP_USD);
    const ids = answers.map((a) => a.body.intent_id as string);
    const rows = await sql.query("SELECT count(*)::int AS n FROM fleet_intents WHERE id = ANY($1::text[])", [ids]);
    expect(rows.rows[0].n).toBe(800);
    // the cap is the tenant's, not the host's: sidecars held intents because of approvals made on others
    const nodes = await sql.query("SELECT count(DISTINCT node_id)::int AS n FROM fleet_intents WHERE decision = 'PENDING' AND id = ANY($1::text[])", [ids]);
    expect(nodes.rows[0].n).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it("8 concurrent redemptions of one attestation spread over the 4 sidecars: exactly one wins", async () => {
    // a wire is held; get an attestation through a hold approved on two other sidecars, then redeem it 8 times
    await resetLedger(); // room under the cap for the next tests
    const a = await post(`${sidecars[0]!.url}/v1/intents`, agentTokens.bot0!, { agent: "bot0", action: "pay", params: { usd: "1" }, context: {} });
    expect(a.body.decision).toBe("APPROVED");
    const redemptions = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post(`${sidecars[i % 4]!.url}/v1/attestations/${a.body.intent_id}/redeem`, EXEC, { attestation: a.body.attestation }),
      ),
    );
    expect(redemptions.map((r) => [r.status, r.body.error ?? r.body.code ?? "ok"])).toEqual(Array(8).fill([200, "ok"]));
    expect(redemptions.filter((r) => r.body.first === true)).toHaveLength(1);
    expect(new Set(redemptions.map((r) => r.body.redeemed_at)).size).toBe(1);
  }, 60_000);

  it("a tenant rate limit holds across the fleet: 40 concurrent pings over 4 sidecars, exactly 5 approved", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, k) => {
        const agent = AGENTS[k % AGENTS.length]!;
        return post(`${sidecars[k % 4]!.url}/v1/intents`, agentTokens[agent]!, { agent, action: "ping", params: { k }, context: {} });
      }),
    );
    expect(answers.filter((a) => a.body.decision === "APPROVED")).toHaveLength(5);
    const denied = answers.filter((a) => a.body.decision === "DENIED");
    expect(denied).toHaveLength(35);
    for (const d of denied) {
      expect(d.body.reasons).toHaveLength(1);
      expect(d.body.reasons[0].rule).toBe("ping-burst");
      expect(d.body.reasons[0].message).toMatch(/rate limit ping-burst: 5 per 1m for tenant acme; retry after .*Z \(in \d+ s\)/);
    }
  }, 60_000);

  it("a hold made on sidecar 1 is approved by two operators on sidecars 2 and 3; the long poll on sidecar 1 gets the attestation", async () => {
    const [s1, s2, s3, s4] = sidecars as [RunningDaemon, RunningDaemon, RunningDaemon, RunningDaemon];
    const held = await post(`${s1.url}/v1/intents`, agentTokens.bot1!, { agent: "bot1", action: "wire.send", params: { usd: "5" }, context: {} });
    expect(held.status).toBe(202);
    const holdId = held.body.hold.id as string;
    expect(held.body.hold.approvals_required).toBe(2);
    // every sidecar's operator API sees the hold
    const listed = await get(`${s4.operatorUrl}/v1/holds?state=pending`, OPS.alice);
    expect(listed.body.holds.map((h: { id: string }) => h.id)).toContain(holdId);
    const poll = get(`${s1.url}/v1/intents/${held.body.intent_id}?wait=30`, agentTokens.bot1!);
    const first = await post(`${s2.operatorUrl}/v1/holds/${holdId}/approve`, OPS.alice, { comment: "ok" });
    expect(first.body.state).toBe("pending");
    expect(first.body.approvals).toBe(1);
    // the same operator on another sidecar does not count twice
    const again = await post(`${s3.operatorUrl}/v1/holds/${holdId}/approve`, OPS.alice, {});
    expect(again.status).toBe(409);
    const second = await post(`${s3.operatorUrl}/v1/holds/${holdId}/approve`, OPS.bob, {});
    expect(second.body.state).toBe("approved");
    const answer = await poll;
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe("APPROVED");
    // signed by sidecar 1's key, verifiable with any sidecar's (fleet) JWKS
    const jwks = (await (await fetch(`${s4.url}/.well-known/jwks.json`)).json()) as { keys: object[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(4);
    const { payload } = await jwtVerify(answer.body.attestation, createLocalJWKSet(jwks as never), { algorithms: ["EdDSA", "Ed25519"] });
    expect(payload.jti).toBe(held.body.intent_id);
    expect((payload.approval as { approvers: string[] }).approvers.sort()).toEqual(["alice", "bob"]);
    // one hold.approved webhook, from the origin, whichever sidecars the operators used
    for (let i = 0; i < 40 && !received.some((e) => e.type === "hold.approved"); i++) await new Promise((r) => setTimeout(r, 250));
    await new Promise((r) => setTimeout(r, 1000)); // a second delivery would arrive by now
    expect(received.filter((e) => e.type === "hold.approved" && e.data.id === holdId)).toHaveLength(1);
  }, 60_000);

  it("PostgreSQL stopped mid-load: only DENIED or 503, never APPROVED; service resumes when it returns", async () => {
    await resetLedger();
    const answers: (Answer & { sent: number })[] = [];
    let stop = false;
    const load = Promise.all(
      sidecars.map(async (s, i) => {
        while (!stop) {
          const sent = Date.now();
          const a = await pay(s, AGENTS[i]!, 1).catch(() => ({ status: 0, body: {} }));
          answers.push({ ...a, sent });
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const before = answers.length;
    cluster.stop(); // returns once the server is down (pg_ctl -w); this process's event loop waits meanwhile
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const health = await fetch(`${sidecars[0]!.url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { store: { up: boolean } }).store.up).toBe(false);
    const restartAt = Date.now();
    cluster.start();
    // recovery without restart
    let resumed = false;
    for (let i = 0; i < 60 && !resumed; i++) {
      await new Promise((r) => setTimeout(r, 250));
      resumed = answers.slice(-8).some((a) => a.body.decision === "APPROVED");
    }
    stop = true;
    await load;
    if (!resumed) console.warn("[fleet] after restart:", JSON.stringify(answers.filter((a) => a.sent > restartAt).slice(-6).map((a) => [a.status, a.body.decision, a.body.reasons?.[0]?.message ?? a.body.message])));
    expect(before).toBeGreaterThan(0);
    // sent while the database was down: nothing approved, every answer DENIED or 503
    const afterStop = answers.filter((a) => a.sent > stoppedAt && a.sent < restartAt);
    expect(afterStop.length).toBeGreaterThan(0);
    expect(afterStop.filter((a) => a.body.decision === "APPROVED")).toHaveLength(0);
    expect(afterStop.every((a) => a.body.decision === "DENIED" || a.status === 503)).toBe(true);
    expect(resumed).toBe(true);
    expect((await fetch(`${sidecars[0]!.url}/healthz`)).status).toBe(200);
  }, 120_000);

  it("SIGKILL of a sidecar under load loses no decision it answered", async () => {
    await resetLedger();
    const victim = sidecars[3]!;
    const answered: Answer[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 16 }, async (_, k) => {
        while (!stop) {
          try {
            answered.push(await pay(victim, AGENTS[k % AGENTS.length]!, 1));
          } catch {
            return; // the process is gone
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 700));
    victim.child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    const decided = answered.filter((a) => a.body.intent_id);
    expect(decided.length).toBeGreaterThan(10);
    const rows = await sql.query<{ id: string; decision: string }>(
      "SELECT id, decision FROM fleet_intents WHERE id = ANY($1::text[])",
      [decided.map((a) => a.body.intent_id)],
    );
    const stored = new Map(rows.rows.map((r) => [r.id, r.decision]));
    for (const a of decided) expect(stored.get(a.body.intent_id)).toBe(a.body.decision);
    // and the node comes back on its data dir, continuing its audit chain
    sidecars[3] = await start(3);
    const again = await pay(sidecars[3], "bot3", 1);
    expect(again.body.decision).toBe("APPROVED");
  }, 120_000);
});
