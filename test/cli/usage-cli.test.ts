// `intent-sidecar usage` as a real child process against a real operator listener: a table of cost totals and
// budget states, --json as the API answers, filters passed through, bad filters and tokens refused with exit 2.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestDaemon, http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { BIN } from "./daemon-process.ts";

const AGENTS = { alice: "usage-cli-alice-token", dave: "usage-cli-dave-token" };
const OP = "usage-cli-operator-token";
let dir: string;
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  dir = tempDir("isc-usage-cli-");
  writeFileSync(
    join(dir, "policy.yaml"),
    `actions:
  allow: ["llm.*"]
budgets:
  - id: tenant-month
    scope: tenant
    per: month
    limit: "100 USD"
    alert_at: [0.5]
`,
  );
  d = await startTestDaemon({
    dataDir: join(dir, "data"),
    config: {
      policyFile: join(dir, "policy.yaml"),
      agentTokens: AGENTS,
      operatorTokens: { op: OP },
      principals: { alice: { tenant: "acme", team: "finance" } },
    },
  });
  for (const [agent, amount] of [["alice", "40"], ["alice", "12.5"], ["dave", "3"]] as const) {
    const r = await http(`${d.url}/v1/intents`, { token: AGENTS[agent], body: { action: "llm.complete", params: {}, cost: { amount, currency: "USD" } } });
    expect(r.body.decision).toBe("APPROVED");
  }
});
afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, "usage", ...args],
      { env: { ...process.env, INTENT_SIDECAR_OPERATOR_URL: `http://${d.operatorAddr}`, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 2) : 0, stdout, stderr }),
    );
  });
}

describe("usage CLI", { timeout: 180_000 }, () => {
  it("prints totals and budget states as tables, and the API's JSON with --json", async () => {
    const [text, json, tenants] = await Promise.all([
      cli(["--token", OP]),
      cli(["--json", "--window", "day"], { INTENT_SIDECAR_OPERATOR_TOKEN: OP }),
      cli(["--scope", "tenant", "--token", OP]),
    ]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split("\n");
    expect(lines[0]).toMatch(/^costs since \d{4}-\d{2}-01T00:00:00\.000Z \(window month\)$/);
    expect(lines[1]).toMatch(/^SCOPE\s+KEY\s+TOTAL$/);
    expect(lines).toContainEqual(expect.stringMatching(/^agent\s+alice\s+52\.5 USD$/));
    expect(lines).toContainEqual(expect.stringMatching(/^agent\s+dave\s+3 USD$/));
    expect(lines).toContainEqual(expect.stringMatching(/^team\s+acme\/finance\s+52\.5 USD$/));
    expect(lines).toContainEqual(expect.stringMatching(/^tenant\s+acme\s+52\.5 USD$/));
    expect(lines).toContainEqual(expect.stringMatching(/^BUDGET\s+SCOPE\s+KEY\s+WINDOW\s+SPENT\s+USED\s+ALERTED\s+BEYOND$/));
    expect(lines).toContainEqual(expect.stringMatching(/^tenant-month\s+tenant\s+acme\s+month from \S+\s+52\.5 \/ 100 USD\s+52\.5%\s+50%\s+hold$/));
    // dave has no principal: counted alone against the tenant budget
    expect(lines).toContainEqual(expect.stringMatching(/^tenant-month\s+tenant\s+dave \(alone\)\s+month from \S+\s+3 \/ 100 USD\s+3%\s+-\s+hold$/));

    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body.costs.window).toBe("day");
    expect(body.budgets[0]).toMatchObject({ id: "tenant-month", limit: "100", currency: "USD" });

    expect(tenants.code).toBe(0);
    expect(tenants.stdout).not.toMatch(/^agent\s/m);
    expect(tenants.stdout).toMatch(/^tenant\s+acme\s+52\.5 USD$/m);
  });

  it("refuses bad filters and tokens with exit 2 and a message that says what to fix", async () => {
    const [scope, window, agentToken, both] = await Promise.all([
      cli(["--scope", "org", "--token", OP]),
      cli(["--window", "fortnight", "--token", OP]),
      cli(["--token", AGENTS.alice]),
      cli(["--window", "day", "--since", "2026-01-01T00:00:00Z", "--token", OP]),
    ]);
    expect(scope).toMatchObject({ code: 2, stdout: "" });
    expect(scope.stderr).toContain("--scope must be agent, team or tenant");
    expect(window.code).toBe(2);
    expect(window.stderr).toContain("window must be day, week, month or a duration");
    expect(agentToken.code).toBe(2);
    expect(agentToken.stderr).toContain("operator token was refused (401)");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("either --window or --since");
  });
});
