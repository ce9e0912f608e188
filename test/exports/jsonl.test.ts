// The OCSF JSONL export through the real daemon (reference policy, real agent, operator and proxy listeners): a
// decision of each kind, a hold created and approved, a policy reload applied and one refused, a proxy denial, an
// attestation replay and a forged attestation at the redemption route, and a PII detection; every line validates
// against the OCSF class fields the exports use (sidecar/exports/ocsf-classes.json), and nothing secret leaves.
import { cpSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateOcsf } from "../../sidecar/exports/validate.ts";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { nativeTransfer, VENDOR_A } from "../sidecar/intents.ts";
import { piiPolicy, readJsonl, startExportDaemon, waitFor } from "./helpers.ts";

const OP = "operator-token-for-exports-test";
let dir: string;
let file: string;
let d: Awaited<ReturnType<typeof startExportDaemon>>;
let attestation = "";
let events: Record<string, any>[] = [];

function viaProxy(proxyAddr: string, url: string): Promise<number> {
  const i = proxyAddr.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    const req = request({ host: proxyAddr.slice(0, i), port: Number(proxyAddr.slice(i + 1)), path: url, headers: { host: new URL(url).host } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = tempDir("isc-exports-jsonl-");
  cpSync(join(import.meta.dirname, "../../policy-examples/reference"), join(dir, "policy"), { recursive: true });
  file = join(dir, "siem", "ocsf.jsonl");
  d = await startExportDaemon(
    { ocsf_jsonl: { path: "siem/ocsf.jsonl", flush_ms: 20 } },
    { base: dir, config: { policyFile: join(dir, "policy", "policy.yaml"), operatorTokens: { alice: OP } } },
  );
  const opUrl = `http://${d.operatorAddr}`;

  const ok = await http(`${d.url}/v1/intents`, { body: nativeTransfer(VENDOR_A, "0.01") });
  expect(ok.body.decision).toBe("APPROVED");
  attestation = ok.body.attestation;
  const no = await http(`${d.url}/v1/intents`, { body: nativeTransfer(VENDOR_A, "0.2") });
  expect(no.body.decision).toBe("DENIED");
  const held = await http(`${d.url}/v1/intents`, {
    body: { agent: "ops-bot", action: "tool.call", params: { tool: "payments.refund", args: { id: "r1", note: "call 555-0100" } } },
  });
  expect(held.body.decision).toBe("PENDING");
  const approved = await http(`${opUrl}/v1/holds/${held.body.hold.id}/approve`, { token: OP, body: { comment: "secret-comment-xyz" } });
  expect(approved.body.state).toBe("approved");

  // redemption: the first use, a replay, and a forged signature
  const redeem = (token: string) => http(`${d.url}/v1/attestations/${ok.body.intent_id}/redeem`, { body: { attestation: token } });
  expect((await redeem(attestation)).body.first).toBe(true);
  expect((await redeem(attestation)).body.first).toBe(false);
  const [h, p, s] = attestation.split(".");
  const forged = `${h}.${p}.${s!.startsWith("A") ? "B" : "A"}${s!.slice(1)}`;
  const refused = await redeem(forged);
  expect(refused.status).toBe(403);
  expect(refused.body.error).toBe("bad_signature");

  // the proxy: a host the network rules do not allow, with a secret in the path and the query
  expect(await viaProxy(d.proxyAddr, "http://blocked.example.org/private/path?token=sekrit123")).toBe(403);

  // a reload applied, then one refused
  const policyFile = join(dir, "policy", "policy.yaml");
  writeFileSync(policyFile, readFileSync(policyFile, "utf8").replace("name: treasury-reference", "name: treasury-reference-2"));
  expect((await d.reloadPolicy()).ok).toBe(true);
  writeFileSync(policyFile, "version: 1\nactions: [unclosed\n");
  expect((await d.reloadPolicy()).ok).toBe(false);

  events = await waitFor(
    () => {
      const e = readJsonl(file);
      const codes = new Set(e.map((x) => x.metadata?.event_code));
      const want = ["intent.decision", "hold.created", "hold.approved", "policy.reloaded", "policy.reload_failed", "proxy.denied", "replay.replayed", "forgery.bad_signature"];
      return want.every((c) => codes.has(c)) && e.filter((x) => x.metadata.event_code === "intent.decision").length >= 3 && e;
    },
    20_000,
    "every kind of event in the JSONL file",
  );
}, 60_000);

afterAll(async () => {
  await d?.close();
  removeDir(dir);
});

const byCode = (code: string) => events.filter((e) => e.metadata.event_code === code);

describe("OCSF JSONL export through the daemon", () => {
  it("every line validates against the OCSF class fields used", () => {
    expect(events.length).toBeGreaterThanOrEqual(10);
    for (const e of events) {
      const v = validateOcsf(e);
      expect(v.errors, JSON.stringify(e)).toEqual([]);
      expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
      expect(e.category_uid).toBe(Math.floor(e.class_uid / 1000));
      expect(e.metadata).toMatchObject({ version: "1.3.0", product: { name: "intent-sidecar", vendor_name: "intent-sidecar" } });
      expect(typeof e.metadata.product.version).toBe("string");
      expect(Math.abs(e.time - Date.now())).toBeLessThan(120_000); // ms, not seconds
    }
  });

  it("decisions are API Activity (6003) Create, with the outcome as status and disposition", () => {
    const decisions = byCode("intent.decision");
    const of = (k: string) => decisions.find((e) => e.status_code === k)!;
    expect(of("APPROVED")).toMatchObject({ class_uid: 6003, activity_id: 1, type_uid: 600301, status_id: 1, disposition_id: 1, severity_id: 1 });
    expect(of("APPROVED").actor.user.name).toBe("treasury-bot");
    expect(of("APPROVED").api).toMatchObject({ operation: "evm.transaction", request: { uid: expect.any(String) } });
    expect(of("DENIED")).toMatchObject({ status_id: 2, status: "Failure", action_id: 2, disposition_id: 2, status_detail: "evm/max_value" });
    expect(of("DENIED").unmapped.rules).toEqual(["evm/max_value"]);
    expect(of("PENDING")).toMatchObject({ status_id: 99, disposition_id: 14 });
    expect(of("PENDING").resources).toEqual(expect.arrayContaining([{ type: "tool", name: "payments.refund" }, { type: "hold", uid: expect.any(String) }]));
  });

  it("hold events name the hold, the intent and the operator", () => {
    const [created] = byCode("hold.created");
    const [approvedEv] = byCode("hold.approved");
    expect(created).toMatchObject({ class_uid: 6003, activity_id: 1, api: { operation: "hold.created" } });
    expect(created!.actor.user.name).toBe("ops-bot");
    expect(approvedEv).toMatchObject({ activity_id: 3, type_uid: 600303, disposition_id: 1, api: { operation: "hold.approved" } });
    expect(approvedEv!.actor.user).toMatchObject({ name: "alice", type: "User" });
    expect(approvedEv!.resources.map((r: { type: string }) => r.type)).toEqual(["hold", "intent"]);
  });

  it("policy reloads are API Activity Update, applied or refused", () => {
    const [okEv] = byCode("policy.reloaded");
    const [failed] = byCode("policy.reload_failed");
    expect(okEv).toMatchObject({ activity_id: 3, status_id: 1, api: { operation: "policy.reload" } });
    expect(okEv!.resources[0]).toMatchObject({ type: "policy", name: "policy.yaml", uid: expect.stringMatching(/^sha256:/) });
    expect(failed).toMatchObject({ activity_id: 3, status_id: 2, status: "Failure" });
  });

  it("proxy decisions are HTTP Activity (4002) by method, without the path or query", () => {
    const [p] = byCode("proxy.denied");
    expect(p).toMatchObject({ class_uid: 4002, category_uid: 4, activity_id: 3, type_uid: 400203, status_id: 2, action_id: 2 });
    expect(p!.http_request).toEqual({
      http_method: "GET",
      url: { scheme: "http", hostname: "blocked.example.org", port: 80, url_string: "http://blocked.example.org:80" },
    });
    expect(p!.dst_endpoint).toEqual({ hostname: "blocked.example.org", port: 80 });
  });

  it("replays and forgeries at the redemption route are Detection Findings (2004)", () => {
    const [replay] = byCode("replay.replayed");
    const [forgery] = byCode("forgery.bad_signature");
    expect(replay).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, is_alert: true, status_id: 1 });
    expect(replay!.finding_info).toMatchObject({ uid: expect.any(String), title: expect.any(String), types: ["Attestation Replay"] });
    expect(replay!.resources).toEqual([{ type: "intent", uid: byCode("intent.decision").find((e) => e.status_code === "APPROVED")!.api.request.uid }]);
    expect(forgery!.finding_info.types).toEqual(["Attestation Forgery"]);
    expect(forgery!.severity_id).toBe(4);
  });

  it("exports no tokens, attestations, reason texts, values, comments, URL paths or queries; the file is 0600", () => {
    const text = readFileSync(file, "utf8");
    for (const secret of [attestation, attestation.split(".")[2]!, OP, "sekrit123", "/private/path", "secret-comment-xyz", "555-0100", "200000000000000000", "exceeds max_value"]) {
      expect(text.includes(secret), secret.slice(0, 40)).toBe(false);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe("PII detections", () => {
  it("a decision refused by pii reasons yields one Detection Finding per detector, naming it, never the value", async () => {
    const pdir = tempDir("isc-exports-pii-");
    const out = join(pdir, "ocsf.jsonl");
    const pd = await startExportDaemon({ ocsf_jsonl: { path: out, flush_ms: 20 } }, { base: pdir, policy: piiPolicy() });
    try {
      const r = await http(`${pd.url}/v1/intents`, {
        body: { agent: "a1", action: "pii.send", params: { detectors: ["us_ssn", "email"], args: { note: "ssn 078-05-1120 mail bob@example.com" } } },
      });
      expect(r.body.decision).toBe("DENIED");
      const lines = await waitFor(() => {
        const e = readJsonl(out);
        return e.length >= 3 && e;
      });
      const findings = lines.filter((e) => e.class_uid === 2004);
      expect(findings.map((f) => f.finding_info.analytic.name).sort()).toEqual(["email", "us_ssn"]);
      for (const f of findings) {
        expect(validateOcsf(f).errors).toEqual([]);
        expect(f).toMatchObject({ type_uid: 200401, finding_info: { types: ["PII"] }, disposition_id: 2, actor: { user: { name: "a1" } } });
        expect(f.resources).toEqual([{ type: "intent", uid: r.body.intent_id }]);
      }
      const text = readFileSync(out, "utf8");
      expect(text).not.toContain("078-05-1120");
      expect(text).not.toContain("bob@example.com");
      expect(text).not.toContain("found at"); // the reason's message stays out
    } finally {
      await pd.close();
      removeDir(pdir);
    }
  });
});

describe("PII detections of the real pii block", () => {
  it("a denied SSN and a redacted email become findings naming the detector or the redacted path, never the value", async () => {
    const pdir = tempDir("isc-exports-piiblock-");
    const out = join(pdir, "ocsf.jsonl");
    writeFileSync(
      join(pdir, "policy.yaml"),
      ["version: 1", "tool_calls:", '  allow: ["mail.*"]', "pii:", "  detectors: {email: redact, us_ssn: deny}", ""].join("\n"),
    );
    const pd = await startExportDaemon({ ocsf_jsonl: { path: out, flush_ms: 20 } }, { base: pdir, config: { policyFile: join(pdir, "policy.yaml") } });
    try {
      const call = (args: Record<string, unknown>) =>
        http(`${pd.url}/v1/intents`, { body: { agent: "mailer", action: "tool.call", params: { tool: "mail.send", args } } });
      const redacted = await call({ to: "bob.smith@example.com", subject: "invoice" });
      expect(redacted.body.decision).toBe("APPROVED");
      expect(JSON.stringify(redacted.body.redacted)).not.toContain("bob.smith@example.com");
      const denied = await call({ note: "ssn 536-22-8412" });
      expect(denied.body.decision).toBe("DENIED");
      const findings = await waitFor(() => {
        const f = readJsonl(out).filter((e) => e.class_uid === 2004);
        return f.length >= 2 && f;
      });
      for (const f of findings) expect(validateOcsf(f).errors).toEqual([]);
      const ssn = findings.find((f) => f.resources[0].uid === denied.body.intent_id)!;
      expect(ssn).toMatchObject({ finding_info: { types: ["PII"], analytic: { name: "us_ssn" } }, disposition_id: 2 });
      const email = findings.find((f) => f.resources[0].uid === redacted.body.intent_id)!;
      expect(email).toMatchObject({ finding_info: { analytic: { name: "redacted" } }, action_id: 4, unmapped: { path: expect.stringContaining("to") } });
      const text = readFileSync(out, "utf8");
      expect(text).not.toContain("bob.smith@example.com");
      expect(text).not.toContain("536-22-8412");
    } finally {
      await pd.close();
      removeDir(pdir);
    }
  });
});
