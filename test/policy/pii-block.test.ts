// The pii policy block: load-time errors (positioned, saying what to fix), and decisions per detector, rule, scope
// and pattern, with reasons naming the detector and path but never the value.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicy, isPolicyError, evaluateBlocks, combineVerdicts, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { tempDir, intent } from "./helpers.ts";

let t: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  t = await tempDir();
});
afterAll(() => t.cleanup());

async function load(yaml: string): Promise<LoadedPolicy> {
  return loadPolicy(await t.write(`p${Math.random().toString(36).slice(2)}.yaml`, yaml));
}
async function loadError(yaml: string): Promise<string> {
  try {
    await load(yaml);
  } catch (e) {
    if (isPolicyError(e)) return e.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join("\n");
    throw e;
  }
  throw new Error("the policy loaded");
}

const BASE = `tool_calls:\n  allow: ["crm.*", "mail.*"]\nactions:\n  allow: ["report.*"]\n`;
const principal = { tenant: "acme", team: "sales" };

async function run(policy: LoadedPolicy, tool: string, args: Record<string, unknown>, team = "sales") {
  const i = intent({ action: "tool.call", params: { tool, args } });
  const verdicts = await evaluateBlocks(policy, i, { now: new Date(), principal: { ...principal, team } });
  return { ...combineVerdicts(verdicts), rewrite: verdicts.find((v) => v.rewrite)?.rewrite };
}

describe("pii block: loading", () => {
  it("refuses a non-RE2 pattern at its line and column, saying why", async () => {
    const msg = await loadError(`${BASE}pii:\n  patterns:\n    - id: emp\n      regex: "(?<=EMP)-[0-9]+"\n      action: deny\n`);
    expect(msg).toMatch(/^8:14 pii\.patterns\.0\.regex: is not an RE2 regular expression/);
    const back = await loadError(`${BASE}pii:\n  patterns:\n    - id: emp\n      regex: "(EMP)-\\\\1"\n      action: deny\n`);
    expect(back).toMatch(/RE2 has no lookahead, lookbehind or backreferences/);
  });

  it("names unknown detectors, actions and pattern ids that shadow built-ins", async () => {
    expect(await loadError(`${BASE}pii:\n  detectors:\n    emial: deny\n`)).toMatch(/unknown field "emial"; did you mean "email"\?/);
    expect(await loadError(`${BASE}pii:\n  detectors:\n    email: block\n`)).toMatch(/must be "deny", "hold", "redact" or "allow"/);
    expect(await loadError(`${BASE}pii:\n  rules:\n    - {detector: ssn, action: deny}\n`)).toMatch(/unknown detector "ssn"; use "\*", a pattern id or one of: email/);
    expect(
      await loadError(`${BASE}pii:\n  patterns:\n    - {id: email, regex: "x+", action: deny}\n`),
    ).toMatch(/"email" is a built-in detector; give the pattern its own id/);
  });
});

