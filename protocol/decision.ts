// Decision responses of the agent API (SPEC section 3).
import type { Reason } from "./errors.ts";

export type DecisionKind = "APPROVED" | "DENIED" | "PENDING" | "EXPIRED";

export interface HoldSummary {
  id: string;
  expires_at: string;
  approvals_required: number;
  approvals: number;
}

export interface DecisionResponse {
  decision: DecisionKind;
  intent_id: string;
  reasons: Reason[];
  attestation?: string;
  expires_at?: string;
  policy?: { digest: string };
  hold?: HoldSummary;
  /** The policy's pii block redacted the params (action `redact`): the attestation binds the intent with these params,
   * so the agent executes them instead of what it declared (APPROVED, and PENDING for after the approval). */
  redacted?: { params: Record<string, unknown> };
}
