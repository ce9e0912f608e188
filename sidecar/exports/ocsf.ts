// The sidecar's events as OCSF 1.3.0 events (schema.ocsf.io): decisions, hold events and policy reloads as API
// Activity (6003), proxy decisions as HTTP Activity (4002), PII detections and attestation replays/forgeries as
// Detection Finding (2004). Pure functions; the fields used are described in ocsf-classes.json and checked against
// it by the tests. What goes out: ids, names, decisions, rule ids (`block/rule`) and digests — never reason messages
// (they quote values), params, context text, URL paths or queries, bodies, tokens or attestations.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Reason } from "../../protocol/index.ts";
import type { IntentRecord } from "../store/index.ts";
import type { HoldAuditEvent } from "../holds/types.ts";
import type { ProxyDecisionEvent } from "../../proxy/server.ts";

export const OCSF_VERSION = "1.3.0";

export type OcsfEvent = Record<string, unknown> & {
  class_uid: number;
  activity_id: number;
  type_uid: number;
  time: number;
  severity_id: number;
};

export interface Product {
  name: string;
  vendor_name: string;
  version: string;
}

/** What every event carries about where it comes from. */
export interface Origin {
  product: Product;
  /** The sidecar id (`sidecar_id` in the config, the attestations' `iss`). */
  sidecarId: string;
  host?: string;
}

/** A security finding the sidecar made: a PII detector fired on an intent (or a tool result), an attestation was
 * presented again (replay), or one that the sidecar did not sign, or not for this request, was presented (forgery). */
export interface Detection {
  kind: "pii" | "replay" | "forgery";
  /** The detector (`us_ssn`) or the gate code (`replayed`, `bad_signature`, `digest_mismatch`, …). */
  rule: string;
  /** Where it was seen. */
  source: "intent" | "result" | "proxy" | "redeem";
  intent_id?: string | null;
  agent?: string | null;
  /** The outcome for the request that carried it (DENIED, PENDING, APPROVED with redaction, refused). */
  decision?: string;
  /** The JSON path of a PII match (`params.args.email`), never the value. */
  path?: string;
  /** ms since the epoch. */
  time: number;
}

