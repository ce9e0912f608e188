// Public shapes of the holds module.
import type { Intent, Reason } from "../../protocol/index.ts";
import type { Summary } from "../policy/summary.ts";

export type HoldState = "pending" | "approved" | "denied" | "expired";
export const HOLD_STATES: readonly HoldState[] = ["pending", "approved", "denied", "expired"];

export interface HoldApproval {
  operator: string;
  comment: string | null;
  at: string;
}

/** What operators see of a hold (operator API, console, CLI). */
export interface HoldView {
  id: string;
  intent_id: string;
  state: HoldState;
  agent: string;
  action: string;
  intent: Intent;
  reasons: Reason[];
  rules: string[];
  policy_digest: string;
  approvals_required: number;
  approvals: HoldApproval[];
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution_note: string | null;
  /** What the intent does, in words (sidecar/policy/summary.ts), with names from the policy in force. */
  summary: Summary;
}

/** The `holds` policy block, as the hold service needs it (the policy engine's HoldsConfig fits it). */
export interface HoldsPolicy {
  ttlMs: number;
  approvalsRequired: number;
  /** rule id → quorum (and optional TTL) for holds raised by that rule. */
  overrides: ReadonlyMap<string, { approvalsRequired: number; ttlMs?: number }>;
  /** `holds.max_open_per_agent`: pending holds one agent may have at once; beyond it, hold-worthy intents are
   * DENIED (sidecar/holds/cap.ts). Absent: 100. */
  maxOpenPerAgent?: number;
}

export const DEFAULT_HOLDS_POLICY: HoldsPolicy = {
  ttlMs: 24 * 3_600_000,
  approvalsRequired: 1,
  overrides: new Map(),
  maxOpenPerAgent: 100,
};

export type HoldErrorCode = "not_found" | "not_pending" | "already_approved" | "invalid_operator";

/** Typed errors with stable codes; the operator API maps them to 404 / 409 / 400. */
export class HoldError extends Error {
  constructor(
    readonly code: HoldErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "HoldError";
  }
}

/** Events the hold service emits (after the transaction committed). */
export interface HoldEvent {
  type: "created" | "approval" | "approved" | "denied" | "expired";
  hold: HoldView;
}

/** A hold-related audit entry, appended inside the transition's own transaction. */
export interface HoldAuditEvent {
  type: "hold.created" | "hold.approval" | "hold.approved" | "hold.denied" | "hold.expired";
  hold_id: string;
  intent_id: string;
  agent: string;
  operator?: string;
  approvals?: number;
  approvals_required?: number;
  note?: string;
}

/** What the operator API needs of holds: the SQLite HoldService, or the fleet store's (sidecar/store/pg/holds.ts),
 * whose answers are asynchronous. */
export interface HoldsApi {
  list(filter?: { state?: HoldState; agent?: string; rule?: string; limit?: number }): HoldView[] | Promise<HoldView[]>;
  get(holdId: string): HoldView | undefined | Promise<HoldView | undefined>;
  approve(holdId: string, operator: string, comment?: string): HoldView | Promise<HoldView>;
  deny(holdId: string, operator: string, reason?: string): HoldView | Promise<HoldView>;
  on(event: "hold", listener: (e: HoldEvent) => void): unknown;
  off(event: "hold", listener: (e: HoldEvent) => void): unknown;
}
