// Compiles the scoped-rule, scopes-section, risk and rate-limit parts of a validated policy (compile.ts calls it).
// Cross-field checks live here: a rule needs a condition, a rate limit counts actions or tools, not both.
import type { RawPolicy } from "./schema.ts";
import type { RateLimitConfig, ScopedRule, ScopeSection } from "./config.ts";
import type { CompileIssue, Path } from "./compile.ts";
import { compileGlobs } from "./glob.ts";
import { compileScopePattern } from "./scope.ts";
import { compileRisk, type RiskConfig, type RiskLevel } from "./risk.ts";
import { parseDuration } from "./units.ts";

type RawRule = {
  id: string;
  effect: "deny" | "hold" | "allow";
  scope?: string | undefined;
  risk?: RiskLevel | RiskLevel[] | undefined;
  reason?: string | undefined;
  tools?: string[] | undefined;
  actions?: string[] | undefined;
};

export interface GovernanceOutput {
  toolRules?: ScopedRule[];
  actionRules?: ScopedRule[];
  scopes?: ScopeSection[];
  risk?: RiskConfig;
  rateLimits?: RateLimitConfig[];
  /** Ids of rules and limits that can raise a hold (for holds.overrides). */
  holdIds: string[];
}

const where = (p: Path) => p.map((s, i) => (typeof s === "number" ? `[${s}]` : i ? `.${s}` : s)).join("");

export function compileGovernance(
  raw: RawPolicy,
  issues: CompileIssue[],
  claimId: (id: string, p: Path) => void,
): GovernanceOutput {
  const holdIds: string[] = [];
  const rules = (list: RawRule[] | undefined, p: Path, kind: "tools" | "actions"): ScopedRule[] => {
    const out: ScopedRule[] = [];
    for (const [i, r] of (list ?? []).entries()) {
      const at: Path = [...p, i];
      claimId(r.id, [...at, "id"]);
      const names = kind === "tools" ? r.tools : r.actions;
      if (r.scope === undefined && r.risk === undefined && names === undefined) {
        issues.push({
          path: at,
          message: `rule ${r.id} matches every call; give it a scope, ${kind} or risk (an empty rule is refused so an allow cannot open everything by accident)`,
        });
        continue;
      }
      if (r.effect === "hold") holdIds.push(r.id);
      out.push({
        id: r.id,
        effect: r.effect,
        where: where(at),
        ...(r.scope !== undefined ? { scope: compileScopePattern(r.scope) } : {}),
        ...(names ? { names: compileGlobs(names, { caseInsensitive: kind === "tools" }) } : {}),
        ...(r.risk !== undefined ? { risk: new Set(Array.isArray(r.risk) ? r.risk : [r.risk]) } : {}),
        ...(r.reason !== undefined ? { reason: r.reason } : {}),
      });
    }
    return out;
  };

  const out: GovernanceOutput = { holdIds };
  if (raw.tool_calls?.rules) out.toolRules = rules(raw.tool_calls.rules, ["tool_calls", "rules"], "tools");
  if (raw.actions?.rules) out.actionRules = rules(raw.actions.rules, ["actions", "rules"], "actions");
  if (raw.risk) out.risk = compileRisk(raw.risk);

  if (raw.scopes) {
    out.scopes = raw.scopes.map((s, i): ScopeSection => {
      const p: Path = ["scopes", i];
      const section: ScopeSection = { scope: compileScopePattern(s.scope), where: `scopes[${i}] (${s.scope})` };
      if (s.tool_calls) {
        const tc = s.tool_calls;
        const r = rules(tc.rules, [...p, "tool_calls", "rules"], "tools");
        if (tc.hold?.length) holdIds.push("hold");
        section.toolCalls = {
          ...(tc.allow ? { allow: compileGlobs(tc.allow, { caseInsensitive: true }) } : {}),
          deny: compileGlobs(tc.deny, { caseInsensitive: true }),
          hold: compileGlobs(tc.hold, { caseInsensitive: true }),
          rules: r,
          restricts: tc.allow !== undefined || r.some((x) => x.effect === "allow"),
        };
      }
      if (s.actions) {
        const a = s.actions;
        const r = rules(a.rules, [...p, "actions", "rules"], "actions");
        section.actions = {
          ...(a.allow ? { allow: compileGlobs(a.allow) } : {}),
          deny: compileGlobs(a.deny),
          rules: r,
          restricts: a.allow !== undefined || r.some((x) => x.effect === "allow"),
        };
      }
      return section;
    });
  }

  if (raw.rate_limits) {
    out.rateLimits = [];
    for (const [i, l] of raw.rate_limits.entries()) {
      claimId(l.id, ["rate_limits", i, "id"]);
      if (l.actions && l.tools) {
        issues.push({
          path: ["rate_limits", i, "tools"],
          message: `rate limit ${l.id} has both actions and tools; give one (tools count tool.call intents by tool name)`,
          key: true,
        });
        continue;
      }
      const per = parseDuration(l.per);
      if (!per.ok) continue; // the schema reported it
      const onExceed = l.on_exceed ?? "deny";
      if (onExceed === "hold") holdIds.push(l.id);
      out.rateLimits.push({
        id: l.id,
        scope: l.scope,
        ...(l.actions ? { actions: compileGlobs(l.actions) } : {}),
        ...(l.tools ? { tools: compileGlobs(l.tools, { caseInsensitive: true }) } : {}),
        max: l.max,
        perMs: per.value,
        onExceed,
      });
    }
  }
  return out;
}