describe("pii block: decisions", () => {
  it("minimal form: deny names the detector and path, never the value", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {us_ssn: deny, email: redact, payment_card: deny}\n`);
    const r = await run(p, "crm.update", { customer: { ssn: "536-22-1234", note: "ok" } });
    expect(r.effect).toBe("deny");
    expect(r.reasons).toEqual([
      {
        block: "pii",
        rule: "us_ssn",
        message: "params.args.customer.ssn contains a US social security number (us_ssn); pii.detectors.us_ssn is deny",
      },
    ]);
    expect(JSON.stringify(r.reasons)).not.toContain("536");
    // the stored form has the SSN replaced even though nothing is attested
    expect(JSON.stringify(r.rewrite?.stored)).not.toContain("536-22-1234");
  });

  it("a key that is PII is judged like a value, and named by its object, never by itself", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {email: redact, us_ssn: deny}\n`);
    const r = await run(p, "mail.send", { scores: { "alice@example.com": 5 } });
    expect(r.effect).toBe("allow");
    expect(r.rewrite?.params).toEqual({ tool: "mail.send", args: { scores: { "[REDACTED:email]": 5 } } });
    const d = await run(p, "mail.send", { ids: { "536-22-1234": { ok: true } } });
    expect(d.effect).toBe("deny");
    expect(d.reasons[0]!.message).toBe(
      "a key of params.args.ids is a US social security number (us_ssn); pii.detectors.us_ssn is deny",
    );
    expect(JSON.stringify([d.reasons, d.rewrite?.stored, d.rewrite?.fields])).not.toContain("536-22-1234");
    expect(d.rewrite?.stored).toEqual({ tool: "mail.send", args: { ids: { "[REDACTED:us_ssn]": { ok: true } } } });
  });

  it("redact does not decide: tool_calls allows, the rewrite carries the redacted params", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {email: redact}\n`);
    const r = await run(p, "mail.send", { to: "alice@example.com", body: "hi alice@example.com, order ORD-2024-000123" });
    expect(r.effect).toBe("allow");
    expect(r.rewrite?.params).toEqual({
      tool: "mail.send",
      args: { to: "[REDACTED:email]", body: "hi [REDACTED:email], order ORD-2024-000123" },
    });
    expect(r.rewrite?.fields).toEqual(["params.args.to", "params.args.body"]);
    // nothing found: no rewrite
    expect((await run(p, "mail.send", { to: "x" })).rewrite).toBeUndefined();
  });

  it("lists at most 20 reasons, counting the rest", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {email: deny}\n`);
    const list = Array.from({ length: 30 }, (_, i) => `user${i}@example.com`);
    const r = await run(p, "crm.update", { list });
    expect(r.effect).toBe("deny");
    expect(r.reasons).toHaveLength(21);
    expect(r.reasons[20]).toEqual({ block: "pii", rule: "email", message: "10 more findings not listed (at most 20 are)" });
  });

  it("hold raises PENDING naming the rule; a deny elsewhere wins over it", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {phone: hold, secret: deny}\n`);
    const held = await run(p, "crm.note", { text: "call +44 20 7946 0958" });
    expect(held.effect).toBe("hold");
    expect(held.reasons[0]).toMatchObject({ block: "pii", rule: "phone" });
    const denied = await run(p, "crm.note", { text: "call +44 20 7946 0958", key: "AKIAIOSFODNN7EXAMPLE" });
    expect(denied.effect).toBe("deny");
    expect(denied.reasons[0]!.message).toBe(
      "params.args.key contains a secret or API key (secret, aws_access_key); pii.detectors.secret is deny",
    );
  });

  it("rules by scope and tool: the most severe matching rule wins, the detector's own action elsewhere", async () => {
    const p = await load(
      `${BASE}pii:\n  detectors: {email: deny}\n  rules:\n` +
        `    - {id: crm-email, detector: email, action: allow, tools: ["crm.*"]}\n` +
        `    - {id: sales-email, detector: email, action: redact, scope: "org:acme/team:sales/server:mail"}\n` +
        `    - {id: any-support, detector: "*", action: hold, scope: "org:acme/team:support"}\n`,
    );
    const args = { to: "alice@example.com" };
    expect((await run(p, "crm.lookup", args)).effect).toBe("allow");
    expect((await run(p, "crm.lookup", args)).rewrite).toBeUndefined();
    const sales = await run(p, "mail.send", args);
    expect(sales.effect).toBe("allow");
    expect(sales.rewrite?.params).toEqual({ tool: "mail.send", args: { to: "[REDACTED:email]" } });
    // support: allow (crm-email) and hold (any-support) both match crm.* → hold
    const support = await run(p, "crm.lookup", args, "support");
    expect(support.effect).toBe("hold");
    expect(support.reasons[0]).toMatchObject({ rule: "any-support" });
    expect(support.reasons[0]!.message).toMatch(/pii\.rules\[2\] is hold$/);
    // other teams on mail: no rule matches → the detector's deny
    expect((await run(p, "mail.send", args, "ops")).effect).toBe("deny");
  });

  it("operator patterns decide with their own action; apply_to limits what is scanned", async () => {
    const p = await load(
      `${BASE}pii:\n  apply_to: ["tool.call"]\n  patterns:\n    - {id: employee_id, regex: "EMP-[0-9]{6}", action: redact}\n`,
    );
    const r = await run(p, "crm.update", { who: "EMP-123456" });
    expect(r.rewrite?.params).toEqual({ tool: "crm.update", args: { who: "[REDACTED:employee_id]" } });
    const report = intent({ action: "report.publish", params: { who: "EMP-123456" } });
    const v = await evaluateBlocks(p, report, { now: new Date() });
    expect(v.find((x) => x.rewrite)).toBeUndefined();
  });

  it("holds.overrides may name a pii detector that holds", async () => {
    const p = await load(`${BASE}pii:\n  detectors: {iban: hold}\nholds:\n  overrides:\n    - {rule: iban, approvals_required: 2}\n`);
    expect(p.config.holdRuleIds.has("iban")).toBe(true);
  });

  it("the support-pii example: contact data to the helpdesk, redacted for other tools, SSNs denied", async () => {
    const p = await loadPolicy(new URL("../../policy-examples/support-pii/policy.yaml", import.meta.url).pathname);
    const call = async (tool: string, args: Record<string, unknown>) => {
      const v = await evaluateBlocks(p, intent({ action: "tool.call", params: { tool, args } }), { now: new Date() });
      return { ...combineVerdicts(v), rewrite: v.find((x) => x.rewrite)?.rewrite };
    };
    const helpdesk = await call("helpdesk.reply", { to: "alice@example.com", text: "call us at +1 415 555 2671" });
    expect(helpdesk.effect).toBe("allow");
    expect(helpdesk.rewrite).toBeUndefined();
    expect((await call("crm.get_contact", { ssn: "536-22-1234" })).effect).toBe("deny");
    // a business action's params: the reply goes out with the address redacted
    const v = await evaluateBlocks(p, intent({ action: "support.reply", params: { text: "mail alice@example.com" } }), {
      now: new Date(),
    });
    expect(combineVerdicts(v).effect).toBe("allow");
    expect(v.find((x) => x.rewrite)?.rewrite?.params).toEqual({ text: "mail [REDACTED:email]" });
  });
});
