// Fleet mode under attack: a misbehaving agent, operator or database against three real sidecar processes on one
// real PostgreSQL (test/fleet/postgres.ts). Each test tries to obtain a wrong APPROVED or a lost / duplicated effect
// and shows that it is refused (or, when marked skip, names the hole that remains).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SignJWT, generateKeyPair } from "jose";
import pg from "pg";
import { runCli, spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";
import { pgSkipReason, startPostgres, type PgCluster } from "./postgres.ts";

const skip = pgSkipReason();
if (skip) console.warn(`[fleet attack] skipped: ${skip}`);

const CAP_USD = 1_000;
const POLICY = `
actions:
  allow: ["pay", "wire.send", "ping", "tick"]
rate_limits:
  - id: ping-burst
    actions: ["ping"]
    scope: tenant
    max: 3
    per: 1m
  - id: tick-tiny
    actions: ["tick"]
    scope: tenant
    max: 2
    per: 1s
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
  max_open_per_agent: 20
`;
const AGENTS = ["bot0", "bot1", "bot2", "bot3"];
const agentTokens = Object.fromEntries([...AGENTS, "hog"].map((a) => [a, `tok-${a}-0123456789`]));
const OPS = { alice: "op-alice-0123456789", bob: "op-bob-0123456789", carol: "op-carol-0123456789" };
const EXEC = "exec-0123456789abcdef";

type Answer = { status: number; body: Record<string, any> };

async function post(url: string, token: string, body: unknown): Promise<Answer> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, any> };
}

