// Internal denials are visible, through the real daemon: a policy block that fails (a CEL rule whose evaluation
// errors; a policy engine that throws), a store error and a signing failure each give DENIED, one log line with the
// intent id and the error (never the intent's values), and intent_sidecar_internal_errors_total{stage}.
import { afterEach, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { stubPolicy } from "../holds/policy-stub.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function capture() {
  const lines: Record<string, any>[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function counter(url: string, stage: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const m = new RegExp(`^intent_sidecar_internal_errors_total\\{stage="${stage}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

const SECRET = "do-not-log-this-value-1234567890";

describe("internal errors are logged and counted", () => {
  it("a CEL rule that fails to evaluate: DENIED, a log line with the intent id, stage=policy counted", async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const policyFile = join(dir, "policy.yaml");
    writeFileSync(
      policyFile,
      `version: 1
actions:
  allow: ["treasury.disburse"]
custom:
  - id: amount-cap
    when: 'intent.action == "treasury.disburse"'
    deny: 'int(intent.params.amount) > 5'
    reason: "too much"
`,
    );
    const { log, lines } = capture();
    const d = await startTestDaemon({ dataDir: join(dir, "data"), log, config: { policyFile } });
    cleanup.push(() => d.close());
    expect(await counter(d.url, "policy")).toBe(0);
    const res = await http(`${d.url}/v1/intents`, {
      body: { agent: "bot", action: "treasury.disburse", params: { amount: SECRET }, context: {} },
    });
    expect(res.body.decision).toBe("DENIED");
    expect(res.body.reasons[0]).toMatchObject({ block: "custom", rule: "amount-cap" });
    const line = lines.find((l) => l.intent_id === res.body.intent_id);
    expect(line).toMatchObject({ level: 50, stage: "policy" });
    expect(line!.err).toMatch(/amount-cap/);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    expect(await counter(d.url, "policy")).toBe(1);
    // an ordinary denial is not an internal error
    const plain = await http(`${d.url}/v1/intents`, {
      body: { agent: "bot", action: "other.thing", params: {}, context: {} },
    });
    expect(plain.body.decision).toBe("DENIED");
    expect(await counter(d.url, "policy")).toBe(1);
  });

  it("a policy engine that throws (stage policy), a store failure (stage store), a signing failure (stage sign)", async () => {
    const { log, lines } = capture();
    const policy = stubPolicy({ allow: ["ok.action"], hold: ["held.action"] });
    const evaluate = policy.provider.evaluate;
    policy.provider.evaluate = async (p, intent, env) => {
      if (intent.action === "boom.action") throw new Error("engine exploded");
      return evaluate(p, intent, env);
    };
    const d = await startTestDaemon({
      policy,
      log,
      holds: {
        create: () => {
          throw new Error("disk I/O error");
        },
      },
    });
    cleanup.push(() => removeDir(d.dataDir));
    cleanup.push(() => d.close());
    const post = (action: string) =>
      http(`${d.url}/v1/intents`, { body: { agent: "bot", action, params: {}, context: {} } });

    const boom = await post("boom.action");
    expect(boom.body).toMatchObject({ decision: "DENIED", reasons: [{ block: "sidecar", rule: "internal_error" }] });
    expect(lines.find((l) => l.intent_id === boom.body.intent_id)).toMatchObject({
      stage: "policy",
      err: "engine exploded",
    });
    expect(await counter(d.url, "policy")).toBe(1);

    const held = await post("held.action");
    expect(held.body).toMatchObject({ decision: "DENIED", reasons: [{ block: "sidecar", rule: "internal_error" }] });
    expect(lines.find((l) => l.intent_id === held.body.intent_id)).toMatchObject({
      stage: "store",
      err: "disk I/O error",
    });
    expect(await counter(d.url, "store")).toBe(1);

    // the signer thread fails: the approval recorded a moment ago becomes a denial, on the answer and on reads
    (d.pipeline as unknown as { deps: { signer: unknown } }).deps.signer = {
      sign: () => Promise.reject(new Error("signer thread gone")),
    };
    const unsigned = await post("ok.action");
    expect(unsigned.body).toMatchObject({
      decision: "DENIED",
      reasons: [{ block: "sidecar", rule: "internal_error" }],
    });
    expect(unsigned.body.attestation).toBeUndefined();
    expect(lines.find((l) => l.intent_id === unsigned.body.intent_id)).toMatchObject({ stage: "sign" });
    expect(await counter(d.url, "sign")).toBe(1);
    const read = await http(`${d.url}/v1/intents/${unsigned.body.intent_id}`);
    expect(read.body.decision).toBe("DENIED");
    expect(read.body.attestation).toBeUndefined();
  });
});
