// holds.max_open_per_agent through the real daemon: concurrent hold-worthy intents of one agent never open more
// holds than the cap (the count is taken in the decision's transaction); the rest are DENIED saying why; other
// agents are unaffected, and a resolved hold frees a place.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import { loadPolicy, type PolicyConfig } from "../../sidecar/policy/index.ts";

const OPERATOR = "op-token-cap";
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dir: string;

beforeAll(async () => {
  dir = tempDir();
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(
    policyFile,
    `version: 1
actions:
  allow: ["treasury.disburse"]
custom:
  - id: review
    when: 'intent.action == "treasury.disburse"'
    hold: 'true'
    reason: "every disbursement is reviewed"
holds:
  max_open_per_agent: 5
`,
  );
  d = await startTestDaemon({
    dataDir: join(dir, "data"),
    config: { policyFile, operatorTokens: { alice: OPERATOR } },
  });
});

afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const post = (agent: string, n: number) =>
  http(`${d.url}/v1/intents`, { body: { agent, action: "treasury.disburse", params: { n }, context: {} } });

describe("holds.max_open_per_agent", () => {
  it("40 concurrent intents of one agent open exactly 5 holds; the others are DENIED by max_open_per_agent", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => post("flood-bot", i)));
    const pending = results.filter((r) => r.body.decision === "PENDING");
    const denied = results.filter((r) => r.body.decision === "DENIED");
    expect(pending).toHaveLength(5);
    expect(denied).toHaveLength(35);
    for (const r of denied) {
      expect(r.status).toBe(200);
      expect(r.body.reasons[0]).toEqual({
        block: "holds",
        rule: "max_open_per_agent",
        message: "agent flood-bot already has 5 pending holds (holds.max_open_per_agent)",
      });
      expect(r.body.hold).toBeUndefined();
    }
    const open = d.db
      .prepare("SELECT count(*) n FROM holds WHERE agent = ? AND state = 'pending'")
      .get("flood-bot") as {
      n: number;
    };
    expect(open.n).toBe(5);

    // another agent is not affected
    expect((await post("calm-bot", 1)).body.decision).toBe("PENDING");

    // a resolved hold frees one place
    const op = `http://${d.operatorAddr}`;
    const denyOne = await http(`${op}/v1/holds/${pending[0]!.body.hold.id}/deny`, {
      body: { reason: "no" },
      token: OPERATOR,
    });
    expect(denyOne.body.state).toBe("denied");
    expect((await post("flood-bot", 100)).body.decision).toBe("PENDING");
    expect((await post("flood-bot", 101)).body.decision).toBe("DENIED");
  });

  it("the policy field is validated and defaults to 100", async () => {
    const load = async (holds: string) => {
      const file = join(dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, `version: 1\nholds: ${holds}\n`);
      return ((await loadPolicy(file)).config as PolicyConfig).holds.maxOpenPerAgent;
    };
    expect(await load("{ max_open_per_agent: 7 }")).toBe(7);
    expect(await load("{}")).toBe(100);
    await expect(load("{ max_open_per_agent: 0 }")).rejects.toThrow(/max_open_per_agent/);
  });
});
