// Principals (threat model class 7): `scope: tenant|team` soft limits key on the tenant and team the operator gave
// each agent in the sidecar config, never on the intent's context (the agent writes that); a context that
// contradicts the principal is refused with 403 before anything is recorded. Real daemon over loopback HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../sidecar/config.ts";
import { auditRows } from "../../sidecar/store/index.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const POLICY = `
actions:
  allow: ["treasury.disburse", "report.*"]
soft_limits:
  - id: tenant-usd
    actions: ["treasury.disburse"]
    measure: 'double(intent.params.amount_usd)'
    scope: tenant
    window: 1h
    max: 1000
  - id: team-reports
    actions: ["report.*"]
    measure: count
    scope: team
    window: 1h
    max: 2
`;

const TOKENS = { alice: "tok-alice", bob: "tok-bob", carol: "tok-carol", mallory: "tok-mallory", eve: "tok-eve" };
const PRINCIPALS = {
  alice: { tenant: "acme", team: "finance" },
  bob: { tenant: "acme", team: "finance" },
  carol: { tenant: "acme" }, // no team
  // mallory and eve: no principal
};

const dir = tempDir();
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dev: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({ config: { policyFile, agentTokens: TOKENS, principals: PRINCIPALS } });
  dev = await startTestDaemon({ config: { policyFile, agentTokens: {}, principals: PRINCIPALS } });
});
afterAll(async () => {
  await d.close();
  await dev.close();
  removeDir(d.dataDir);
  removeDir(dev.dataDir);
  removeDir(dir);
});

type Agent = keyof typeof TOKENS;
/** The soft-limit reason of a PENDING answer. */
const limitReason = (body: { reasons: { block: string; rule: string; message: string }[] }) =>
  body.reasons.find((r) => r.block === "soft_limits")!;
const disburse = (agent: Agent, usd: string, context: Record<string, unknown> = {}) =>
  http(`${d.url}/v1/intents`, {
    token: TOKENS[agent],
    body: { agent, action: "treasury.disburse", params: { amount_usd: usd }, context },
  });
const report = (agent: Agent, context: Record<string, unknown> = {}, path = "/v1/intents") =>
  http(`${d.url}${path}`, { token: TOKENS[agent], body: { agent, action: "report.daily", params: {}, context } });

describe("principals: tenant scope keys on the principal, not on context.tenant", () => {
  it("an agent without a principal spreading spend over invented tenants still meets the cap (its own bucket)", async () => {
    expect((await disburse("mallory", "400", { tenant: "t1" })).body.decision).toBe("APPROVED");
    expect((await disburse("mallory", "400", { tenant: "t2" })).body.decision).toBe("APPROVED");
    const third = await disburse("mallory", "400", { tenant: "t3" });
    expect(third.status).toBe(202);
    expect(third.body.decision).toBe("PENDING");
    expect(limitReason(third.body).rule).toBe("tenant-usd");
    expect(limitReason(third.body).message).toContain("agent mallory has no tenant principal");
    // another agent without a principal is not in mallory's bucket (nor in a shared "no tenant" one)
    expect((await disburse("eve", "900", { tenant: "t1" })).body.decision).toBe("APPROVED");
  });

  it("agents of one tenant share its cap, whatever they put (or leave out) in context", async () => {
    expect((await disburse("alice", "600", { tenant: "acme" })).body.decision).toBe("APPROVED");
    expect((await disburse("carol", "300")).body.decision).toBe("APPROVED");
    const over = await disburse("bob", "200");
    expect(over.body.decision).toBe("PENDING");
    expect(limitReason(over.body).message).toMatch(
      /window total 900 \+ 200 would exceed the cap of 1000 .*tenant acme/,
    );
  });

  it("a context.tenant that contradicts the principal is refused with 403, nothing recorded (both routes)", async () => {
    const intents = d.store.recent(1000).length;
    const audit = [...auditRows(d.db)].length;
    const ledger = d.db.prepare("SELECT count(*) AS n FROM soft_limit_ledger").get() as { n: number };
    for (const path of ["/v1/intents", "/v1/intents?via=hono"]) {
      const r = await http(`${d.url}${path}`, {
        token: TOKENS.alice,
        body: {
          agent: "alice",
          action: "treasury.disburse",
          params: { amount_usd: "1" },
          context: { tenant: "globex" },
        },
      });
      expect(r.status).toBe(403);
      expect(r.body).toEqual({
        error: "forbidden",
        message: 'context.tenant "globex" contradicts the principal of agent alice (tenant acme)',
      });
      const team = await report("alice", { team: "ops" }, path);
      expect(team.status).toBe(403);
      expect(team.body.message).toBe('context.team "ops" contradicts the principal of agent alice (team finance)');
    }
    expect((await report("carol", { team: "finance" })).body).toEqual({
      error: "forbidden",
      message: 'context.team "finance" contradicts the principal of agent carol (no team)',
    });
    expect(d.store.recent(1000).length).toBe(intents);
    expect([...auditRows(d.db)].length).toBe(audit);
    expect(d.db.prepare("SELECT count(*) AS n FROM soft_limit_ledger").get()).toEqual(ledger);
  });
});

describe("principals: team scope", () => {
  it("agents of one team share the team's cap; an agent without a team counts alone", async () => {
    expect((await report("alice", { tenant: "acme", team: "finance" })).body.decision).toBe("APPROVED");
    expect((await report("bob")).body.decision).toBe("APPROVED");
    const over = await report("alice");
    expect(over.body.decision).toBe("PENDING");
    expect(limitReason(over.body).message).toContain("team acme/finance");
    // carol (tenant acme, no team) and mallory (no principal) each have their own stream
    for (const agent of ["carol", "mallory"] as const) {
      expect((await report(agent)).body.decision).toBe("APPROVED");
      expect((await report(agent)).body.decision).toBe("APPROVED");
      expect((await report(agent)).body.decision).toBe("PENDING");
    }
  });
});

describe("principals: dev mode (no tokens) takes the agent from the body", () => {
  it("the body's agent's principal applies", async () => {
    const r = await http(`${dev.url}/v1/intents`, {
      body: { agent: "bob", action: "report.daily", params: {}, context: { tenant: "initech" } },
    });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('context.tenant "initech" contradicts the principal of agent bob (tenant acme)');
    const ok = await http(`${dev.url}/v1/intents`, {
      body: { agent: "bob", action: "report.daily", params: {}, context: { tenant: "acme" } },
    });
    expect(ok.body.decision).toBe("APPROVED");
  });
});

describe("principals: config file", () => {
  const file = (text: string) => {
    const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, text);
    return f;
  };

  it("reads principals", () => {
    const c = loadConfig(
      { config: file("principals:\n  treasury-bot: { tenant: acme, team: finance }\n  reporter: { tenant: acme }\n") },
      {},
    );
    expect(c.principals).toEqual({ "treasury-bot": { tenant: "acme", team: "finance" }, reporter: { tenant: "acme" } });
    expect(loadConfig({}, {}).principals).toEqual({});
  });

  it("rejects malformed principals, naming the path", () => {
    const cases: [string, RegExp][] = [
      ["principals:\n  treasury-bot: { tenant: '' }\n", /principals\.treasury-bot\.tenant must be a non-empty string/],
      [
        "principals:\n  treasury-bot: { team: finance }\n",
        /principals\.treasury-bot\.tenant must be a non-empty string/,
      ],
      ["principals:\n  treasury-bot: { tenant: 7 }\n", /principals\.treasury-bot\.tenant must be a non-empty string/],
      [
        "principals:\n  treasury-bot: { tenant: acme, team: [] }\n",
        /principals\.treasury-bot\.team must be a non-empty string/,
      ],
      [
        "principals:\n  treasury-bot: { tenant: acme, tennant: x }\n",
        /principals\.treasury-bot: unknown key\(s\) tennant/,
      ],
      ["principals:\n  treasury-bot: acme\n", /principals\.treasury-bot must be a mapping/],
      ["principals: [a, b]\n", /principals must be a mapping/],
    ];
    for (const [text, re] of cases) {
      const f = file(text);
      expect(() => loadConfig({ config: f }, {})).toThrow(ConfigError);
      expect(() => loadConfig({ config: f }, {})).toThrow(re);
    }
  });
});
