// The pii block through the real agent API (and the operator API for a hold): every detector denies its true
// positives and nothing fires on benign values; `redact` answers redacted params that the attestation binds (checked
// with jose against the JWKS and with the executor gate); nothing raw reaches the store; output redaction of a result.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import fc from "fast-check";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { createGate, memoryReplayStore } from "../../executor-gate/index.ts";
import { intentDigest } from "../../protocol/index.ts";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";

const TOKEN = "pii-agent-token-0123456789";
const OTHER = "pii-other-token-0123456789";
const OPERATOR = "pii-operator-token-0123456789";
const EXECUTOR = "pii-executor-token-0123456789";

const POLICY = `
tool_calls:
  allow: ["crm.*", "mail.*", "all.*"]
pii:
  detectors: {email: redact, payment_card: redact, us_ssn: deny, phone: hold}
  patterns:
    - {id: employee_id, regex: "EMP-[0-9]{6}", action: redact}
  rules:
    - {id: crm-email, detector: email, action: allow, tools: ["crm.lookup"]}
    - {id: all-deny, detector: "*", action: deny, tools: ["all.*"]}
    - {detector: iban, action: deny, tools: ["all.*"]}
    - {detector: uk_nino, action: deny, tools: ["all.*"]}
    - {detector: es_dni, action: deny, tools: ["all.*"]}
    - {detector: it_codice_fiscale, action: deny, tools: ["all.*"]}
    - {detector: br_cpf, action: deny, tools: ["all.*"]}
    - {detector: secret, action: deny, tools: ["all.*"]}
`;

const SAMPLES: Record<string, string> = {
  email: "alice@example.com",
  phone: "+44 20 7946 0958",
  payment_card: "4111 1111 1111 1111",
  iban: "DE89 3704 0044 0532 0130 00",
  us_ssn: "536-22-1234",
  uk_nino: "AB123456C",
  es_dni: "12345678Z",
  it_codice_fiscale: "RSSMRA85T10A562S",
  br_cpf: "111.444.777-35",
  secret: "AKIAIOSFODNN7EXAMPLE",
  employee_id: "EMP-123456",
};

