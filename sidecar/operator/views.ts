// What the console's views read, beyond holds: decisions with filters, an intent's timeline from the audit log,
// soft-limit usage per stream over its window, and the policy's status. Read-only; built by the holds subsystem.
import type { Intent } from "../../protocol/index.ts";
import type { Db } from "../store/db.ts";
import {
  auditForIntent,
  intentById,
  lastPolicyReload,
  ledgerBuckets,
  ledgerByAgent,
  ledgerStreams,
  queryDecisions,
  type AuditEntry,
  type DecisionQuery,
} from "../store/operator-queries.ts";
import type { LimitLedger } from "../limits/ledger.ts";
import { UNITS } from "../limits/schema.ts";
import type { SoftLimit } from "../limits/types.ts";
import { Summarizer, type Summary } from "../policy/summary.ts";

export type DecisionFilter = Omit<DecisionQuery, "limit">;

export interface DecisionSummary {
  intent_id: string;
  agent: string;
  action: string;
  decision: string;
  reasons: unknown[];
  created_at: string;
  updated_at?: string;
  hold_id?: string;
  summary?: Summary;
}

export interface TimelineEntry {
  at: string;
  /** declared | decided | hold.created | hold.approval | hold.approved | hold.denied | hold.expired |
   * attestation.redeemed | attestation.replay_refused | execution.receipt (the audit row's type) */
  type: string;
  /** One line for people: "Approved by alice (1 of 2): invoice checked". */
  title: string;
  /** Who acted, when an operator or executor did. */
  actor?: string;
  seq?: number;
  data?: Record<string, unknown>;
}

export interface IntentTimeline {
  intent_id: string;
  agent: string;
  action: string;
  decision: string;
  summary: Summary;
  hold_id?: string;
  entries: TimelineEntry[];
}

export interface UsageStream {
  scope_key: string;
  /** agent | tenant | team | global */
  scope: string;
  /** The agent, tenant or team/tenant the stream counts (global: "global"). */
  name: string;
  total: number;
  remaining: number;
  /** Reserved amounts in `buckets` equal slices of the window, oldest first. */
  buckets: number[];
  by_agent: { agent: string; total: number }[];
}

export interface UsageLimit {
  id: string;
  scope: string;
  measure: "count" | "expression";
  window_ms: number;
  max: number;
  streams: UsageStream[];
}

export interface UsageReport {
  now: string;
  buckets: number;
  limits: UsageLimit[];
}

export interface PolicyStatus {
  loaded: boolean;
  digest: string | null;
  file: string | null;
  loaded_at: string | null;
  last_reload: { at: string; ok: boolean; digest?: string; error?: string } | null;
  /** The error of the last reload if it failed (the previous policy stays active), else null. */
  last_error: string | null;
  soft_limits: number;
}

export interface OperatorViews {
  decisions(limit: number, filter?: DecisionFilter): DecisionSummary[];
  timeline(intentId: string): IntentTimeline | undefined;
  usage(buckets?: number): UsageReport;
  policyStatus(): PolicyStatus;
}

type PolicyLike = { digest: string; config?: unknown; labels?: unknown; file?: unknown; loadedAt?: unknown } | undefined;

const summarizers = new WeakMap<object, Summarizer>();
const plain = new Summarizer(undefined);

/** The Summarizer for a policy (cached per loaded policy object); a bare one when the policy has no labels/config. */
export function summarizerFor(policy: PolicyLike): Summarizer {
  if (!policy || !(policy.labels instanceof Map) || !policy.config || typeof policy.config !== "object") return plain;
  let s = summarizers.get(policy);
  if (!s) {
    try {
      s = new Summarizer(policy as unknown as ConstructorParameters<typeof Summarizer>[0]);
    } catch {
      s = plain;
    }
    summarizers.set(policy, s);
  }
  return s;
}

/** A summary that never throws: a summary failure must not hide a hold. */
export function safeSummary(s: Summarizer, intent: Intent): Summary {
  try {
    return s.summarize(intent);
  } catch {
    const line = `${intent.action} (no summary available; see the raw intent)`;
    return { lines: [line], text: line };
  }
}

export interface OperatorViewsOptions {
  db: Db;
  ledger: LimitLedger;
  currentPolicy(): PolicyLike;
  limits(): SoftLimit[];
  now?: () => number;
}

