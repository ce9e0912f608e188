// Concurrent intents cannot jointly pass a budget: the check and the count run in the decision's SQLite transaction
// (group commit included), so 60 simultaneous 0.5 USD intents against a 10 USD budget approve exactly 20.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestDaemon, http, removeDir, tempDir } from "./helpers.ts";

let dir: string;
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  dir = tempDir("isc-cost-conc-");
  writeFileSync(
    join(dir, "policy.yaml"),
    `actions:
  allow: ["llm.*"]
budgets:
  - id: cap
    scope: tenant
    per: 1000d
    limit: "10 USD"
    on_exceed: deny
`,
  );
  d = await startTestDaemon({
    dataDir: join(dir, "data"),
    config: {
      policyFile: join(dir, "policy.yaml"),
      agentTokens: { a: "conc-token-a", b: "conc-token-b", c: "conc-token-c" },
      operatorTokens: { op: "conc-op-token" },
      principals: { a: { tenant: "acme" }, b: { tenant: "acme" }, c: { tenant: "acme" } },
    },
  });
});
afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

describe("budgets under concurrency", () => {
  it("60 concurrent 0.5 USD intents of three agents of one tenant against 10 USD: exactly 20 approved", async () => {
    const tokens = ["conc-token-a", "conc-token-b", "conc-token-c"];
    const since = new Date(Date.now() - 1000).toISOString();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        http(`${d.url}/v1/intents`, {
          token: tokens[i % 3]!,
          body: { action: "llm.run", params: { n: i }, cost: { amount: "0.5", currency: "USD" } },
        }),
      ),
    );
    const decisions = answers.map((a) => a.body.decision);
    expect(decisions.filter((x) => x === "APPROVED")).toHaveLength(20);
    expect(decisions.filter((x) => x === "DENIED")).toHaveLength(40);
    const u = await http(`http://${d.operatorAddr}/v1/usage?scope=tenant&since=${since}`, { token: "conc-op-token" });
    expect(u.body.costs.totals).toEqual([{ scope: "tenant", key: "acme", currency: "USD", total: "10" }]);
  });
});
