// `intent-sidecar holds list|show|approve|deny` as a real child process against a real operator listener.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { startTestDaemon, http, removeDir } from "../sidecar/helpers.ts";
import { BIN } from "./daemon-process.ts";
import { stubPolicy } from "../holds/policy-stub.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let op: string;
const TOKENS = { alice: "cli-alice", bob: "cli-bob" };

beforeAll(async () => {
  d = await startTestDaemon({
    policy: stubPolicy({ hold: ["treasury.disburse"], overrides: { review: 2 } }),
    config: { operatorTokens: TOKENS },
  });
  op = `http://${d.operatorAddr}`;
});
afterAll(async () => {
  await d?.close();
  if (d) removeDir(d.dataDir);
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "holds", ...args], { env: { ...process.env, INTENT_SIDECAR_OPERATOR_URL: op, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 2) : 0, stdout, stderr }),
    );
  });
}

async function hold(): Promise<{ id: string; intent_id: string }> {
  const r = await http(`${d.url}/v1/intents`, {
    body: { agent: "treasury-bot", action: "treasury.disburse", params: { amount_usd: 70000 }, context: {} },
  });
  return { id: r.body.hold.id, intent_id: r.body.intent_id };
}

// Each CLI run is a fresh node + tsx process: allow for a loaded machine.
describe("holds CLI", { timeout: 180_000 }, () => {
  it("lists pending holds as a table and as JSON", async () => {
    const h = await hold();
    const [table, json] = await Promise.all([
      cli(["list", "--token", TOKENS.alice]),
      cli(["list", "--json"], { INTENT_SIDECAR_OPERATOR_TOKEN: TOKENS.alice }),
    ]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STATE\s+AGENT\s+ACTION\s+APPROVALS\s+EXPIRES IN\s+RULES$/);
    const row = lines.find((l) => l.startsWith(h.id))!;
    expect(row).toMatch(/pending\s+treasury-bot\s+treasury\.disburse\s+0\/2\s+23h5\dm\s+review/);
    expect(json.code).toBe(0);
    // --json prints the operator API's answer as documented (docs/operator-guide.md): {holds, now}
    const listed = JSON.parse(json.stdout) as { holds: { id: string; state: string; agent: string; rules: string[] }[]; now: string };
    expect(Object.keys(listed).sort()).toEqual(["holds", "now"]);
    expect(Date.parse(listed.now)).not.toBeNaN();
    expect(listed.holds.find((x) => x.id === h.id)).toMatchObject({ state: "pending", agent: "treasury-bot", rules: ["review"] });
  });

  it("approves by distinct operators, refuses a repeat with exit 1, and shows the result", async () => {
    const h = await hold();
    const a = await cli(["approve", h.id, "--comment", "checked invoice", "--token", TOKENS.alice]);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("1 of 2 approvals; still pending");
    const again = await cli(["approve", h.id, "--token", TOKENS.alice]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already approved");
    const b = await cli(["approve", h.id, "--json", "--token", TOKENS.bob]);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ id: h.id, state: "approved", approvals: 2 });
    const show = await cli(["show", h.id, "--token", TOKENS.bob]);
    expect(show.stdout).toContain("state       approved");
    expect(show.stdout).toMatch(/- alice at .*: checked invoice/);
    expect((await http(`${d.url}/v1/intents/${h.intent_id}`)).body.decision).toBe("APPROVED");
  });

  it("denies with a reason the agent sees", async () => {
    const h = await hold();
    const r = await cli(["deny", h.id, "--reason", "duplicate payment", "--token", TOKENS.bob]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("is now denied");
    const intent = await http(`${d.url}/v1/intents/${h.intent_id}`);
    expect(intent.body.decision).toBe("DENIED");
    expect(JSON.stringify(intent.body.reasons)).toContain("duplicate payment");
  });

  it("exits 2 with a clear message without a token, with a refused token, or when nothing listens", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
    const [none, bad, down, missing] = await Promise.all([
      cli(["list"], { INTENT_SIDECAR_OPERATOR_TOKEN: "" }),
      cli(["list", "--token", "not-an-operator"]),
      cli(["list", "--token", TOKENS.alice, "--url", `http://127.0.0.1:${closedPort}`]),
      cli(["show", "hold_nope", "--token", TOKENS.alice]),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("INTENT_SIDECAR_OPERATOR_TOKEN");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("refused (401)");
    expect(down.code).toBe(2);
    expect(down.stderr).toContain("cannot reach the operator API");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no hold with id hold_nope");
  });
});
