// Safe reload through the daemon (threat model class 8): while an editor writes the policy in place, with pauses
// between chunks shorter than the default settle interval, no prefix of the file becomes active: a 900k disbursement
// without a ticket is never APPROVED and /healthz keeps the old digest. Once the file rests, the new policy is in
// force. An operator reload (POST /v1/policy/reload) still applies at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { open } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function policy(version: string): string {
  return [
    "actions:",
    `  allow: ["treasury.disburse", "report.${version}"]`,
    "# a comment or two, as a real policy has",
    "custom:",
    "  - id: no-disbursement-without-ticket",
    `    when: 'intent.action == "treasury.disburse"'`,
    `    deny: '!has(intent.params.ticket) || intent.params.ticket == ""'`,
    '    reason: "disbursements need a ticket reference"',
    "",
  ].join("\n");
}

const dir = tempDir();
const policyFile = join(dir, "policy.yaml");
let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  writeFileSync(policyFile, policy("a"));
  d = await startTestDaemon({ config: { policyFile, operatorTokens: { op: "tok-operator" } } });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
  removeDir(dir);
});

const disburse = { agent: "treasury-bot", action: "treasury.disburse", params: { amount_usd: "900000" } };

describe("safe reload (daemon)", () => {
  it("a policy written in place in chunks never serves its ticket-less prefix", async () => {
    const digest = (await http(`${d.url}/healthz`)).body.policy.digest as string;
    let writing = true;
    const decisions = new Set<string>();
    const digests = new Set<string>();
    const poll = (async () => {
      while (writing) {
        decisions.add((await http(`${d.url}/v1/intents`, { body: disburse })).body.decision);
        digests.add((await http(`${d.url}/healthz`)).body.policy.digest);
        await sleep(10);
      }
    })();
    const h = await open(policyFile, "w");
    for (const line of policy("b").split(/(?<=\n)/)) {
      await h.write(line);
      await sleep(200); // longer than the old 150 ms debounce, shorter than the settle interval
    }
    await h.close();
    writing = false;
    await poll;
    expect([...decisions]).toEqual(["DENIED"]);
    expect([...digests]).toEqual([digest]);

    // once the file rests, the new policy takes over
    const deadline = Date.now() + 5000;
    let now = digest;
    while (now === digest && Date.now() < deadline) {
      await sleep(50);
      now = (await http(`${d.url}/healthz`)).body.policy.digest;
    }
    expect(now).not.toBe(digest);
    expect(
      (await http(`${d.url}/v1/intents`, { body: { agent: "r", action: "report.b", params: {} } })).body.decision,
    ).toBe("APPROVED");
    expect((await http(`${d.url}/v1/intents`, { body: disburse })).body.decision).toBe("DENIED");
  });

  it("POST /v1/policy/reload applies a change at once", async () => {
    writeFileSync(policyFile, policy("c"));
    const r = await http(`http://${d.operatorAddr}/v1/policy/reload`, {
      method: "POST",
      token: "tok-operator",
      body: {},
    });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect((await http(`${d.url}/healthz`)).body.policy.digest).toBe(r.body.digest);
    expect(
      (await http(`${d.url}/v1/intents`, { body: { agent: "r", action: "report.c", params: {} } })).body.decision,
    ).toBe("APPROVED");
  });
});
