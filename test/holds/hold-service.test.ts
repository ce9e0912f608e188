import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HoldService, type HoldServiceOptions } from "../../sidecar/holds/service.ts";
import { HoldError, type HoldAuditEvent } from "../../sidecar/holds/types.ts";
import { LimitLedger } from "../../sidecar/limits/ledger.ts";
import { intentDigest, type Intent } from "../../protocol/index.ts";
import { testSigner } from "./signer.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dbFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "holds-"));
  dirs.push(dir);
  return join(dir, "state.db");
}

const intent: Intent = {
  agent: "treasury-bot",
  action: "treasury.disburse",
  params: { amount_usd: 75000, ticket: "T-9" },
  context: { tenant: "acme" },
};
const bigReason = { block: "custom", rule: "big-disbursement-review", message: "disbursements above $50k need human review" };
const policy = {
  ttlMs: 60_000,
  approvalsRequired: 1,
  overrides: new Map([["big-disbursement-review", { approvalsRequired: 2 }]]),
};

function setup(extra: Partial<HoldServiceOptions> = {}, file = dbFile()) {
  let clock = Date.parse("2026-03-01T12:00:00Z");
  const audit: HoldAuditEvent[] = [];
  const signer = testSigner();
  const db = new Database(file);
  const svc = new HoldService({
    db,
    sign: signer.sign,
    policy: () => policy,
    audit: (e) => audit.push(e),
    now: () => clock,
    ...extra,
  });
  return { db, svc, audit, signer, file, tick: (ms: number) => (clock += ms), now: () => clock };
}

