// The compiled `pii` block (sidecar/policy/pii/compile.ts builds it; ../blocks/pii.ts evaluates it).
import type { GlobSet } from "../glob.ts";
import type { ScopePattern } from "../scope.ts";
import type { Scanner } from "./scan.ts";

export type PiiAction = "deny" | "hold" | "redact" | "allow";

/** Severity order: deny > hold > redact > allow (redact wins over allow: the safer of the two). */
export const SEVERITY: Record<PiiAction, number> = { allow: 0, redact: 1, hold: 2, deny: 3 };

export interface PiiRule {
  /** A detector id, a pattern id, or "*" (every detector the block runs). */
  detector: string;
  action: PiiAction;
  scope?: ScopePattern;
  /** Tool globs (tool.call only). */
  tools?: GlobSet;
  /** Action globs. */
  actions?: GlobSet;
  /** `pii.rules[i]` or the rule's id: what reasons name. */
  id: string;
  where: string;
}

export interface PiiConfig {
  scanner: Scanner;
  /** Detector or pattern id → its action where no rule matches (absent: only rules decide). */
  defaults: Map<string, { action: PiiAction; where: string }>;
  rules: PiiRule[];
  /** Action globs whose params are scanned (undefined: every action). */
  applyTo?: GlobSet;
}
