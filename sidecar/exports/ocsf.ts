// The sidecar's events as OCSF 1.3.0 events (schema.ocsf.io): decisions, hold events and policy reloads as API
// Activity (6003), proxy decisions as HTTP Activity (4002), PII detections and attestation replays/forgeries as
// Detection Finding (2004). Pure functions; the fields used are described in ocsf-classes.json and checked against
// it by the tests. What goes out: ids, names, decisions, rule ids (`block/rule`) and digests — never reason messages
// (they quote values), params, context text, URL paths or queries, bodies, tokens or attestations.
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

/** The classification fields every class shares (type_uid = class_uid * 100 + activity_id). */
function classify(classUid: 2004 | 4002 | 6003, activityId: number, activityName: string, severityId: keyof typeof SEVERITY) {
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
  };
}

function metadata(o: Origin, logName: string, eventCode: string, uid: string, profiles?: string[]) {
  return {
    version: OCSF_VERSION,
    product: { ...o.product },
    uid,
    log_name: logName,
    event_code: eventCode,
    ...(profiles ? { profiles } : {}),
  };
}

function here(o: Origin) {
  return { hostname: o.host ?? hostname(), svc_name: o.sidecarId };
}

const ruleIds = (reasons: readonly Reason[]) => [...new Set(reasons.map((r) => `${r.block}/${r.rule}`))];

/** A short id-like string, or nothing: values that could be free text never leave. */
function idLike(v: unknown, max = 200): string | undefined {
  return typeof v === "string" && v.length > 0 && v.length <= max && /^[\w.:@/+=[\]-]+$/.test(v) ? v : undefined;
}

// security_control profile: what the control did
const DISPOSITION = {
  APPROVED: { action_id: 1, action: "Allowed", disposition_id: 1, disposition: "Allowed" },
  DENIED: { action_id: 2, action: "Denied", disposition_id: 2, disposition: "Blocked" },
  EXPIRED: { action_id: 2, action: "Denied", disposition_id: 2, disposition: "Blocked" },
  REFUSED: { action_id: 2, action: "Denied", disposition_id: 2, disposition: "Blocked" },
  REDACTED: { action_id: 4, action: "Modified", disposition_id: 11, disposition: "Corrected" },
  PENDING: { action_id: 99, action: "Held", disposition_id: 14, disposition: "Delayed" },
} as const;

function disposition(decision: string) {
  return DISPOSITION[decision.toUpperCase() as keyof typeof DISPOSITION] ?? { action_id: 0, action: "Unknown", disposition_id: 0, disposition: "Unknown" };
}