describe("hold service", () => {
  it("needs two distinct operators for an overridden rule; the same operator twice does not count", async () => {
    const { svc, audit, signer, tick, now } = setup();
    const summary = svc.create({ intentId: "int-1", intent, reasons: [bigReason], policyDigest: "sha256:abc" });
    expect(summary).toMatchObject({ approvals_required: 2, approvals: 0 });
    expect(Date.parse(summary.expires_at) - now()).toBe(60_000);

    tick(1000);
    expect(svc.approve(summary.id, "alice", "looks fine").state).toBe("pending");
    expect(() => svc.approve(summary.id, "alice")).toThrow(expect.objectContaining({ code: "already_approved" }));
    expect((await svc.decisionFor("int-1"))!.decision).toBe("PENDING");

    tick(5000);
    const approvedAt = now();
    const done = svc.approve(summary.id, "bob");
    expect(done.state).toBe("approved");
    expect(done.approvals.map((a) => a.operator)).toEqual(["alice", "bob"]);

    const d = await svc.decisionFor("int-1");
    expect(d!.decision).toBe("APPROVED");
    const claims = await signer.verify(d!.attestation!);
    expect(claims.jti).toBe("int-1");
    expect(claims.sub).toBe("treasury-bot");
    expect(claims.intent.digest).toBe(intentDigest(intent));
    expect(claims.iat).toBe(Math.floor(approvedAt / 1000)); // counted from approval, not creation
    expect(claims.exp - claims.iat).toBe(300);
    expect(claims.approval).toEqual({ hold_id: summary.id, approvers: ["alice", "bob"], approved_at: new Date(approvedAt).toISOString() });
    expect(audit.map((a) => a.type)).toEqual(["hold.created", "hold.approval", "hold.approval", "hold.approved"]);
    expect(() => svc.deny(summary.id, "carol")).toThrow(HoldError);
  });

  it("one denial ends the hold; the intent reads DENIED with who denied it", async () => {
    const { svc } = setup();
    const h = svc.create({ intentId: "int-2", intent, reasons: [bigReason], policyDigest: "sha256:abc" });
    svc.approve(h.id, "alice");
    svc.deny(h.id, "bob", "no ticket in the tracker");
    const d = await svc.decisionFor("int-2");
    expect(d!.decision).toBe("DENIED");
    expect(d!.reasons[0]!.message).toContain("bob: no ticket in the tracker");
    expect(() => svc.approve(h.id, "carol")).toThrow(expect.objectContaining({ code: "not_pending" }));
  });

  it("expires on read and by the sweeper; an expired hold cannot be approved", async () => {
    const { svc, tick, audit } = setup();
    const a = svc.create({ intentId: "int-a", intent, reasons: [bigReason], policyDigest: "d" });
    svc.create({ intentId: "int-b", intent, reasons: [bigReason], policyDigest: "d" });
    tick(60_000);
    expect((await svc.decisionFor("int-a"))!.decision).toBe("EXPIRED");
    expect(() => svc.approve(a.id, "alice")).toThrow(expect.objectContaining({ code: "not_pending" }));
    expect(svc.expireDue()).toBe(1); // int-b, by the sweeper
    expect(svc.list({ state: "expired" }).map((h) => h.intent_id).sort()).toEqual(["int-a", "int-b"]);
    expect(audit.filter((e) => e.type === "hold.expired")).toHaveLength(2);
  });

  it("wakes a long poll when the hold resolves", async () => {
    const { svc } = setup();
    const h = svc.create({ intentId: "int-w", intent, reasons: [{ ...bigReason, rule: "other" }], policyDigest: "d" });
    let woke = false;
    const waiting = svc.waitForResolution("int-w", 20_000).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    svc.approve(h.id, "alice");
    await waiting;
    expect((await svc.decisionFor("int-w"))!.decision).toBe("APPROVED");
  });

  it("reserves soft-limit amounts in the approval's transaction, and everything survives reopening the file", async () => {
    const limits = [{ id: "daily", measure: (i: Intent) => Number(i.params.amount_usd), scope: "agent" as const, windowMs: 86_400_000, max: 100000 }];
    const box: { ledger?: LimitLedger } = {};
    const withLedger = setup({ reserve: (id, i, now) => void box.ledger!.reserve(id, i, limits, now) });
    const ledger = (box.ledger = new LimitLedger(withLedger.db));
    const first = withLedger;
    const h1 = withLedger.svc.create({ intentId: "r-1", intent, reasons: [{ ...bigReason, rule: "x" }], policyDigest: "d" });
    const h2 = withLedger.svc.create({ intentId: "r-2", intent, reasons: [bigReason], policyDigest: "d" });
    withLedger.svc.approve(h1.id, "alice");
    withLedger.svc.approve(h2.id, "alice");
    expect(ledger.windowTotal("daily", "agent:treasury-bot", 86_400_000, withLedger.now())).toBe(75000);
    withLedger.db.close();

    const again = setup({}, first.file);
    const pending = again.svc.list({ state: "pending" });
    expect(pending.map((h) => h.id)).toEqual([h2.id]);
    expect(pending[0]!.approvals.map((a) => a.operator)).toEqual(["alice"]);
    expect(() => again.svc.approve(h2.id, "alice")).toThrow(expect.objectContaining({ code: "already_approved" }));
    expect(again.svc.approve(h2.id, "bob").state).toBe("approved");
    expect(new LimitLedger(again.db).windowTotal("daily", "agent:treasury-bot", 86_400_000, again.now())).toBe(75000);
    expect((await again.svc.decisionFor("r-1"))!.decision).toBe("APPROVED");
  });

  it("filters by state, agent and rule", () => {
    const { svc } = setup();
    svc.create({ intentId: "f1", intent, reasons: [bigReason], policyDigest: "d" });
    svc.create({ intentId: "f2", intent: { ...intent, agent: "other" }, reasons: [{ block: "tool_calls", rule: "hold", message: "m" }], policyDigest: "d" });
    expect(svc.list({ agent: "other" }).map((h) => h.intent_id)).toEqual(["f2"]);
    expect(svc.list({ rule: "big-disbursement-review" }).map((h) => h.intent_id)).toEqual(["f1"]);
    expect(svc.list({ state: "approved" })).toEqual([]);
  });
});
