// The operator-facing view of a hold this node just created in the shared store, built from the decision's record
// (for the hold.pending webhook and the SIEM, which the SQLite hold service gives its own holds).
import type { Intent } from "../protocol/index.ts";
import type { HoldView } from "./holds/types.ts";
import { holdRules } from "./holds/terms.ts";
import type { IntentRecord } from "./store/index.ts";
import type { Summary } from "./policy/summary.ts";

export function fleetHoldView(rec: IntentRecord, fleet: { summarize(intent: Intent): Summary }): HoldView {
  const hold = rec.hold!;
  const intent = rec.intent as Intent;
  return {
    id: hold.id,
    intent_id: rec.id,
    state: "pending",
    agent: rec.agent,
    action: rec.action,
    intent,
    reasons: rec.reasons,
    rules: holdRules(rec.reasons),
    policy_digest: rec.policy_digest ?? "",
    approvals_required: hold.approvals_required,
    approvals: [],
    created_at: rec.created_at,
    expires_at: hold.expires_at,
    resolved_at: null,
    resolved_by: null,
    resolution_note: null,
    summary: fleet.summarize(intent),
  };
}
