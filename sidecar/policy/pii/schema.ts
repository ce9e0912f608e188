// Schema of the `pii` policy block (with `meta` for the generated reference). Kept apart from schema.ts, which
// imports it; like schema-scopes.ts it must not import schema.ts's values (an import cycle).
import { z } from "zod";
import { globsOf, m } from "../schema-parts.ts";
import { scopePattern } from "../schema-scopes.ts";
import { BUILTIN_DETECTORS, detectorLabel } from "./detectors.ts";
import { patternProblem } from "./patterns.ts";

const globs = globsOf("crm.*");

export const PII_ACTIONS = ["deny", "hold", "redact", "allow"] as const;
const action = z.enum(PII_ACTIONS, { error: 'must be "deny", "hold", "redact" or "allow"' });

const detectors = z
  .object(
    Object.fromEntries(
      BUILTIN_DETECTORS.map((d) => [d, action.optional().meta(m(`Action when ${detectorLabel(d)} is found.`))]),
    ) as Record<(typeof BUILTIN_DETECTORS)[number], z.ZodOptional<typeof action>>,
  )
  .strict();

const id = z
  .string({ error: "must be a string" })
  .regex(/^[a-z][a-z0-9_-]{0,63}$/, "must be 1-64 lower-case letters, digits, _ or -, starting with a letter");

export const piiSchema = z
  .object({
    detectors: detectors
      .optional()
      .meta(
        m(
          "Built-in detectors and what finding one does: `deny`, `hold` (PENDING), `redact` (the decision returns the params with the value replaced by `[REDACTED:<detector>]` and the attestation binds that form) or `allow`. A detector not listed does not run (unless a rule names it).",
        ),
      ),
    patterns: z
      .array(
        z
          .object({
            id: id.meta(m("Pattern id: names the detector in reasons, markers and counts.")),
            regex: z
              .string({ error: "must be an RE2 regular expression string" })
              .superRefine((s, ctx) => {
                const p = patternProblem(s);
                if (p) ctx.addIssue({ code: "custom", message: p });
              })
              .meta(m("RE2 regular expression (no lookaround, no backreferences), matched anywhere in each string.")),
            action: action.meta(m("What a match does.")),
          })
          .strict(),
      )
      .optional()
      .meta(m("Operators' own detectors.")),
    rules: z
      .array(
        z
          .object({
            id: id.optional().meta(m("Rule id, shown in reasons and usable in holds.overrides.", { default: "the detector id" })),
            detector: z
              .string({ error: "must be a detector id or a pattern id" })
              .min(1)
              .meta(m('A built-in detector, a pattern id, or "*" for every detector the block runs.')),
            action: action.meta(m("What a finding does where this rule matches.")),
            scope: scopePattern
              .optional()
              .meta(m("Scope pattern the call must match (`org:acme/team:*/server:crm/tool:*`).", { default: "any" })),
            tools: globs.optional().meta(m("Tool globs (tool.call only).", { default: "any" })),
            actions: globs.optional().meta(m("Action globs.", { default: "any" })),
          })
          .strict(),
      )
      .optional()
      .meta(
        m(
          "Per-scope actions. Where rules match a finding, the most severe of their actions applies (deny > hold > redact > allow); where none matches, the detector's (or pattern's) own action.",
        ),
      ),
    apply_to: globs.optional().meta(m("Action globs whose params are scanned.", { default: "every action" })),
  })
  .strict();

export type RawPii = z.infer<typeof piiSchema>;
