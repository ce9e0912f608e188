// Property tests of the OCSF mapping: whatever the decision, hold event or proxy request looks like, the event
// validates against the class fields and carries none of the values that must not leave (reason messages, params,
// context text, URL paths and queries, operator comments).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decisionEvent, detectionEvent, holdEvent, piiDetections, proxyDetections, proxyEvent, type Origin } from "../../sidecar/exports/ocsf.ts";
import { parseExportsConfig } from "../../sidecar/exports/config.ts";
import { validateOcsf } from "../../sidecar/exports/validate.ts";
import type { IntentRecord } from "../../sidecar/store/index.ts";

const origin: Origin = { product: { name: "intent-sidecar", vendor_name: "intent-sidecar", version: "0.0.0-test" }, sidecarId: "sc-1", host: "h1" };
// values that are recognisably "secret" so their absence can be checked
const secret = fc.string({ minLength: 6, maxLength: 30 }).map((s) => `SECRET${s}`);
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const time = fc.integer({ min: 1.6e12, max: 2.5e12 });

describe("OCSF mapping", () => {
  it("decisions validate and leak no message, param or context value", () => {
    fc.assert(
      fc.property(
        name,
        fc.constantFrom("tool.call", "evm.transaction", "http.request", "report.x"),
        fc.constantFrom("APPROVED", "DENIED", "PENDING"),
        fc.array(fc.record({ block: fc.constantFrom("evm", "pii", "custom"), rule: name, message: secret }), { maxLength: 4 }),
        secret,
        secret,
        time,
        (agent, action, decision, reasons, paramValue, contextValue, t) => {
          const rec = {
            id: "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee",
            agent,
            action,
            digest: "sha256:" + "a".repeat(64),
            intent: { agent, action, params: { tool: "slack.post", text: paramValue }, context: { justification: contextValue, tenant: "acme" } },
            decision,
            reasons: decision === "APPROVED" ? [] : reasons,
            policy_digest: "sha256:" + "b".repeat(64),
            created_at: new Date(t).toISOString(),
            updated_at: new Date(t).toISOString(),
          } as IntentRecord;
          const events = [decisionEvent(rec, origin), ...piiDetections(rec).map((d) => detectionEvent(d, origin))];
          for (const e of events) {
            expect(validateOcsf(e).errors).toEqual([]);
            expect(JSON.stringify(e)).not.toContain("SECRET");
          }
          expect(events[0]!.time).toBe(t);
          expect(events.length - 1).toBe(new Set(rec.reasons.filter((r) => r.block === "pii").map((r) => r.rule)).size);
        },
      ),
    );
  });

  it("a decision the pii block only redacted yields one finding per redacted path (no value)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^params(\.[a-z_]{1,8}|\[[0-9]\]){1,4}$/), { minLength: 1, maxLength: 4 }), secret, (fields, value) => {
        const rec = {
          id: "i-1",
          agent: "a1",
          action: "tool.call",
          digest: "sha256:" + "c".repeat(64),
          intent: { agent: "a1", action: "tool.call", params: { tool: "mail.send", args: { to: "[REDACTED:email]" }, v: value.replace(/./g, "x") }, context: {}, redacted: { digest: "d", fields, pii: { fields, executable: true } } },
          decision: "APPROVED",
          reasons: [],
          created_at: new Date().toISOString(),
          updated_at: "",
        } as unknown as IntentRecord;
        const found = piiDetections(rec);
        expect(found.map((d) => d.path)).toEqual(fields);
        for (const d of found) {
          const e = detectionEvent(d, origin);
          expect(validateOcsf(e).errors).toEqual([]);
          expect(e).toMatchObject({ action_id: 4, disposition_id: 11, finding_info: { types: ["PII"], analytic: { name: "redacted" } }, unmapped: { path: d.path } });
        }
      }),
    );
  });

  it("hold events keep the operator's comment out", () => {
    fc.assert(
      fc.property(fc.constantFrom("hold.created", "hold.approval", "hold.approved", "hold.denied", "hold.expired" as const), name, secret, time, (type, op, note, t) => {
        const e = holdEvent({ type, hold_id: "hold_1", intent_id: "i1", agent: "a1", ...(type === "hold.created" || type === "hold.expired" ? {} : { operator: op, note }) }, t, origin);
        expect(validateOcsf(e).errors).toEqual([]);
        expect(JSON.stringify(e)).not.toContain("SECRET");
      }),
    );
  });

  it("proxy decisions map every method to its HTTP activity and keep paths and queries out", () => {
    fc.assert(
      fc.property(fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"), fc.boolean(), secret, time, (method, allowed, path, t) => {
        const e = proxyEvent(
          { allowed, stage: "request", method, scheme: "https", host: "api.example.com", port: 443, path: `/${path}?q=${path}`, source: { binary: "node", pid: 7, sandbox_id: null }, reasons: allowed ? [] : [{ block: "network", rule: "deny", message: path }], intent_id: null },
          t,
          origin,
        );
        expect(validateOcsf(e).errors).toEqual([]);
        const activities: Record<string, number> = { DELETE: 2, GET: 3, HEAD: 4, OPTIONS: 5, POST: 6, PUT: 7, TRACE: 8, PATCH: 9 };
        expect(e.activity_id).toBe(activities[method] ?? 99);
        expect(JSON.stringify(e)).not.toContain("SECRET");
      }),
    );
  });

  it("proxy refusals of replayed or forged attestations are findings; other denials are not", () => {
    const at = (rule: string) =>
      proxyDetections(
        { allowed: false, stage: "request", method: "POST", scheme: "https", host: "pay.example.com", port: 443, path: "/x", source: { binary: null, pid: null, sandbox_id: null }, reasons: [{ block: "network", rule, message: "m" }], intent_id: "0190-i" },
        1.7e12,
      );
    expect(at("attestation.replayed")).toMatchObject([{ kind: "replay", rule: "replayed", source: "proxy", intent_id: "0190-i" }]);
    for (const code of ["bad_signature", "unknown_key", "digest_mismatch", "malformed", "wrong_issuer"]) expect(at(`attestation.${code}`)).toMatchObject([{ kind: "forgery", rule: code }]);
    for (const rule of ["attestation.expired", "attestation.missing", "attestation.wrong_audience", "deny", "host"]) expect(at(rule)).toEqual([]);
    const e = detectionEvent(at("attestation.digest_mismatch")[0]!, origin);
    expect(validateOcsf(e).errors).toEqual([]);
    expect(e).toMatchObject({ class_uid: 2004, finding_info: { types: ["Attestation Forgery"] }, disposition_id: 2, resources: [{ type: "intent", uid: "0190-i" }] });
  });

  it("every event has its own metadata.uid (SIEMs deduplicate on it); a repeated finding keeps its finding_info.uid", () => {
    const req = { allowed: false, stage: "request" as const, method: "GET", scheme: "https" as const, host: "a.example", port: 443, path: "/", source: { binary: null, pid: null, sandbox_id: null }, reasons: [], intent_id: null };
    const [a, b] = [proxyEvent(req, 1.7e12, origin), proxyEvent(req, 1.7e12, origin)];
    expect((a.metadata as { uid: string }).uid).not.toBe((b.metadata as { uid: string }).uid);
    const replay = { kind: "replay" as const, rule: "replayed", source: "redeem" as const, intent_id: "i-1", decision: "refused", time: 1.7e12 };
    const [r1, r2] = [detectionEvent(replay, origin), detectionEvent({ ...replay, time: 1.7e12 + 5 }, origin)];
    expect((r1.metadata as { uid: string }).uid).not.toBe((r2.metadata as { uid: string }).uid);
    expect((r1.finding_info as { uid: string }).uid).toBe((r2.finding_info as { uid: string }).uid);
  });

  it("the validator catches what a broken mapping would produce", () => {
    const good = decisionEvent({ id: "i", agent: "a", action: "x.y", digest: "d", intent: { agent: "a", action: "x.y", params: {}, context: {} }, decision: "DENIED", reasons: [], created_at: new Date().toISOString(), updated_at: "" } as IntentRecord, origin);
    expect(validateOcsf(good).errors).toEqual([]);
    expect(validateOcsf({ ...good, type_uid: 6003 }).errors).toContain("type_uid must be class_uid * 100 + activity_id");
    expect(validateOcsf({ ...good, time: Math.floor(good.time / 1000) }).errors).toContain("time must be ms since the epoch");
    expect(validateOcsf({ ...good, api: { service: {} } }).errors).toContain("api.operation is required");
    expect(validateOcsf({ ...good, src_endpoint: undefined }).errors).toContain("API Activity: required src_endpoint is missing");
    expect(validateOcsf({ ...good, category_uid: 3 }).errors).toContain("category_uid must be 6 for API Activity");
    expect(validateOcsf({ ...good, metadata: { product: { name: "x", vendor_name: "y" }, version: "2.0.0" } }).errors).toContain("metadata.version must be an OCSF 1.x version");
  });

  it("max_bytes accepts the usual size spellings", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.constantFrom(["KiB", 1024], ["k", 1024], ["kb", 1024], ["MiB", 1024 ** 2], ["mb", 1024 ** 2], ["M", 1024 ** 2], ["GiB", 1024 ** 3]), (n, [unit, mult]) => {
        const c = parseExportsConfig({ ocsf_jsonl: { path: "x.jsonl", max_bytes: `${n + 4}${unit}` } }, "/tmp");
        expect(c!.ocsfJsonl!.maxBytes).toBe((n + 4) * (mult as number));
      }),
    );
  });
});