export function createOperatorViews(o: OperatorViewsOptions): OperatorViews {
  const now = o.now ?? Date.now;
  const summarize = (intent: Intent) => safeSummary(summarizerFor(o.currentPolicy()), intent);

  return {
    decisions(limit, filter = {}) {
      return queryDecisions(o.db, { ...filter, limit }).map((r) => ({
        intent_id: r.id,
        agent: r.agent,
        action: r.action,
        decision: r.decision,
        reasons: r.reasons,
        created_at: r.created_at,
        updated_at: r.updated_at,
        ...(r.hold ? { hold_id: r.hold.id } : {}),
        summary: summarize(r.intent as Intent),
      }));
    },

    timeline(intentId) {
      const rec = intentById(o.db, intentId);
      if (!rec) return undefined;
      const entries: TimelineEntry[] = [
        { at: rec.created_at, type: "declared", title: `Declared by ${rec.agent}: ${rec.action}`, actor: rec.agent },
      ];
      for (const a of auditForIntent(o.db, intentId, rec.created_at)) entries.push(entryFor(a));
      // time order (a hold's row is written after the decision's clock reading); the chain order breaks ties
      entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || (a.seq ?? 0) - (b.seq ?? 0));
      return {
        intent_id: rec.id,
        agent: rec.agent,
        action: rec.action,
        decision: rec.decision,
        summary: summarize(rec.intent as Intent),
        ...(rec.hold ? { hold_id: rec.hold.id } : {}),
        entries,
      };
    },

    usage(buckets = 24) {
      const t = now();
      const limits = o.limits().map((l): UsageLimit => {
        const from = t - l.windowMs;
        const streams = ledgerStreams(o.db, l.id)
          .map((key): UsageStream => {
            const total = o.ledger.windowTotal(l.id, key, l.windowMs, t);
            const colon = key.indexOf(":");
            return {
              scope_key: key,
              scope: colon < 0 ? key : key.slice(0, colon),
              name: colon < 0 ? key : key.slice(colon + 1),
              total: round(total),
              remaining: round(Math.max(0, l.max - total)),
              buckets: ledgerBuckets(o.db, l.id, key, from, t, buckets).map((u) => round(u / UNITS)),
              by_agent: ledgerByAgent(o.db, l.id, key, from, t).map((r) => ({ agent: r.agent, total: round(r.amount / UNITS) })),
            };
          })
          .filter((s) => s.total > 0 || s.buckets.some((b) => b > 0))
          .sort((a, b) => b.total / l.max - a.total / l.max);
        return { id: l.id, scope: l.scope, measure: l.measure === "count" ? "count" : "expression", window_ms: l.windowMs, max: l.max, streams };
      });
      return { now: new Date(t).toISOString(), buckets, limits };
    },

    policyStatus() {
      const p = o.currentPolicy();
      const last = lastPolicyReload(o.db);
      const ok = last?.type === "policy.reloaded";
      return {
        loaded: Boolean(p),
        digest: p?.digest ?? null,
        file: typeof p?.file === "string" ? p.file : null,
        loaded_at: p?.loadedAt instanceof Date ? p.loadedAt.toISOString() : null,
        last_reload: last
          ? {
              at: last.ts,
              ok,
              ...(typeof last.data.digest === "string" ? { digest: last.data.digest } : {}),
              ...(typeof last.data.error === "string" ? { error: last.data.error } : {}),
            }
          : null,
        last_error: last && !ok && typeof last.data.error === "string" ? last.data.error : null,
        soft_limits: o.limits().length,
      };
    },
  };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

function reasonRules(v: unknown): string {
  if (!Array.isArray(v)) return "";
  return v
    .map((r: { block?: unknown; rule?: unknown }) => `${String(r.block)}/${String(r.rule)}`)
    .join(", ");
}

function entryFor(a: AuditEntry): TimelineEntry {
  const d = a.data;
  const str = (k: string) => (typeof d[k] === "string" ? (d[k] as string) : undefined);
  const base = { at: a.ts, type: a.type, seq: a.seq, data: d };
  switch (a.type) {
    case "decision": {
      const rules = reasonRules(d.reasons);
      return { ...base, type: "decided", title: `Decided: ${String(d.decision)}${rules ? ` (${rules})` : ""}` };
    }
    case "hold.created":
      return { ...base, title: `Held for review: ${String(d.approvals_required)} approval${d.approvals_required === 1 ? "" : "s"} required` };
    case "hold.approval":
      return {
        ...base,
        actor: str("operator"),
        title: `Approved by ${str("operator")} (${String(d.approvals)} of ${String(d.approvals_required)})${str("note") ? `: ${str("note")}` : ""}`,
      };
    case "hold.approved":
      return { ...base, actor: str("operator"), title: `Quorum reached: APPROVED, attestation issued (last approval by ${str("operator")})` };
    case "hold.denied":
      return { ...base, actor: str("operator"), title: `Denied by ${str("operator")}${str("note") ? `: ${str("note")}` : ""}` };
    case "hold.expired":
      return { ...base, title: "Expired without the required approvals" };
    case "attestation.redeemed":
      return { ...base, ...(str("by") ? { actor: str("by") } : {}), title: `Attestation redeemed (audience ${str("aud")}${str("by") ? `, by ${str("by")}` : ""})` };
    case "attestation.replay_refused":
      return { ...base, ...(str("by") ? { actor: str("by") } : {}), title: "A second redemption of the attestation was refused" };
    case "execution.receipt":
      return {
        ...base,
        ...(str("by") ? { actor: str("by") } : {}),
        title: `Receipt: ${str("outcome")}${str("tx_hash") ? `, tx ${str("tx_hash")}` : ""}${str("error") ? `: ${str("error")}` : ""}`,
      };
    default:
      return { ...base, title: a.type };
  }
}