type Daemon = Awaited<ReturnType<typeof startTestDaemon>>;
let d: Daemon;
let dir: string;
let operatorUrl: string;
beforeAll(async () => {
  dir = tempDir("isc-pii-");
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = await startTestDaemon({
    config: {
      policyFile,
      agentTokens: { bot: TOKEN, other: OTHER },
      operatorTokens: { alice: OPERATOR },
      executorTokens: { gate: EXECUTOR },
    },
  });
  operatorUrl = `http://${d.operatorAddr}`;
});
afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const declare = (tool: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  http(`${d.url}/v1/intents`, { token: TOKEN, body: { action: "tool.call", params: { tool, args }, ...extra } });
const rows = (sql: string) => JSON.stringify(d.db.prepare(sql).all());

describe("pii through the agent API: detectors", () => {
  for (const [detector, value] of Object.entries(SAMPLES)) {
    it(`${detector}: denied on all.*, naming the detector and the path, never the value`, async () => {
      const r = await declare("all.send", { nested: { field: `see ${value} here` } });
      expect(r.body.decision).toBe("DENIED");
      const reasons = r.body.reasons as { block: string; rule: string; message: string }[];
      expect(reasons.some((x) => x.block === "pii" && x.message.startsWith("params.args.nested.field contains"))).toBe(true);
      expect(reasons.some((x) => x.message.includes(`(${detector}`))).toBe(true);
      expect(JSON.stringify(reasons)).not.toContain(value);
      expect(rows(`SELECT intent_json, reasons_json FROM intents WHERE id = '${r.body.intent_id}'`)).not.toContain(value);
    });
  }

  it("benign values (hashes, addresses, UUIDs, timestamps, order numbers) are approved untouched", async () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    await fc.assert(
      fc.asyncProperty(
        hex(64),
        hex(40),
        fc.uuid(),
        fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999_999 }),
        async (h, a, u, t, n) => {
          const args = {
            tx: `0x${h}`,
            to: `0x${a}`,
            id: u,
            at: t.toISOString(),
            unix: Math.floor(t.getTime() / 1000),
            order: `ORD-2024-${String(n).padStart(6, "0")}`,
            note: `tx 0x${h} for ORD-2024-${String(n).padStart(6, "0")} at ${t.toISOString()}`,
          };
          const r = await declare("all.send", args);
          expect(r.body.decision, JSON.stringify(r.body.reasons)).toBe("APPROVED");
          expect(r.body.redacted).toBeUndefined();
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("pii through the agent API: actions", () => {
  it("redact: APPROVED with redacted.params, and the attestation binds the redacted intent", async () => {
    const args = { to: "alice@example.com", body: "card 4111 1111 1111 1111, emp EMP-123456", amount: 5 };
    const r = await declare("mail.send", args);
    expect(r.status).toBe(200);
    expect(r.body.decision).toBe("APPROVED");
    const redacted = {
      tool: "mail.send",
      args: { to: "[REDACTED:email]", body: "card [REDACTED:payment_card], emp [REDACTED:employee_id]", amount: 5 },
    };
    expect(r.body.redacted).toEqual({ params: redacted });
    const { payload } = await jwtVerify(r.body.attestation, createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`)));
    const bound = intentDigest({ agent: "bot", action: "tool.call", params: redacted });
    expect((payload as { intent: { digest: string } }).intent.digest).toBe(bound);
    expect(bound).not.toBe(intentDigest({ agent: "bot", action: "tool.call", params: { tool: "mail.send", args } }));

    // the executor gate accepts the redacted form and refuses the original
    const gate = () => createGate({ jwks: `${d.url}/.well-known/jwks.json`, replay: memoryReplayStore({ unsafeAllowReplayAfterRestart: true }) });
    await expect(gate().verify(r.body.attestation, { agent: "bot", action: "tool.call", params: redacted })).resolves.toBeTruthy();
    await expect(
      gate().verify(r.body.attestation, { agent: "bot", action: "tool.call", params: { tool: "mail.send", args } }),
    ).rejects.toThrow();

    // nothing raw at rest; GET and an idempotent replay hand out the same redacted params
    expect(rows("SELECT intent_json, claims_json FROM intents")).not.toContain("alice@example.com");
    expect(rows("SELECT data_json FROM audit")).not.toContain("alice@example.com");
    const got = await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: TOKEN });
    expect(got.body.redacted).toEqual({ params: redacted });
  });

  it("an idempotent retry of a redacted intent replays it (not a conflict)", async () => {
    const body = { to: "bob@example.com" };
    const a = await declare("mail.send", body, { idempotency_key: "pii-retry-1" });
    const b = await declare("mail.send", body, { idempotency_key: "pii-retry-1" });
    expect(b.status).toBe(200);
    expect(b.body.intent_id).toBe(a.body.intent_id);
    expect(b.body.redacted).toEqual({ params: { tool: "mail.send", args: { to: "[REDACTED:email]" } } });
  });

  it("allow by rule: crm.lookup may carry an email (no redaction)", async () => {
    const r = await declare("crm.lookup", { q: "alice@example.com" });
    expect(r.body.decision).toBe("APPROVED");
    expect(r.body.redacted).toBeUndefined();
  });

  it("deny: an SSN is DENIED naming the path", async () => {
    const r = await declare("crm.update", { customer: { ssn: "536-22-1234" } });
    expect(r.body.decision).toBe("DENIED");
    expect(r.body.reasons).toContainEqual({
      block: "pii",
      rule: "us_ssn",
      message: "params.args.customer.ssn contains a US social security number (us_ssn); pii.detectors.us_ssn is deny",
    });
  });

  it("hold: a phone number is PENDING; the hold stores no raw phone; approval attests the declared call", async () => {
    const args = { note: "call +44 20 7946 0958", to: "carol@example.com" };
    const r = await declare("crm.note", args);
    expect(r.status).toBe(202);
    expect(r.body.decision).toBe("PENDING");
    expect(r.body.reasons[0]).toMatchObject({ block: "pii", rule: "phone" });
    // the hold binds the email-redacted form (redact) and keeps the phone (the operator reviews it)
    const bound = { tool: "crm.note", args: { note: "call +44 20 7946 0958", to: "[REDACTED:email]" } };
    expect(r.body.redacted).toEqual({ params: bound });
    expect(rows("SELECT intent_json FROM holds")).not.toContain("7946");
    expect(rows("SELECT intent_json FROM intents")).not.toContain("7946");
    const ok = await http(`${operatorUrl}/v1/holds/${r.body.hold.id}/approve`, { token: OPERATOR, body: {} });
    expect(ok.status).toBe(200);
    const done = await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: TOKEN });
    expect(done.body.decision).toBe("APPROVED");
    const { payload } = await jwtVerify(done.body.attestation, createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`)));
    expect((payload as { intent: { digest: string } }).intent.digest).toBe(
      intentDigest({ agent: "bot", action: "tool.call", params: bound }),
    );
  });
});

describe("POST /v1/intents/{id}/result: output redaction", () => {
  let intentId: string;
  beforeAll(async () => {
    intentId = (await declare("mail.read", { folder: "inbox" })).body.intent_id;
  });
  const post = (id: string, body: unknown, token = TOKEN) => http(`${d.url}/v1/intents/${id}/result`, { token, body });

  it("returns the result with PII redacted and records only the counts", async () => {
    const result = {
      content: [{ type: "text", text: "from alice@example.com, card 4111 1111 1111 1111" }],
      structured: { rows: [{ email: "bob@example.com", id: "ORD-2024-000123" }], raw: JSON.stringify({ e: "x@example.org" }) },
    };
    const r = await post(intentId, { result });
    expect(r.status).toBe(200);
    expect(r.body.result).toEqual({
      content: [{ type: "text", text: "from [REDACTED:email], card [REDACTED:payment_card]" }],
      structured: { rows: [{ email: "[REDACTED:email]", id: "ORD-2024-000123" }], raw: JSON.stringify({ e: "[REDACTED:email]" }) },
    });
    expect(r.body.redactions).toEqual({ total: 4, detectors: { email: 3, payment_card: 1 } });
    expect(r.body.policy.digest).toMatch(/^sha256:/);
    const audit = d.db.prepare("SELECT data_json AS data FROM audit WHERE type = 'result.redacted'").all() as { data: string }[];
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.data)).toMatchObject({ intent_id: intentId, counts: { email: 3, payment_card: 1 } });
    expect(JSON.stringify(audit)).not.toMatch(/alice|bob@|4111/);
  });

  it("a result of the deny/hold detectors is redacted too (the call already ran)", async () => {
    const r = await post(intentId, { result: "ssn 536-22-1234, phone +44 20 7946 0958" });
    expect(r.body.result).toBe("ssn [REDACTED:us_ssn], phone [REDACTED:phone]");
  });

  it("only the intent's own agent; executors refused; malformed bodies and unscannable results refused", async () => {
    expect((await post(intentId, { result: 1 }, OTHER)).status).toBe(404);
    expect((await post("int_nope", { result: 1 })).status).toBe(404);
    expect((await post(intentId, { result: 1 }, EXECUTOR)).status).toBe(403);
    expect((await post(intentId, { nope: 1 })).body.error).toBe("invalid_request");
    expect((await http(`${d.url}/v1/intents/${intentId}/result`, { token: TOKEN, raw: "{x" })).body.error).toBe("invalid_json");
    let deep: unknown = "alice@example.com";
    for (let i = 0; i < 80; i++) deep = [deep];
    const r = await post(intentId, { result: deep });
    expect(r.status).toBe(422);
    expect(JSON.stringify(r.body)).not.toContain("alice");
  });
});
