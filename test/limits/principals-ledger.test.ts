// Soft-limit streams under principals (threat model class 7): tenant and team come from the agent's principal,
// never from intent.context; an agent without one counts alone.
import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { LimitLedger, scopeKey } from "../../sidecar/limits/ledger.ts";
import type { SoftLimit } from "../../sidecar/limits/types.ts";
import { principalLookup } from "../../sidecar/principals.ts";
import type { Intent } from "../../protocol/index.ts";

const lookup = principalLookup({ alice: { tenant: "acme", team: "finance" }, carol: { tenant: "acme" } });
const limit = (scope: SoftLimit["scope"]): SoftLimit => ({
  id: `l-${scope}`,
  measure: "count",
  scope,
  windowMs: 60_000,
  max: 2,
});
const i = (agent: string, context: Record<string, unknown> = {}): Intent => ({
  agent,
  action: "x.y",
  params: {},
  context,
});

describe("scope keys", () => {
  it("tenant and team come from the principal; the context is ignored", () => {
    expect(scopeKey(limit("tenant"), i("alice", { tenant: "evil" }), lookup)).toBe("tenant:acme");
    expect(scopeKey(limit("team"), i("alice", { team: "evil" }), lookup)).toBe("team:acme/finance");
    expect(scopeKey(limit("agent"), i("alice"), lookup)).toBe("agent:alice");
    expect(scopeKey(limit("global"), i("alice"), lookup)).toBe("global");
  });

  it("no principal (or no team, or no lookup at all): the agent's own stream", () => {
    expect(scopeKey(limit("tenant"), i("mallory", { tenant: "acme" }), lookup)).toBe("agent:mallory");
    expect(scopeKey(limit("team"), i("carol", { team: "finance" }), lookup)).toBe("agent:carol");
    expect(scopeKey(limit("tenant"), i("alice", { tenant: "acme" }))).toBe("agent:alice");
  });

  it("the ledger counts invented tenants in one stream", () => {
    const ledger = new LimitLedger(new Database(":memory:"), { principals: lookup });
    const t = Date.now();
    const l = limit("tenant");
    expect(ledger.checkAndReserve("a", i("mallory", { tenant: "t1" }), [l], t).ok).toBe(true);
    expect(ledger.checkAndReserve("b", i("mallory", { tenant: "t2" }), [l], t).ok).toBe(true);
    const r = ledger.checkAndReserve("c", i("mallory", { tenant: "t3" }), [l], t);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reasons[0]!.message).toContain("tenant scope: agent mallory has no tenant principal");
    // usePrincipals swaps the lookup (the daemon wires the config's principals after construction)
    ledger.usePrincipals(undefined);
    expect(ledger.charges(i("alice"), [l])[0]!.scopeKey).toBe("agent:alice");
  });
});
