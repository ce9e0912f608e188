// Schema pieces of scoped rules, per-scope sections, risk classes and rate limits (issue 18 items 1, 4, 5), with
// `meta` for the generated reference. Kept apart from schema.ts, which imports them; this file must not import
// schema.ts's values (a cycle would leave them undefined while this module evaluates), hence its own glob and
// duration validators built on the same checks (globProblem, parseDuration).
import { z } from "zod";
import { globs, m } from "./schema-parts.ts";
import { globProblem } from "./glob.ts";
import { parseDuration } from "./units.ts";
import { parseScopePattern } from "./scope.ts";
import { RISK_LEVELS } from "./risk.ts";



export const scopePattern = z
  .string({ error: 'must be a scope pattern string, e.g. "org:acme/team:*/server:jira/tool:read_*"' })
  .superRefine((s, ctx) => {
    const r = parseScopePattern(s);
    if ("error" in r) ctx.addIssue({ code: "custom", message: r.error });
  });

const riskLevel = z.enum(RISK_LEVELS, { error: 'must be "low", "medium", "high" or "critical"' });
const riskMatch = z.union([riskLevel, z.array(riskLevel).min(1, "needs at least one class")], {
  error: 'must be a risk class ("low", "medium", "high", "critical") or a list of them',
});
const effect = z.enum(["deny", "hold", "allow"], { error: 'must be "deny", "hold" or "allow"' });

const ruleCommon = {
  id: z.string().min(1).meta(m("Rule id, shown in reasons and usable in holds.overrides.")),
  effect: effect.meta(
    m("What a match does. Precedence deny > hold > allow. In a `scopes` section, `allow` rules only restrict."),
  ),
  scope: scopePattern
    .optional()
    .meta(m("Scope pattern the call must match (`org:acme/team:*/server:jira/tool:read_*`).", { default: "any" })),
  risk: riskMatch.optional().meta(m("Risk class (or list) the call must have.", { default: "any" })),
  reason: z.string().optional().meta(m("Message shown when the rule matches.")),
};

export const toolRules = z
  .array(
    z
      .object({ ...ruleCommon, tools: globs.optional().meta(m("Tool globs the call must match.", { default: "any" })) })
      .strict(),
  )
  .meta(
    m(
      "Rules on tool calls by scope, tool and risk; all given conditions must match (at least one of scope/tools/risk).",
    ),
  );

export const actionRules = z
  .array(
    z
      .object({
        ...ruleCommon,
        actions: globs.optional().meta(m("Action globs the intent must match.", { default: "any" })),
      })
      .strict(),
  )
  .meta(
    m(
      "Rules on any action by scope, action and risk. deny/hold apply to every action; allow only to actions without a block of their own.",
    ),
  );

export const scopesSchema = z
  .array(
    z
      .object({
        scope: scopePattern.meta(m("Scope pattern the section applies to, e.g. `org:acme/team:payments`.")),
        tool_calls: z
          .object({
            allow: globs
              .optional()
              .meta(m("If set (or allow rules exist), tools outside it (and outside hold) are denied in this scope.")),
            deny: globs.optional().meta(m("Tool globs denied in this scope.")),
            hold: globs.optional().meta(m("Tool globs held (PENDING) in this scope.")),
            rules: toolRules.optional(),
          })
          .strict()
          .optional()
          .meta(m("Narrowing of tool_calls for this scope.")),
        actions: z
          .object({
            allow: globs
              .optional()
              .meta(m("If set (or allow rules exist), other actions without a block of their own are denied here.")),
            deny: globs.optional().meta(m("Action globs denied in this scope.")),
            rules: actionRules.optional(),
          })
          .strict()
          .optional()
          .meta(m("Narrowing of actions for this scope.")),
      })
      .strict(),
  )
  .meta(
    m(
      "Per-tenant / per-team sections, evaluated after the base policy; they can only add denies and holds and restrict allows, never allow what the base does not.",
    ),
  );

export const riskSchema = z
  .object(
    Object.fromEntries(
      RISK_LEVELS.map((l) => [
        l,
        z
          .array(
            z.string({ error: "must be a name glob or a scope pattern" }).superRefine((s, ctx) => {
              const r = s.includes(":") ? parseScopePattern(s) : undefined;
              const p = r && "error" in r ? r.error : r ? undefined : globProblem(s);
              if (p) ctx.addIssue({ code: "custom", message: p });
            }),
            { error: 'must be a list of tool/action globs or scope patterns, e.g. ["github.delete_*"]' },
          )
          .optional()
          .meta(m(`Tool or action globs, or scope patterns, of class ${l}.`)),
      ]),
    ) as Record<(typeof RISK_LEVELS)[number], z.ZodOptional<z.ZodArray<z.ZodString>>>,
  )
  .strict()
  .meta(
    m(
      "Risk classes of tools and actions: name globs (tool name for tool.call, action name otherwise) or scope patterns. The highest matching class wins.",
      { default: "medium" },
    ),
  );

export const rateLimitsSchema = z
  .array(
    z
      .object({
        id: z.string().min(1).meta(m("Limit id, shown in reasons (and holds.overrides when on_exceed is hold).")),
        scope: z
          .enum(["agent", "tenant", "team", "global"], { error: 'must be "agent", "tenant", "team" or "global"' })
          .meta(m("Whose calls are counted together; tenant/team from the agent's principal in the sidecar config.")),
        actions: globs.optional().meta(m("Action globs counted.", { default: "all actions" })),
        tools: globs.optional().meta(m("Tool globs counted (tool.call only); not with actions.")),
        max: z
          .number({ error: "must be a number" })
          .int("must be a whole number")
          .min(1, "must be at least 1")
          .meta(m("Approved decisions allowed in any window of length `per`.")),
        per: z
          .unknown()
          .superRefine((v, ctx) => {
            const r = parseDuration(v);
            if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
          })
          .meta(m("Sliding window length.", { unit: "duration" })),
        on_exceed: z
          .enum(["deny", "hold"], { error: 'must be "deny" or "hold"' })
          .optional()
          .meta(m("What an intent over the limit gets: DENIED or PENDING.", { default: "deny" })),
      })
      .strict(),
  )
  .meta(m("Sliding-window counts of approved decisions; over `max` the intent is DENIED (or PENDING)."));
