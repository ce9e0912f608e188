// Risk classes: `risk: {critical: [...], high: [...], medium: [...], low: [...]}` in the policy gives tools and
// actions a class from patterns. A pattern with a `:` is a scope pattern (./scope.ts: `tool:*/server:prod-*`);
// any other is a name glob matched against the tool name of a tool.call (`github.delete_*`) or the action name of
// any other intent (`evm.*`). Several matches: the highest class wins (a call cannot be made less risky by also
// matching a low pattern). None: DEFAULT_RISK. Rules (tool_calls.rules, actions.rules, scopes) match on the class.
import type { Intent, Reason } from "../../protocol/index.ts";
import { compileGlobs, type GlobSet } from "./glob.ts";
import { compileScopePattern, isScopePattern, matchScope, type CallScope, type ScopePattern } from "./scope.ts";

export const RISK_LEVELS = ["low", "medium", "high", "critical"] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];
export const DEFAULT_RISK: RiskLevel = "medium";

interface RiskEntry {
  level: RiskLevel;
  pattern: string;
  names?: GlobSet;
  scope?: ScopePattern;
}

/** Compiled `risk` block; entries sorted highest class first so the first match is the answer. */
export interface RiskConfig {
  entries: RiskEntry[];
}

export interface RiskClass {
  level: RiskLevel;
  /** The pattern that gave the class (`risk.high "github.delete_*"`); absent for the default. */
  pattern?: string;
}

export const riskRank = (l: RiskLevel): number => RISK_LEVELS.indexOf(l);

export function compileRisk(raw: Partial<Record<RiskLevel, string[]>>): RiskConfig {
  const entries: RiskEntry[] = [];
  for (const level of [...RISK_LEVELS].reverse()) {
    for (const pattern of raw[level] ?? []) {
      entries.push(
        isScopePattern(pattern)
          ? { level, pattern, scope: compileScopePattern(pattern) }
          : { level, pattern, names: compileGlobs([pattern], { caseInsensitive: true }) },
      );
    }
  }
  return { entries };
}

/** The name risk and name globs of rules match: the tool of a tool.call, else the action. */
export function subjectName(intent: Intent): string {
  const tool = intent.action === "tool.call" ? intent.params.tool : undefined;
  return typeof tool === "string" ? tool : intent.action;
}

/** The class of a call: the highest class with a matching pattern, else DEFAULT_RISK. */
export function classify(cfg: RiskConfig | undefined, intent: Intent, scope: CallScope): RiskClass {
  if (cfg) {
    const name = subjectName(intent);
    for (const e of cfg.entries) {
      if (e.names ? e.names.test(name) : matchScope(e.scope!, scope)) return { level: e.level, pattern: e.pattern };
    }
  }
  return { level: DEFAULT_RISK };
}

/** The reason that names a call's class (added to the tool_calls / actions verdicts when the policy has `risk`). */
export function riskReason(r: RiskClass, intent: Intent): Reason {
  const what = intent.action === "tool.call" ? `tool ${subjectName(intent)}` : `action ${intent.action}`;
  return {
    block: "risk",
    rule: r.level,
    message: r.pattern
      ? `${what} is risk ${r.level} (matches risk.${r.level} ${JSON.stringify(r.pattern)})`
      : `${what} is risk ${r.level} (no risk pattern matches; the default class)`,
  };
}