async function get(url: string, token: string): Promise<Answer> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, any> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined)("fleet mode under attack (3 sidecars, one PostgreSQL)", () => {
  let cluster: PgCluster;
  let dir: string;
  let configFile: string;
  const sidecars: RunningDaemon[] = [];
  let sql: pg.Pool;

  const start = (i: number) =>
    spawnDaemon(["--config", configFile, "--data-dir", join(dir, `node${i}`)], {}, { dev: false, readyTimeoutMs: 60_000 });

  beforeAll(async () => {
    cluster = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), "intent-sidecar-fleet-attack-"));
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    configFile = join(dir, "sidecar.yaml");
    writeFileSync(
      configFile,
      JSON.stringify({
        policy: "policy.yaml",
        store: cluster.url,
        agent_tokens: agentTokens,
        operator_tokens: OPS,
        executor_tokens: { exec: EXEC },
        principals: Object.fromEntries([...AGENTS, "hog"].map((a) => [a, { tenant: "acme" }])),
      }),
    );
    sidecars.push(...(await Promise.all([0, 1, 2].map(start))));
    sql = new pg.Pool({ connectionString: cluster.url, max: 3 });
    sql.on("error", () => undefined);
  }, 180_000);

  afterAll(async () => {
    for (const [i, s] of sidecars.entries())
      if (s.child.exitCode !== null) console.warn(`[fleet attack] sidecar ${i} exited ${s.child.exitCode}: ${s.stderr().slice(-1500)}`);
    await Promise.all(sidecars.map((s) => s.stop()));
    await sql?.end();
    cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Room under the caps for the next test: ledger totals back to 0, earlier tests' open holds due (the sweeper
   * expires them; the hold cap counts only holds not yet due). */
  const resetLedger = () =>
    sql.query(
      "DELETE FROM fleet_ledger; UPDATE fleet_ledger_heads SET cum = 0; UPDATE fleet_holds SET expires_at = (extract(epoch FROM now()) * 1000)::bigint - 1 WHERE state = 'pending'",
    );
  const intent = (agent: string, action: string, params: Record<string, unknown>, key?: string) => ({
    agent,
    action,
    params,
    context: {},
    ...(key ? { idempotency_key: key } : {}),
  });
  const decide = (s: RunningDaemon, body: ReturnType<typeof intent>) => post(`${s.url}/v1/intents`, agentTokens[body.agent]!, body);
  const usdReserved = async () =>
    Number((await sql.query("SELECT coalesce(sum(amount), 0)::bigint AS s FROM fleet_ledger WHERE limit_id = 'tenant-usd'")).rows[0].s) / 1e6;

  it("one idempotency key, 4 different amounts, 12 concurrent sends over 3 sidecars: one decision, one reservation", async () => {
    await resetLedger();
    const key = `k-${randomUUID()}`;
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, k) => decide(sidecars[k % 3]!, intent("bot0", "pay", { usd: String(100 + (k % 4) * 100) }, key))),
    );
    const won = answers.filter((a) => a.status === 200);
    // every 200 is the same decision (the winner or its replays); every other send is a 409 conflict
    expect(new Set(won.map((a) => a.body.intent_id)).size).toBe(1);
    // every other send is a 409: a conflict (another amount), or "in progress" (the same amount replayed on another
    // sidecar before the winner's node journaled it: retry)
    expect(
      answers
        .filter((a) => a.status === 409)
        .every((a) => a.body.error === "idempotency_conflict" || a.body.error === "idempotency_in_progress"),
    ).toBe(true);
    expect(won.length + answers.filter((a) => a.status === 409).length).toBe(12);
    const winner = await sql.query("SELECT record FROM fleet_intents WHERE id = $1", [won[0]!.body.intent_id]);
    const usd = Number(JSON.parse(winner.rows[0].record).intent?.params?.usd ?? won[0]!.body.intent?.params?.usd ?? NaN);
    const reserved = await usdReserved();
    expect(reserved).toBeGreaterThan(0);
    if (!Number.isNaN(usd)) expect(reserved).toBe(usd);
    expect((await sql.query("SELECT count(*)::int AS n FROM fleet_ledger WHERE limit_id = 'tenant-usd'")).rows[0].n).toBe(1);
  }, 60_000);

  it("idempotent replays at a full cap: the same key never reserves twice, a fresh key is PENDING", async () => {
    await resetLedger();
    const key = `k-${randomUUID()}`;
    const body = intent("bot1", "pay", { usd: String(CAP_USD) }, key);
    let answers = await Promise.all(Array.from({ length: 9 }, (_, k) => decide(sidecars[k % 3]!, body)));
    // a replay on another sidecar before the first decision's node journaled it is told to retry (409 in progress)
    expect(answers.every((a) => a.body.decision === "APPROVED" || a.body.error === "idempotency_in_progress")).toBe(true);
    await sleep(300);
    answers = await Promise.all(Array.from({ length: 9 }, (_, k) => decide(sidecars[k % 3]!, body)));
    expect(answers.every((a) => a.body.decision === "APPROVED")).toBe(true);
    expect(new Set(answers.map((a) => a.body.intent_id)).size).toBe(1);
    expect(await usdReserved()).toBe(CAP_USD);
    const fresh = await decide(sidecars[2]!, intent("bot2", "pay", { usd: "1" }));
    expect(fresh.body.decision).toBe("PENDING");
  }, 60_000);

  it("a replay of a rate-limited DENIED intent on another sidecar stays DENIED and carries no attestation", async () => {
    const keys = Array.from({ length: 8 }, () => `k-${randomUUID()}`);
    const first = await Promise.all(keys.map((key, k) => decide(sidecars[k % 3]!, intent("bot3", "ping", { k }, key))));
    expect(first.filter((a) => a.body.decision === "APPROVED").length).toBeLessThanOrEqual(3);
    const denied = keys.filter((_, k) => first[k]!.body.decision === "DENIED");
    expect(denied.length).toBeGreaterThanOrEqual(5);
    for (const [k, key] of keys.entries()) {
      if (first[k]!.body.decision !== "DENIED") continue;
      const again = await decide(sidecars[(k + 1) % 3]!, intent("bot3", "ping", { k }, key));
      expect(again.body.decision).toBe("DENIED");
      expect(again.body.intent_id).toBe(first[k]!.body.intent_id);
      expect(again.body.attestation).toBeUndefined();
    }
  }, 60_000);

  it("a NUL byte in one agent's idempotency key (PostgreSQL text refuses it) fails only that intent, not its batch", async () => {
    await resetLedger();
    const s = sidecars[2]!;
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, k) => decide(s, intent("bot1", "pay", { usd: "1" }, `bad\u0000${k}`))),
      ...Array.from({ length: 20 }, (_, k) => decide(s, intent(AGENTS[k % 4]!, "pay", { usd: "1" }, `good-${randomUUID()}`))),
      ...Array.from({ length: 10 }, (_, k) => decide(s, intent(AGENTS[k % 4]!, "pay", { usd: "1", note: "nul \u0000 inside" }))),
    ]);
    expect(answers.slice(0, 10).every((a) => a.body.decision !== "APPROVED")).toBe(true);
    // refused as invalid input before anything is decided (a key is a printable token), not as an internal error
    expect(answers.slice(0, 10).every((a) => a.status === 400 && a.body.error === "invalid_intent")).toBe(true);
    expect(answers.slice(10).map((a) => a.body.decision)).toEqual(Array(30).fill("APPROVED"));
  }, 60_000);

  it("a rate limit with a 1 s window: 30 concurrent ticks never put 3 approvals in one second of database time", async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, k) => decide(sidecars[k % 3]!, intent(AGENTS[k % 4]!, "tick", { k }))));
    const approved = answers.filter((a) => a.body.decision === "APPROVED").length;
    expect(approved).toBeGreaterThanOrEqual(1);
    expect(approved).toBeLessThanOrEqual(2 * 3); // the burst lasts well under 3 s on this machine
    const ts = (
      await sql.query<{ ms: number }>(
        "SELECT (extract(epoch FROM ts) * 1000)::float8 AS ms FROM fleet_ledger WHERE limit_id LIKE '%tick-tiny' ORDER BY ts",
      )
    ).rows.map((r) => Number(r.ms));
    expect(ts.length).toBe(approved);
    for (let i = 2; i < ts.length; i++) expect(ts[i]! - ts[i - 2]!).toBeGreaterThanOrEqual(1000);
  }, 60_000);

  it("one agent's open holds stay under max_open_per_agent (20) with 60 concurrent held intents over 3 sidecars", async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, k) => decide(sidecars[k % 3]!, intent("hog", "wire.send", { k }))));
    expect(answers.filter((a) => a.body.decision === "PENDING")).toHaveLength(20);
    const refused = answers.filter((a) => a.body.decision === "DENIED");
    expect(refused).toHaveLength(40);
    expect(refused.every((a) => a.body.reasons.some((r: { message: string }) => /20/.test(r.message)))).toBe(true);
    const open = await sql.query("SELECT count(*)::int AS n FROM fleet_holds WHERE agent = 'hog' AND state = 'pending'");
    expect(open.rows[0].n).toBe(20);
  }, 60_000);

  it("one operator approving one hold through all 3 sidecars at once counts once (quorum 2 stays unmet)", async () => {
    const held = await decide(sidecars[0]!, intent("bot0", "wire.send", { usd: "5" }));
    expect(held.status).toBe(202);
    const id = held.body.hold.id as string;
    const tries = await Promise.all(sidecars.flatMap((s) => [0, 1].map(() => post(`${s.operatorUrl}/v1/holds/${id}/approve`, OPS.alice, {}))));
    expect(tries.filter((t) => t.status === 200)).toHaveLength(1);
    expect(tries.filter((t) => t.status === 409)).toHaveLength(5);
    const view = await get(`${sidecars[2]!.operatorUrl}/v1/holds/${id}`, OPS.bob);
    expect(view.body.state).toBe("pending");
    expect(view.body.approvals).toHaveLength(1);
    const rows = await sql.query("SELECT count(*)::int AS n FROM fleet_hold_approvals WHERE hold_id = $1", [id]);
    expect(rows.rows[0].n).toBe(1);
  }, 60_000);

  it("deny racing the quorum's last approval on other sidecars: one wins, and the agent sees exactly that outcome", async () => {
    for (let round = 0; round < 4; round++) {
      const held = await decide(sidecars[round % 3]!, intent("bot1", "wire.send", { usd: "5", round }));
      const id = held.body.hold.id as string;
      expect((await post(`${sidecars[1]!.operatorUrl}/v1/holds/${id}/approve`, OPS.alice, {})).status).toBe(200);
      const [approve, deny] = await Promise.all([
        post(`${sidecars[(round + 1) % 3]!.operatorUrl}/v1/holds/${id}/approve`, OPS.bob, {}),
        post(`${sidecars[(round + 2) % 3]!.operatorUrl}/v1/holds/${id}/deny`, OPS.carol, { reason: "no" }),
      ]);
      expect([approve.status, deny.status].sort()).toEqual([200, 409]);
      const outcome = approve.status === 200 ? "APPROVED" : "DENIED";
      let seen = "";
      for (let i = 0; i < 20 && seen !== outcome; i++) {
        seen = (await get(`${sidecars[round % 3]!.url}/v1/intents/${held.body.intent_id}?wait=5`, agentTokens.bot1!)).body.decision;
      }
      expect(seen).toBe(outcome);
      const hold = await sql.query("SELECT state FROM fleet_holds WHERE id = $1", [id]);
      expect(hold.rows[0].state).toBe(outcome === "APPROVED" ? "approved" : "denied");
    }
  }, 120_000);

  it("a late (reordered or re-delivered) 'approval' notice after the quorum never turns the origin's APPROVED back into PENDING", async () => {
    const node0 = readFileSync(join(dir, "node0", "fleet-node-id"), "utf8").trim();
    const held = await decide(sidecars[0]!, intent("bot3", "wire.send", { usd: "9" }));
    const id = held.body.hold.id as string;
    await post(`${sidecars[1]!.operatorUrl}/v1/holds/${id}/approve`, OPS.alice, {});
    expect((await post(`${sidecars[2]!.operatorUrl}/v1/holds/${id}/approve`, OPS.bob, {})).body.state).toBe("approved");
    let seen = "";
    for (let i = 0; i < 20 && seen !== "APPROVED"; i++)
      seen = (await get(`${sidecars[0]!.url}/v1/intents/${held.body.intent_id}?wait=2`, agentTokens.bot3!)).body.decision;
    expect(seen).toBe("APPROVED");
    // the first approval's notice, arriving after the quorum's (LISTEN delivers in commit order, but the origin
    // handles notices concurrently: a slow read of the first lets the second overtake it)
    await sql.query("SELECT pg_notify('intent_sidecar_holds', $1)", [JSON.stringify({ t: "approval", id, origin: node0 })]);
    await sleep(700);
    const after = await get(`${sidecars[0]!.url}/v1/intents/${held.body.intent_id}`, agentTokens.bot3!);
    expect(after.body.decision).toBe("APPROVED");
    expect(after.body.attestation).toBeTruthy();
  }, 60_000);

  it("every connection killed, LISTEN included, right before the quorum: the origin's long poll still gets the approval", async () => {
    const held = await decide(sidecars[0]!, intent("bot0", "wire.send", { usd: "11" }));
    const id = held.body.hold.id as string;
    const poll = get(`${sidecars[0]!.url}/v1/intents/${held.body.intent_id}?wait=20`, agentTokens.bot0!);
    const killed = await sql.query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
    expect(killed.rows[0].n).toBeGreaterThan(3); // pools and listeners of 3 sidecars (and this test's other idle connections)
    const approve = async (s: RunningDaemon, token: string) => {
      for (let i = 0; i < 20; i++) {
        const r = await post(`${s.operatorUrl}/v1/holds/${id}/approve`, token, {});
        if (r.status !== 503) return r;
        await sleep(200); // the pool reconnects on the next try
      }
      throw new Error("store still unavailable");
    };
    expect((await approve(sidecars[1]!, OPS.alice)).status).toBe(200);
    expect((await approve(sidecars[2]!, OPS.bob)).body.state).toBe("approved");
    const answer = await poll;
    expect(answer.body.decision).toBe("APPROVED");
    expect(answer.body.attestation).toBeTruthy();
  }, 60_000);

  it("approving a hold after its expiry (database time) is refused on every sidecar", async () => {
    const held = await decide(sidecars[0]!, intent("bot2", "wire.send", { usd: "5" }));
    const id = held.body.hold.id as string;
    await post(`${sidecars[1]!.operatorUrl}/v1/holds/${id}/approve`, OPS.alice, {});
    // time passes: the hold's expiry is now behind the database clock (the sweeper may or may not have run yet)
    await sql.query("UPDATE fleet_holds SET expires_at = (extract(epoch FROM now()) * 1000)::bigint - 1 WHERE id = $1", [id]);
    const late = await Promise.all(sidecars.map((s) => post(`${s.operatorUrl}/v1/holds/${id}/approve`, OPS.bob, {})));
    expect(late.map((a) => a.status)).toEqual([409, 409, 409]);
    const agent = await get(`${sidecars[0]!.url}/v1/intents/${held.body.intent_id}?wait=3`, agentTokens.bot2!);
    expect(agent.body.decision).not.toBe("APPROVED");
    expect(agent.body.attestation).toBeUndefined();
  }, 60_000);

  it("forged attestations with unknown kids at every sidecar: all refused, and the key refresh is not a query amplifier", async () => {
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const forge = async (jti: string) =>
      new SignJWT({ decision: "APPROVED" })
        .setProtectedHeader({ alg: "EdDSA", kid: `forged-${randomUUID()}` })
        .setJti(jti)
        .setIssuer("intent-sidecar")
        .setAudience("executor")
        .setIssuedAt()
        .setExpirationTime("2m")
        .sign(privateKey);
    const keyReads = async () => {
      await sleep(1200); // backends report their statistics about once a second
      const r = await sql.query("SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::bigint AS n FROM pg_stat_user_tables WHERE relname = 'fleet_keys'");
      return Number(r.rows[0].n);
    };
    const idle0 = await keyReads();
    await sleep(2000);
    const idle = (await keyReads()) - idle0;
    const before = await keyReads();
    const t0 = Date.now();
    const tokens = await Promise.all(Array.from({ length: 300 }, (_, k) => forge(`intent_forged_${k}`)));
    const answers = await Promise.all(
      tokens.map((t, k) => post(`${sidecars[k % 3]!.url}/v1/attestations/intent_forged_${k}/redeem`, EXEC, { attestation: t })),
    );
    const took = Date.now() - t0;
    const flood = (await keyReads()) - before;
    console.info(`[fleet attack] fleet_keys reads: idle ${idle} in ~3 s, flood ${flood} in ${took} ms`);
    expect(answers.every((a) => a.status === 403)).toBe(true);
    expect((await sql.query("SELECT count(*)::int AS n FROM fleet_redemptions WHERE jti LIKE 'intent_forged_%'")).rows[0].n).toBe(0);
    // at most one refresh per sidecar per second of flood, on top of the background refreshes
    expect(flood).toBeLessThanOrEqual(idle * 2 + 3 * Math.ceil(took / 1000 + 2) + 10);
  }, 60_000);

  it("backends killed (pg_terminate_backend) again and again under load: no APPROVED without a committed APPROVED record; cap kept", async () => {
    await resetLedger();
    const answers: Answer[] = [];
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 12 }, async (_, k) => {
        while (!stop) answers.push(await decide(sidecars[k % 3]!, intent(AGENTS[k % 4]!, "pay", { usd: "10" })).catch(() => ({ status: 0, body: {} })));
      }),
    );
    const killer = new pg.Client({ connectionString: cluster.url });
    await killer.connect();
    let killed = 0;
    for (let i = 0; i < 25; i++) {
      await sleep(80);
      const r = await killer.query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'intent-sidecar'");
      killed += r.rows[0].n;
    }
    await killer.end();
    await sleep(1500); // reconnect
    const during = answers.length;
    stop = true;
    await load;
    expect(killed).toBeGreaterThan(0);
    const approved = answers.filter((a) => a.body.decision === "APPROVED");
    const rows = await sql.query<{ id: string; decision: string }>("SELECT id, decision FROM fleet_intents WHERE id = ANY($1::text[])", [
      approved.map((a) => a.body.intent_id),
    ]);
    const stored = new Map(rows.rows.map((r) => [r.id, r.decision]));
    for (const a of approved) expect(stored.get(a.body.intent_id)).toBe("APPROVED");
    const entries = await sql.query("SELECT count(DISTINCT intent_id)::int AS n FROM fleet_ledger WHERE intent_id = ANY($1::text[])", [
      approved.map((a) => a.body.intent_id),
    ]);
    expect(entries.rows[0].n).toBe(approved.length);
    expect(await usdReserved()).toBeLessThanOrEqual(CAP_USD);
    expect(answers.every((a) => a.status === 0 || ["APPROVED", "DENIED", "PENDING"].includes(a.body.decision) || a.status === 503)).toBe(true);
    expect(during).toBeGreaterThan(0);
    // service resumed without restart
    await resetLedger();
    expect((await decide(sidecars[0]!, intent("bot0", "pay", { usd: "1" }))).body.decision).toBe("APPROVED");
  }, 120_000);

  it("a statement timeout mid-batch (the cap's head row locked for 7 s): DENIED, nothing approved, then service resumes", async () => {
    await resetLedger();
    const blocker = new pg.Client({ connectionString: cluster.url });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query("SELECT * FROM fleet_ledger_heads WHERE limit_id = 'tenant-usd' FOR UPDATE");
    const answers = await Promise.all(sidecars.map((s, i) => decide(s, intent(AGENTS[i]!, "pay", { usd: "1" }))));
    await blocker.query("ROLLBACK");
    await blocker.end();
    expect(answers.map((a) => a.body.decision)).toEqual(["DENIED", "DENIED", "DENIED"]);
    const rows = await sql.query("SELECT count(*)::int AS n FROM fleet_intents WHERE id = ANY($1::text[]) AND decision <> 'DENIED'", [
      answers.map((a) => a.body.intent_id),
    ]);
    expect(rows.rows[0].n).toBe(0);
    expect(await usdReserved()).toBe(0);
    const again = await Promise.all(sidecars.map((s, i) => decide(s, intent(AGENTS[i]!, "pay", { usd: "1" }))));
    expect(again.map((a) => a.body.decision)).toEqual(["APPROVED", "APPROVED", "APPROVED"]);
  }, 60_000);

  // Found by this review: the shared record commits APPROVED (with claims) before the origin's local journal is
  // written. While node 0's journal write waits (its SQLite file locked by another process; also a full disk), an
  // idempotent replay on node 1 read the committed record and got an attestation; node 0 then failed its journal,
  // answered DENIED and revoked the record, but the attestation stayed valid. Fixed: a record is `confirmed` only
  // once its node journaled it, and a replay elsewhere of an unconfirmed approval answers 409 idempotency_in_progress.
  it("a replay on another sidecar while the origin's local journal fails never yields an attestation for a revoked decision", async () => {
    await resetLedger();
    const key = `k-${randomUUID()}`;
    const body = intent("bot0", "pay", { usd: "1" }, key);
    const local = new Database(join(dir, "node0", "intent-sidecar.db"));
    local.pragma("busy_timeout = 10000");
    local.exec("BEGIN EXCLUSIVE");
    const origin = decide(sidecars[0]!, body);
    await sleep(1000);
    const replay = await decide(sidecars[1]!, body);
    await sleep(6500); // past the daemon's SQLite busy_timeout (5 s): its journal write fails
    local.exec("ROLLBACK");
    local.close();
    const first = await origin;
    // the revocation follows the origin's DENIED answer (asynchronously, retried): until it lands the record is an
    // unconfirmed approval, which no replay hands out
    let final = "";
    for (let i = 0; i < 40 && final !== first.body.decision; i++) {
      if (i > 0) await sleep(100);
      final = (await sql.query("SELECT decision FROM fleet_intents WHERE id = $1", [first.body.intent_id])).rows[0]?.decision;
    }
    expect(replay.body.attestation).toBeUndefined();
    expect(replay.status).toBe(409);
    expect(replay.body.error).toBe("idempotency_in_progress");
    // the store ends where the origin's answer did (DENIED and revoked when its journal failed, as it usually does
    // here; APPROVED when the write got through within its busy timeout), and later replays anywhere agree with it:
    // an attestation only for a decision that stands APPROVED
    expect(final).toBe(first.body.decision);
    for (const s of sidecars) {
      let again = await decide(s, body);
      for (let i = 0; i < 20 && again.status === 409; i++) {
        await sleep(100);
        again = await decide(s, body);
      }
      expect(again.body.decision).toBe(final);
      expect(again.body.attestation !== undefined).toBe(final === "APPROVED");
    }
  }, 60_000);

  it("a replay on another sidecar of a journaled approval gets the same decision and attestation", async () => {
    await resetLedger();
    const body = intent("bot0", "pay", { usd: "1" }, `k-${randomUUID()}`);
    const first = await decide(sidecars[0]!, body);
    expect(first.body.decision).toBe("APPROVED");
    let replay = await decide(sidecars[1]!, body);
    for (let i = 0; i < 20 && replay.status === 409; i++) {
      await sleep(100); // the origin confirms its journal right after answering
      replay = await decide(sidecars[1]!, body);
    }
    expect(replay.body.intent_id).toBe(first.body.intent_id);
    expect(replay.body.decision).toBe("APPROVED");
    expect(replay.body.attestation).toBeTruthy();
  }, 60_000);

  it("a hold approved while its origin is down: the origin returns and the agent gets one attestation, reserved once, redeemable once", async () => {
    await resetLedger();
    const held = await decide(sidecars[0]!, intent("bot0", "pay", { usd: String(CAP_USD + 1) }));
    expect(held.body.decision).toBe("PENDING");
    const id = held.body.hold.id as string;
    expect(await sidecars[0]!.stop("SIGTERM")).toBe(0);
    expect((await post(`${sidecars[1]!.operatorUrl}/v1/holds/${id}/approve`, OPS.alice, {})).status).toBe(200);
    const second = await post(`${sidecars[2]!.operatorUrl}/v1/holds/${id}/approve`, OPS.bob, {});
    expect(second.body.state).toBe("approved");
    const pending = await sql.query("SELECT applied_at FROM fleet_holds WHERE id = $1", [id]);
    expect(pending.rows[0].applied_at).toBeNull(); // nobody but the origin carries it to the intent
    sidecars[0] = await start(0);
    const polls = await Promise.all([0, 1].map(() => get(`${sidecars[0]!.url}/v1/intents/${held.body.intent_id}?wait=20`, agentTokens.bot0!)));
    for (const p of polls) expect(p.body.decision).toBe("APPROVED");
    expect(polls[0]!.body.attestation).toBeTruthy();
    expect(polls[1]!.body.attestation).toBe(polls[0]!.body.attestation);
    const ledger = await sql.query("SELECT count(*)::int AS n FROM fleet_ledger WHERE intent_id = $1", [held.body.intent_id]);
    expect(ledger.rows[0].n).toBe(1);
    // the origin wakes its long polls, then writes the record back to the store (a moment later)
    let stored = "";
    for (let i = 0; i < 50 && stored !== "APPROVED"; i++) {
      stored = (await sql.query("SELECT decision FROM fleet_intents WHERE id = $1", [held.body.intent_id])).rows[0].decision;
      if (stored !== "APPROVED") await sleep(100);
    }
    expect(stored).toBe("APPROVED");
    expect((await sql.query("SELECT applied_at FROM fleet_holds WHERE id = $1", [id])).rows[0].applied_at).not.toBeNull();
    const redeem = await Promise.all(
      sidecars.map((s) => post(`${s.url}/v1/attestations/${held.body.intent_id}/redeem`, EXEC, { attestation: polls[0]!.body.attestation })),
    );
    expect(redeem.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(redeem.filter((r) => r.body.first === true)).toHaveLength(1);
  }, 120_000);

  it("a held intent whose origin fails to journal it is revoked, and its hold is closed fleet-wide (no approvable orphan)", async () => {
    await resetLedger();
    const local = new Database(join(dir, "node1", "intent-sidecar.db"));
    local.pragma("busy_timeout = 10000");
    local.exec("BEGIN EXCLUSIVE"); // another process holds node 1's journal: its write after the shared commit fails
    let held: Answer;
    try {
      held = await decide(sidecars[1]!, intent("bot2", "wire.send", { usd: "7" }));
    } finally {
      local.exec("ROLLBACK");
      local.close();
    }
    expect(held.body.decision).toBe("DENIED");
    let rec: { decision: string } | undefined;
    for (let i = 0; i < 40 && rec?.decision !== "DENIED"; i++) {
      await sleep(100);
      rec = (await sql.query("SELECT decision FROM fleet_intents WHERE id = $1", [held.body.intent_id])).rows[0];
    }
    expect(rec?.decision).toBe("DENIED"); // revoked
    const hold = (await sql.query("SELECT id, state FROM fleet_holds WHERE intent_id = $1", [held.body.intent_id])).rows[0];
    expect(hold).toBeDefined(); // the hold was committed with the decision
    expect(hold.state).toBe("denied");
    const listed = await get(`${sidecars[2]!.operatorUrl}/v1/holds?state=pending`, OPS.alice);
    expect(listed.body.holds.map((h: { id: string }) => h.id)).not.toContain(hold.id);
    expect((await post(`${sidecars[2]!.operatorUrl}/v1/holds/${hold.id}/approve`, OPS.alice, {})).status).toBe(409);
  }, 60_000);

  it("the revocation after a failed journal write meets a stopped database: it is retried, the record ends DENIED", async () => {
    await resetLedger();
    const key = `k-${randomUUID()}`;
    const body = intent("bot3", "pay", { usd: "1" }, key);
    const local = new Database(join(dir, "node2", "intent-sidecar.db"));
    local.exec("BEGIN EXCLUSIVE"); // node 2's journal write waits its busy timeout (5 s), then fails
    let first: Answer;
    try {
      const origin = decide(sidecars[2]!, body);
      await sleep(1500); // the shared store has committed the approval by now
      cluster.stop(); // the revocation that follows the journal failure finds no database
      await sleep(5000);
      local.exec("ROLLBACK");
      cluster.start();
      first = await origin;
    } finally {
      if (local.inTransaction) local.exec("ROLLBACK");
      local.close();
    }
    expect(first.body.decision).toBe("DENIED");
    let stored = "";
    for (let i = 0; i < 100 && stored !== "DENIED"; i++) {
      await sleep(200);
      stored = (await sql.query("SELECT decision FROM fleet_intents WHERE id = $1", [first.body.intent_id]).catch(() => ({ rows: [{ decision: "" }] }))).rows[0]?.decision ?? "";
    }
    expect(stored).toBe("DENIED");
    const replay = await decide(sidecars[0]!, body);
    expect(replay.body.decision).toBe("DENIED");
    expect(replay.body.attestation).toBeUndefined();
  }, 90_000);

  it("concurrent hold approvals and decisions on one node: every node's chain verifies (audit verify --store)", async () => {
    await resetLedger();
    const s0 = sidecars[0]!;
    const holds = await Promise.all(Array.from({ length: 8 }, (_, k) => decide(s0, intent(AGENTS[k % 4]!, "wire.send", { k }))));
    const work = [
      ...holds.flatMap((h) => [
        post(`${s0.operatorUrl}/v1/holds/${h.body.hold.id}/approve`, OPS.alice, {}),
        post(`${s0.operatorUrl}/v1/holds/${h.body.hold.id}/approve`, OPS.bob, {}),
      ]),
      ...Array.from({ length: 40 }, (_, k) => decide(s0, intent(AGENTS[k % 4]!, "pay", { usd: "1" }))),
      ...Array.from({ length: 10 }, (_, k) => decide(sidecars[1 + (k % 2)]!, intent(AGENTS[k % 4]!, "pay", { usd: "1" }))),
    ];
    const out = await Promise.all(work);
    expect(out.every((a) => a.status === 200)).toBe(true);
    const states = await sql.query("SELECT state FROM fleet_holds WHERE id = ANY($1::text[])", [holds.map((h) => h.body.hold.id)]);
    expect(states.rows.every((r) => r.state === "approved")).toBe(true);
    const r = runCli(["audit", "verify", "--store", cluster.url]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