const CATEGORY = { 2: "Findings", 4: "Network Activity", 6: "Application Activity" } as const;
const CLASS = { 2004: "Detection Finding", 4002: "HTTP Activity", 6003: "API Activity" } as const;
const API_ACTIVITY = { 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other" } as const;
const SEVERITY = { 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical" } as const;
const HTTP_ACTIVITY: Record<string, [number, string]> = {
  CONNECT: [1, "Connect"],
  DELETE: [2, "Delete"],
  GET: [3, "Get"],
  HEAD: [4, "Head"],
  OPTIONS: [5, "Options"],
  POST: [6, "Post"],
  PUT: [7, "Put"],
  TRACE: [8, "Trace"],
  PATCH: [9, "Patch"],
};

// Built by assignment, not object spreads: on Node 20 a literal with spreads after other properties costs ~15 µs,
// which the decision path would pay per event (measured with bench/exports.ts).

/** The fields every class shares (type_uid = class_uid * 100 + activity_id), in a fixed order. */
function event(
  classUid: 2004 | 4002 | 6003,
  activityId: number,
  activityName: string,
  severityId: keyof typeof SEVERITY,
  time: number,
  message: string,
  meta: Record<string, unknown>,
): OcsfEvent {
  const category = Math.floor(classUid / 1000) as keyof typeof CATEGORY;
  return {
    category_uid: category,
    category_name: CATEGORY[category],
    class_uid: classUid,
    class_name: CLASS[classUid],
    activity_id: activityId,
    activity_name: activityName,
    type_uid: classUid * 100 + activityId,
    type_name: `${CLASS[classUid]}: ${activityName}`,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    time,
    message,
    metadata: meta,
  };
}

/** `uid` identifies the event (fixed when it is queued, so a redelivery repeats it: SIEMs deduplicate on it); a
 * finding's own identity is `finding_info.uid` (the same replayed attestation twice: two events, one finding). */
function metadata(o: Origin, logName: string, eventCode: string, uid: string, profile?: string): Record<string, unknown> {
  const m: Record<string, unknown> = { version: OCSF_VERSION, product: o.product, uid, log_name: logName, event_code: eventCode };
  if (profile) m.profiles = [profile];
  return m;
}

let host: string | undefined;
function here(o: Origin) {
  return { hostname: o.host ?? (host ??= hostname()), svc_name: o.sidecarId };
}

const ruleIds = (reasons: readonly Reason[]) => [...new Set(reasons.map((r) => `${r.block}/${r.rule}`))];

/** A short id-like string, or nothing: values that could be free text never leave. */
function idLike(v: unknown, max = 200): string | undefined {
  return typeof v === "string" && v.length > 0 && v.length <= max && /^[\w.:@/+=[\]-]+$/.test(v) ? v : undefined;
}

// security_control profile: what the control did
const DISPOSITION: Record<string, [number, string, number, string]> = {
  APPROVED: [1, "Allowed", 1, "Allowed"],
  DENIED: [2, "Denied", 2, "Blocked"],
  EXPIRED: [2, "Denied", 2, "Blocked"],
  REFUSED: [2, "Denied", 2, "Blocked"],
  REDACTED: [4, "Modified", 11, "Corrected"],
  PENDING: [99, "Held", 14, "Delayed"],
};

function setDisposition(e: OcsfEvent, decision: string): void {
  const [actionId, action, dispositionId, disposition] = DISPOSITION[decision.toUpperCase()] ?? [0, "Unknown", 0, "Unknown"];
  e.action_id = actionId;
  e.action = action;
  e.disposition_id = dispositionId;
  e.disposition = disposition;
}

function setStatus(e: OcsfEvent, id: number, status: string, code?: string, detail?: string): void {
  e.status_id = id;
  e.status = status;
  if (code !== undefined) e.status_code = code;
  if (detail) e.status_detail = detail;
}

const agentActor = (name: string) => ({ user: { name, uid: name, type_id: 99, type: "Agent" } });

/** A recorded decision (POST /v1/intents, or a held intent's outcome): API Activity, Create. */
export function decisionEvent(rec: IntentRecord, o: Origin): OcsfEvent {
  const decision = rec.decision;
  const rules = ruleIds(rec.reasons);
  const params = rec.intent?.params ?? {};
  const tool = rec.action === "tool.call" ? idLike(params.tool) : undefined;
  const tenant = idLike(rec.intent?.context?.tenant, 100);
  const meta = metadata(o, "decisions", "intent.decision", `${rec.id}:decision`, "security_control");
  if (tenant) meta.tenant_uid = tenant;
  const e = event(6003, 1, "Create", decision === "APPROVED" ? 1 : decision === "PENDING" ? 2 : 3, Date.parse(rec.created_at),
    `${rec.action} by ${rec.agent}: ${decision}${rules.length ? ` (${rules.join(", ")})` : ""}`, meta);
  if (decision === "APPROVED") setStatus(e, 1, "Success", decision);
  else if (decision === "DENIED") setStatus(e, 2, "Failure", decision, rules.join(", "));
  else setStatus(e, 99, "Pending", decision, rules.join(", "));
  setDisposition(e, decision);
  e.actor = agentActor(rec.agent);
  e.api = { operation: rec.action, service: { name: "intent-sidecar agent API" }, request: { uid: rec.id } };
  e.src_endpoint = here(o);
  e.dst_endpoint = here(o);
  const resources: Record<string, unknown>[] = [{ type: "intent", uid: rec.id, name: rec.action }];
  if (tool) resources.push({ type: "tool", name: tool });
  if (rec.policy_digest) resources.push({ type: "policy", uid: rec.policy_digest });
  if (rec.hold) resources.push({ type: "hold", uid: rec.hold.id });
  e.resources = resources;
  const unmapped: Record<string, unknown> = { intent_digest: rec.digest, rules };
  if (rec.policy_digest) unmapped.policy_digest = rec.policy_digest;
  if (rec.hold) unmapped.hold_id = rec.hold.id;
  e.unmapped = unmapped;
  return e;
}

/** The PII findings a decision carries: one per `pii` reason's rule (detector or operator rule; deny and hold), or,
 * when the pii block only redacted (APPROVED, no reasons), one per redacted JSON path from the stored copy's
 * envelope (sidecar/policy/pii/bind.ts). Never the value. */
export function piiDetections(rec: IntentRecord): Detection[] {
  const base = { kind: "pii" as const, source: "intent" as const, intent_id: rec.id, agent: rec.agent, decision: rec.decision, time: Date.parse(rec.created_at) };
  const rules = [...new Set(rec.reasons.filter((r) => r.block === "pii").map((r) => r.rule))];
  if (rules.length) return rules.map((rule) => ({ ...base, rule }));
  const fields = (rec.intent as { redacted?: { pii?: { fields?: unknown } } } | undefined)?.redacted?.pii?.fields;
  if (!Array.isArray(fields)) return [];
  return fields.filter((f): f is string => typeof f === "string").map((path) => ({ ...base, rule: "redacted", decision: "REDACTED", path }));
}

const HOLD_ACTIVITY: Record<HoldAuditEvent["type"], { activity: 1 | 3; decision: string; status: string }> = {
  "hold.created": { activity: 1, decision: "PENDING", status: "Created" },
  "hold.approval": { activity: 3, decision: "PENDING", status: "Approval" },
  "hold.approved": { activity: 3, decision: "APPROVED", status: "Approved" },
  "hold.denied": { activity: 3, decision: "DENIED", status: "Denied" },
  "hold.expired": { activity: 3, decision: "EXPIRED", status: "Expired" },
};

/** A hold transition (created, one approval, approved, denied, expired): API Activity on the hold. The operator's
 * comment is free text and stays out. */
export function holdEvent(h: HoldAuditEvent, time: number, o: Origin): OcsfEvent {
  const a = HOLD_ACTIVITY[h.type];
  const e = event(6003, a.activity, API_ACTIVITY[a.activity], h.type === "hold.created" ? 2 : 1, time,
    `${h.type} ${h.hold_id} (intent ${h.intent_id} by ${h.agent})${h.operator ? ` by operator ${h.operator}` : ""}`,
    metadata(o, "holds", h.type, `${h.hold_id}:${h.type}${h.operator ? `:${h.operator}` : ""}`, "security_control"));
  setStatus(e, 1, "Success", a.status);
  setDisposition(e, a.decision);
  e.actor = h.operator
    ? { user: { name: h.operator, uid: h.operator, type_id: 1, type: "User" } }
    : h.type === "hold.created"
      ? agentActor(h.agent)
      : { app_name: "intent-sidecar" };
  e.api = { operation: h.type, service: { name: "intent-sidecar holds" }, request: { uid: h.hold_id } };
  e.src_endpoint = here(o);
  e.dst_endpoint = here(o);
  e.resources = [
    { type: "hold", uid: h.hold_id },
    { type: "intent", uid: h.intent_id },
  ];
  const unmapped: Record<string, unknown> = { agent: h.agent };
  if (h.approvals !== undefined) unmapped.approvals = h.approvals;
  if (h.approvals_required !== undefined) unmapped.approvals_required = h.approvals_required;
  e.unmapped = unmapped;
  return e;
}

/** A policy reload, applied or refused: API Activity, Update. The refusal's text (it may quote the policy file) stays
 * in the daemon log. */
export function policyReloadEvent(r: { ok: boolean; digest?: string }, file: string, time: number, o: Origin): OcsfEvent {
  const name = file.split(/[\\/]/).pop() ?? file;
  const e = event(6003, 3, "Update", r.ok ? 1 : 3, time,
    r.ok ? `policy reloaded: ${r.digest}` : "policy reload refused; the last valid policy stays active (see the daemon log)",
    metadata(o, "policy", r.ok ? "policy.reloaded" : "policy.reload_failed", `policy:${randomUUID()}`));
  if (r.ok) setStatus(e, 1, "Success", "reloaded");
  else setStatus(e, 2, "Failure", "reload_failed");
  e.actor = { app_name: "intent-sidecar" };
  e.api = { operation: "policy.reload", service: { name: "intent-sidecar policy" } };
  e.src_endpoint = here(o);
  e.dst_endpoint = here(o);
  e.resources = [r.digest ? { type: "policy", name, uid: r.digest } : { type: "policy", name }];
  e.unmapped = r.digest ? { policy_digest: r.digest } : {};
  return e;
}

/** One proxy decision: HTTP Activity by method. The URL goes out as scheme, host and port: paths and queries may
 * carry tokens (webhook URLs) or personal data. */
export function proxyEvent(p: ProxyDecisionEvent, time: number, o: Origin): OcsfEvent {
  const method = p.stage === "connect" ? "CONNECT" : p.method.toUpperCase();
  const [activityId, activityName] = HTTP_ACTIVITY[method] ?? [99, "Other"];
  const rules = ruleIds(p.reasons);
  const e = event(4002, activityId, activityName, p.allowed ? 1 : 3, time,
    `${method} ${p.scheme}://${p.host}:${p.port} ${p.allowed ? "allowed" : "denied"}${rules.length ? ` (${rules.join(", ")})` : ""}`,
    metadata(o, "proxy", p.allowed ? "proxy.allowed" : "proxy.denied", `proxy:${randomUUID()}`, "security_control"));
  if (p.allowed) setStatus(e, 1, "Success");
  else setStatus(e, 2, "Failure", undefined, rules.join(", "));
  setDisposition(e, p.allowed ? "APPROVED" : "DENIED");
  e.http_request = {
    http_method: method,
    url: { scheme: p.scheme, hostname: p.host, port: p.port, url_string: `${p.scheme}://${p.host}:${p.port}` },
  };
  e.dst_endpoint = { hostname: p.host, port: p.port };
  e.src_endpoint = p.source.sandbox_id ? { hostname: here(o).hostname, uid: p.source.sandbox_id } : { hostname: here(o).hostname };
  if (!p.allowed) e.http_status = 403;
  const unmapped: Record<string, unknown> = { stage: p.stage, rules };
  if (p.intent_id) unmapped.intent_id = p.intent_id;
  if (p.source.pid !== null) unmapped.pid = p.source.pid;
  if (p.source.binary) unmapped.binary = p.source.binary;
  if (p.source.sandbox_id) unmapped.sandbox_id = p.source.sandbox_id;
  e.unmapped = unmapped;
  return e;
}

const FINDING = {
  pii: { title: "Personal data in an agent's request", type: "PII", sev: 3 as const, confidence: 2 },
  replay: { title: "Attestation presented again (replay)", type: "Attestation Replay", sev: 4 as const, confidence: 3 },
  forgery: { title: "Attestation not valid for this request (forgery or tampering)", type: "Attestation Forgery", sev: 4 as const, confidence: 3 },
};

/** A detection: Detection Finding, Create. */
export function detectionEvent(d: Detection, o: Origin): OcsfEvent {
  const f = FINDING[d.kind];
  const intent = idLike(d.intent_id);
  const agent = idLike(d.agent);
  const path = idLike(d.path);
  const uid = `${d.kind}:${d.source}:${intent ?? d.time}:${d.rule}${path ? `:${path}` : ""}`;
  const e = event(2004, 1, "Create", f.sev, d.time, `${f.title}: ${d.rule} (${d.source}${intent ? `, intent ${intent}` : ""})`,
    metadata(o, "detections", `${d.kind}.${d.rule}`, `${d.kind}:${randomUUID()}`));
  setStatus(e, 1, "New");
  e.is_alert = true;
  e.confidence_id = f.confidence;
  if (d.decision) setDisposition(e, d.decision);
  e.finding_info = {
    uid,
    title: f.title,
    types: [f.type],
    analytic: { name: d.rule, type_id: 1, type: "Rule", uid: `${d.kind}/${d.rule}` },
    created_time: d.time,
  };
  if (agent) e.actor = agentActor(agent);
  e.resources = intent ? [{ type: "intent", uid: intent }] : [];
  const unmapped: Record<string, unknown> = { source: d.source, rule: d.rule };
  if (path) unmapped.path = path;
  if (d.decision) unmapped.decision = d.decision;
  e.unmapped = unmapped;
  return e;
}

/** The gate codes that mean "not an attestation the sidecar issued for this request". */
export const FORGERY_CODES: ReadonlySet<string> = new Set(["bad_signature", "unknown_key", "malformed", "digest_mismatch", "wrong_issuer"]);

/** The findings a proxy denial carries: `network/attestation.<code>` reasons. */
export function proxyDetections(e: ProxyDecisionEvent, time: number): Detection[] {
  const out: Detection[] = [];
  for (const r of e.reasons) {
    if (r.block !== "network" || !r.rule.startsWith("attestation.")) continue;
    const code = r.rule.slice("attestation.".length);
    const kind = code === "replayed" ? "replay" : FORGERY_CODES.has(code) ? "forgery" : undefined;
    if (kind) out.push({ kind, rule: code, source: "proxy", intent_id: e.intent_id, decision: "DENIED", time });
  }
  return out;
}
