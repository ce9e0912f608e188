// The seams the holds engineer fills (holds and soft limits). Both hooks are SYNCHRONOUS and run inside the
// decision's SQLite transaction (better-sqlite3), so a check-and-reserve and the recorded decision commit together;
// never await inside them. The daemon passes its implementations into the pipeline (see sidecar/daemon.ts).
import { randomUUID } from "node:crypto";
import type { HoldSummary, Intent, Reason } from "../protocol/index.ts";
import type { Db, IntentRecord } from "./store/index.ts";

/** What the pipeline knows about the policy in force (a subset of the policy engineer's LoadedPolicy). */
export interface PolicyRef {
  digest: string;
  /** The parsed policy config (holds.ttl, holds.approvals_required, soft_limits, ...), typed by sidecar/policy. */
  config?: unknown;
}

export interface HoldRequest {
  db: Db;
  intentId: string;
  intent: Intent;
  digest: string;
  policy: PolicyRef;
  /** The reasons for holding (block/rule of every hold verdict or soft-limit crossing). */
  reasons: Reason[];
  now: Date;
}

export interface HoldService {
  /** Creates a durable hold for a PENDING intent and returns the summary the agent sees. */
  create(req: HoldRequest): HoldSummary;
}

export interface LimitRequest {
  db: Db;
  intentId: string;
  intent: Intent;
  policy: PolicyRef;
  now: Date;
}

/** What the limits found when some refuse outright: `deny` reasons make the intent DENIED (they win), `hold` reasons
 * PENDING. Nothing may be reserved when either is non-empty. */
export interface LimitVerdict {
  hold: Reason[];
  deny: Reason[];
}

export interface LimitLedger {
  /** Checks every soft limit that applies to the intent and, when none would be crossed, reserves its amounts.
   * Returns the reasons of the limits that would be crossed (then nothing is reserved and the intent is PENDING),
   * or a LimitVerdict when some limit (a budget or rate limit with a deny action) refuses outright. */
  checkAndReserve(req: LimitRequest): Reason[] | LimitVerdict;
}

const DAY_MS = 24 * 3600 * 1000;

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Minimal default: a hold id and expiry from the policy's `holds` block (ttl, approvals_required and per-rule
 * overrides when the config exposes them), stored with the intent row. Approval is the holds engineer's. */
export const defaultHoldService: HoldService = {
  create(req) {
    const holds = (req.policy.config as { holds?: Record<string, unknown> } | undefined)?.holds ?? {};
    const ttlMs = num(holds.ttl_ms) ?? num(holds.ttlMs) ?? num(holds.ttl) ?? DAY_MS;
    let required = num(holds.approvals_required) ?? num(holds.approvalsRequired) ?? 1;
    // overrides: a Map rule → {approvalsRequired, ttlMs} (sidecar/policy config) or a list of {rule, approvals_required}
    const ov = holds.overrides;
    const entries: [string, Record<string, unknown>][] =
      ov instanceof Map
        ? [...ov.entries()]
        : Array.isArray(ov)
          ? ov.map((o: Record<string, unknown>) => [String(o.rule), o])
          : [];
    let ttl = ttlMs;
    for (const [rule, o] of entries) {
      if (!req.reasons.some((r) => r.rule === rule)) continue;
      required = Math.max(required, num(o.approvalsRequired) ?? num(o.approvals_required) ?? required);
      ttl = num(o.ttlMs) ?? ttl;
    }
    return {
      id: randomUUID(),
      expires_at: new Date(req.now.getTime() + ttl).toISOString(),
      approvals_required: required,
      approvals: 0,
    };
  },
};

/** Default: no soft limits. */
export const noLimits: LimitLedger = { checkAndReserve: () => [] };

// --- the shared store seam (fleet mode, docs/fleet.md) -------------------------------------------------------------
// With `store: postgres://…` the decision's shared state (idempotency, soft-limit reservation, hold, intent record,
// audit) is written to PostgreSQL in one transaction per batch, BEFORE the local SQLite journal and before the answer.
// The pipeline hands a batch to `SharedDecisions.record` and mirrors what it returns; any failure is a DENIED.

/** One decision as the pipeline hands it to the shared store. */
export interface SharedJob {
  id: string;
  intent: Intent;
  digest: string;
  policy: PolicyRef;
  effect: "allow" | "hold" | "deny";
  reasons: Reason[];
  now: Date;
}

export type SharedOutcome =
  | { rec: IntentRecord; replay?: undefined; conflict?: undefined; busy?: undefined }
  | { replay: IntentRecord; rec?: undefined; conflict?: undefined; busy?: undefined }
  | { conflict: true; rec?: undefined; replay?: undefined; busy?: undefined }
  /** The key's first decision is APPROVED but its node has not journaled it yet: retry shortly (no attestation). */
  | { busy: true; rec?: undefined; replay?: undefined; conflict?: undefined };

/** Builds the stored record of a decision (claims and kid when APPROVED); the pipeline's, so both stores agree. */
export type MakeRecord = (
  job: SharedJob,
  decision: "APPROVED" | "DENIED" | "PENDING",
  reasons: Reason[],
  hold?: HoldSummary,
) => IntentRecord;

export interface SharedDecisions {
  /** Records a batch in one transaction; per job its outcome or the error that kept it out (nothing of it written). */
  record(jobs: readonly SharedJob[], make: MakeRecord): Promise<({ out: SharedOutcome; error?: undefined } | { out?: undefined; error: unknown })[]>;
  /** A recorded decision the local journal could not keep: the shared record becomes DENIED (no claims), so no
   * replay anywhere hands out an attestation this sidecar never gave. Best effort. */
  revoke(intentId: string): Promise<void>;
  /** The local journal kept these decisions: replays on other sidecars may now hand them out. Best effort, retried. */
  confirm(intentIds: readonly string[]): void;
}
