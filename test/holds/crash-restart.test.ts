// SIGKILL the daemon while holds are pending and soft-limit reservations are made; restart on the same data dir:
// nothing is lost. Pending holds stay approvable (with their approvals so far), holds that expired while the daemon
// was down read EXPIRED, and ledger totals are unchanged.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import { DB_FILE } from "../../sidecar/store/index.ts";
import { ATTESTATION_TYP } from "../../protocol/index.ts";

const POLICY = `
version: 1
name: crash-test
actions:
  allow: ["treasury.disburse"]
custom:
  - id: big-review
    when: 'intent.action == "treasury.disburse"'
    hold: 'double(intent.params.amount_usd) > 50000.0'
    reason: "above $50k needs two operators"
  - id: quick-review
    when: 'intent.action == "treasury.disburse"'
    hold: 'has(intent.params.quick)'
    reason: "short-lived review"
soft_limits:
  - id: daily-usd
    actions: ["treasury.disburse"]
    measure: 'double(intent.params.amount_usd)'
    scope: agent
    window: 24h
    max: 100000
holds:
  ttl: 24h
  approvals_required: 1
  overrides:
    - rule: big-review
      approvals_required: 2
    - rule: quick-review
      ttl: 2s
`;

const ENV = { INTENT_SIDECAR_AGENT_TOKENS: "treasury-bot=agent-tok", INTENT_SIDECAR_OPERATOR_TOKENS: "alice=alice-tok,bob=bob-tok" };
const children: RunningDaemon[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop("SIGKILL");
  for (const d of dirs.splice(0)) removeDir(d);
});

const disburse = (amount: number, extra: Record<string, unknown> = {}) => ({
  agent: "treasury-bot",
  action: "treasury.disburse",
  params: { amount_usd: amount, ticket: "T-1", ...extra },
  context: {},
});

// two real daemon starts (node + tsx): allow for a loaded machine
describe("crash and restart", { timeout: 180_000 }, () => {
  it("loses nothing across SIGKILL: pending holds approvable, expired ones expired, ledger totals unchanged", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, POLICY);
    const dataDir = join(dir, "data");

    const a = await spawnDaemon(["--data-dir", dataDir, "--policy", policy], ENV, { readyTimeoutMs: 90_000 });
    children.push(a);
    const post = (base: string, body: unknown) => http(`${base}/v1/intents`, { body, token: "agent-tok" });
    expect((await post(a.url, disburse(30000))).body.decision).toBe("APPROVED");
    expect((await post(a.url, disburse(20000))).body.decision).toBe("APPROVED");
    const big = await post(a.url, disburse(60000));
    expect(big.body.hold.approvals_required).toBe(2);
    const quick = await post(a.url, disburse(10, { quick: true }));
    expect(quick.body.decision).toBe("PENDING");
    const first = await http(`${a.operatorUrl}/v1/holds/${big.body.hold.id}/approve`, { body: { comment: "first" }, token: "alice-tok" });
    expect(first.body.approvals).toBe(1);

    await a.stop("SIGKILL");
    // the file as the crash left it: the reservations are there
    const raw = new Database(join(dataDir, DB_FILE));
    expect(new LimitLedger(raw).windowTotal("daily-usd", "agent:treasury-bot", 86_400_000, Date.now())).toBe(50000);
    raw.close();
    // let the short-lived hold expire while nothing runs
    await new Promise((r) => setTimeout(r, 2200));

    const b = await spawnDaemon(["--data-dir", dataDir, "--policy", policy], ENV, { readyTimeoutMs: 90_000 });
    children.push(b);
    const pending = await http(`${b.operatorUrl}/v1/holds?state=pending`, { token: "bob-tok" });
    expect(pending.body.holds.map((h: { id: string }) => h.id)).toEqual([big.body.hold.id]);
    expect(pending.body.holds[0].approvals).toMatchObject([{ operator: "alice", comment: "first" }]);
    const expired = await http(`${b.operatorUrl}/v1/holds/${quick.body.hold.id}`, { token: "bob-tok" });
    expect(expired.body.state).toBe("expired");
    expect((await http(`${b.url}/v1/intents/${quick.body.intent_id}`, { token: "agent-tok" })).body.decision).toBe("EXPIRED");

    // ledger unchanged: 50k reserved, so exactly 50k more fits and then nothing does
    expect((await post(b.url, disburse(50000))).body.decision).toBe("APPROVED");
    const over = await post(b.url, disburse(1));
    expect(over.body.decision).toBe("PENDING");
    expect(JSON.stringify(over.body.reasons)).toContain("window total 100000 + 1 would exceed the cap of 100000");

    // the pending hold is still approvable, needs a second distinct operator, and yields a verifying attestation
    expect((await http(`${b.operatorUrl}/v1/holds/${big.body.hold.id}/approve`, { body: {}, token: "alice-tok" })).status).toBe(409);
    const done = await http(`${b.operatorUrl}/v1/holds/${big.body.hold.id}/approve`, { body: {}, token: "bob-tok" });
    expect(done.body.state).toBe("approved");
    const read = await http(`${b.url}/v1/intents/${big.body.intent_id}?wait=5`, { token: "agent-tok" });
    expect(read.body.decision).toBe("APPROVED");
    const jwks = createLocalJWKSet((await http(`${b.url}/.well-known/jwks.json`)).body);
    const { payload } = await jwtVerify(read.body.attestation, jwks, { typ: ATTESTATION_TYP });
    expect(payload.approval).toMatchObject({ approvers: ["alice", "bob"] });
  });
});