/** A recorded decision (POST /v1/intents, or a held intent's outcome): API Activity, Create. */
export function decisionEvent(rec: IntentRecord, o: Origin): OcsfEvent {
  const decision = rec.decision;
  const sev = decision === "APPROVED" ? 1 : decision === "PENDING" ? 2 : 3;
  const rules = ruleIds(rec.reasons);
  const params = rec.intent?.params ?? {};
  const context = rec.intent?.context ?? {};
  const tool = rec.action === "tool.call" ? idLike(params.tool) : undefined;
  const tenant = idLike(context.tenant, 100);
  const status = decision === "APPROVED" ? [1, "Success"] : decision === "DENIED" ? [2, "Failure"] : [99, "Pending"];
  return {
    ...classify(6003, 1, "Create", sev),
    time: Date.parse(rec.created_at),
    message: `${rec.action} by ${rec.agent}: ${decision}${rules.length ? ` (${rules.join(", ")})` : ""}`,
    status_id: status[0] as number,
    status: status[1] as string,
    status_code: decision,
    ...(rules.length ? { status_detail: rules.join(", ") } : {}),
    ...disposition(decision),
    metadata: { ...metadata(o, "decisions", "intent.decision", `${rec.id}:decision`, ["security_control"]), ...(tenant ? { tenant_uid: tenant } : {}) },
    actor: { user: { name: rec.agent, uid: rec.agent, type_id: 99, type: "Agent" } },
    api: { operation: rec.action, service: { name: "intent-sidecar agent API" }, request: { uid: rec.id } },
    src_endpoint: here(o),
    dst_endpoint: here(o),
    resources: [
      { type: "intent", uid: rec.id, name: rec.action },
      ...(tool ? [{ type: "tool", name: tool }] : []),
      ...(rec.policy_digest ? [{ type: "policy", uid: rec.policy_digest }] : []),
      ...(rec.hold ? [{ type: "hold", uid: rec.hold.id }] : []),
    ],
    unmapped: {
      intent_digest: rec.digest,
      rules,
      ...(rec.policy_digest ? { policy_digest: rec.policy_digest } : {}),
      ...(rec.hold ? { hold_id: rec.hold.id } : {}),
    },
  };
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
export function holdEvent(e: HoldAuditEvent, time: number, o: Origin): OcsfEvent {
  const a = HOLD_ACTIVITY[e.type];
  const actor = e.operator
    ? { user: { name: e.operator, uid: e.operator, type_id: 1, type: "User" } }
    : e.type === "hold.created"
      ? { user: { name: e.agent, uid: e.agent, type_id: 99, type: "Agent" } }
      : { app_name: "intent-sidecar" };
  return {
    ...classify(6003, a.activity, API_ACTIVITY[a.activity], e.type === "hold.created" ? 2 : 1),
    time,
    message: `${e.type} ${e.hold_id} (intent ${e.intent_id} by ${e.agent})${e.operator ? ` by operator ${e.operator}` : ""}`,
    status_id: 1,
    status: "Success",
    status_code: a.status,
    ...disposition(a.decision),
    metadata: metadata(o, "holds", e.type, `${e.hold_id}:${e.type}${e.operator ? `:${e.operator}` : ""}`, ["security_control"]),
    actor,
    api: { operation: e.type, service: { name: "intent-sidecar holds" }, request: { uid: e.hold_id } },
    src_endpoint: here(o),
    dst_endpoint: here(o),
    resources: [
      { type: "hold", uid: e.hold_id },
      { type: "intent", uid: e.intent_id },
    ],
    unmapped: {
      agent: e.agent,
      ...(e.approvals !== undefined ? { approvals: e.approvals } : {}),
      ...(e.approvals_required !== undefined ? { approvals_required: e.approvals_required } : {}),
    },
  };
}

/** A policy reload, applied or refused: API Activity, Update. The refusal's text (it may quote the policy file) stays
 * in the daemon log. */
export function policyReloadEvent(r: { ok: boolean; digest?: string }, file: string, time: number, o: Origin): OcsfEvent {
  const name = file.split(/[\\/]/).pop() ?? file;
  return {
    ...classify(6003, 3, "Update", r.ok ? 1 : 3),
    time,
    message: r.ok ? `policy reloaded: ${r.digest}` : "policy reload refused; the last valid policy stays active (see the daemon log)",
    status_id: r.ok ? 1 : 2,
    status: r.ok ? "Success" : "Failure",
    status_code: r.ok ? "reloaded" : "reload_failed",
    metadata: metadata(o, "policy", r.ok ? "policy.reloaded" : "policy.reload_failed", `policy:${time}:${r.digest ?? "failed"}`),
    actor: { app_name: "intent-sidecar" },
    api: { operation: "policy.reload", service: { name: "intent-sidecar policy" } },
    src_endpoint: here(o),
    dst_endpoint: here(o),
    resources: [{ type: "policy", name, ...(r.digest ? { uid: r.digest } : {}) }],
    unmapped: r.digest ? { policy_digest: r.digest } : {},
  };
}

/** One proxy decision: HTTP Activity by method. The URL goes out as scheme, host and port: paths and queries may
 * carry tokens (webhook URLs) or personal data. */
export function proxyEvent(e: ProxyDecisionEvent, time: number, o: Origin): OcsfEvent {
  const method = e.stage === "connect" ? "CONNECT" : e.method.toUpperCase();
  const [activityId, activityName] = HTTP_ACTIVITY[method] ?? [99, "Other"];
  const rules = ruleIds(e.reasons);
  const decision = e.allowed ? "APPROVED" : "DENIED";
  return {
    ...classify(4002, activityId, activityName, e.allowed ? 1 : 3),
    time,
    message: `${method} ${e.scheme}://${e.host}:${e.port} ${e.allowed ? "allowed" : "denied"}${rules.length ? ` (${rules.join(", ")})` : ""}`,
    status_id: e.allowed ? 1 : 2,
    status: e.allowed ? "Success" : "Failure",
    ...(rules.length ? { status_detail: rules.join(", ") } : {}),
    ...disposition(decision),
    metadata: metadata(o, "proxy", e.allowed ? "proxy.allowed" : "proxy.denied", `proxy:${time}:${method}:${e.host}:${e.port}`, ["security_control"]),
    http_request: {
      http_method: method,
      url: { scheme: e.scheme, hostname: e.host, port: e.port, url_string: `${e.scheme}://${e.host}:${e.port}` },
    },
    dst_endpoint: { hostname: e.host, port: e.port },
    src_endpoint: {
      hostname: o.host ?? hostname(),
      ...(e.source.sandbox_id ? { uid: e.source.sandbox_id } : {}),
    },
    ...(e.allowed ? {} : { http_status: 403 }),
    unmapped: {
      stage: e.stage,
      rules,
      ...(e.intent_id ? { intent_id: e.intent_id } : {}),
      ...(e.source.pid !== null ? { pid: e.source.pid } : {}),
      ...(e.source.binary ? { binary: e.source.binary } : {}),
      ...(e.source.sandbox_id ? { sandbox_id: e.source.sandbox_id } : {}),
    },
  };
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
  return {
    ...classify(2004, 1, "Create", f.sev),
    time: d.time,
    message: `${f.title}: ${d.rule} (${d.source}${intent ? `, intent ${intent}` : ""})`,
    status_id: 1,
    status: "New",
    is_alert: true,
    confidence_id: f.confidence,
    ...(d.decision ? disposition(d.decision) : {}),
    metadata: metadata(o, "detections", `${d.kind}.${d.rule}`, `${d.kind}:${d.source}:${intent ?? d.time}:${d.rule}${path ? `:${path}` : ""}`),
    finding_info: {
      uid: `${d.kind}:${d.source}:${intent ?? d.time}:${d.rule}${path ? `:${path}` : ""}`,
      title: f.title,
      types: [f.type],
      analytic: { name: d.rule, type_id: 1, type: "Rule", uid: `${d.kind}/${d.rule}` },
      created_time: d.time,
    },
    ...(agent ? { actor: { user: { name: agent, uid: agent, type_id: 99, type: "Agent" } } } : {}),
    resources: intent ? [{ type: "intent", uid: intent }] : [],
    unmapped: { source: d.source, rule: d.rule, ...(path ? { path } : {}), ...(d.decision ? { decision: d.decision } : {}) },
  };
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
