// Policy schema of cost measures and budgets (issue 18 item 6), with `meta` for the generated reference. Imported by
// sidecar/policy/schema.ts; like schema-scopes.ts it must not import schema.ts's values (a cycle would leave them
// undefined while this module evaluates), so it builds its validators on the same checks (globProblem, parsers).
import { z } from "zod";
import { globOf, m, unitCheck } from "../policy/schema-parts.ts";
import { parseBudgetLimit, parseBudgetPer } from "./budget-units.ts";

const glob = globOf("llm.*");

const id = z
  .string({ error: "must be a string id" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "must be 1-64 letters, digits, _ . - (starting with a letter or digit)");

const currency = z
  .string({ error: 'must be a currency or unit code, e.g. "USD"' })
  .regex(/^[A-Z][A-Z0-9_]{1,15}$/, 'must be an upper-case currency or unit code of 2-16 characters, e.g. "USD"');

export const costsSchema = z
  .array(
    z
      .object({
        id: id.meta(m("Measure id, named in errors and in `usage`.")),
        actions: z
          .array(glob, { error: 'must be a list of globs, e.g. ["llm.*"]' })
          .optional()
          .meta(m("Action globs this measure prices.", { default: "all actions" })),
        measure: z
          .string({ error: "must be a CEL expression string (quote it)" })
          .min(1, "is empty; write a CEL expression")
          .meta(m("CEL giving the intent's cost as a number from 0 to 1e9, rounded to millionths (e.g. `double(intent.params.tokens) * 0.000002`).")),
        currency: currency.meta(m("Currency or unit of the measure's result.")),
      })
      .strict(),
  )
  .meta(
    m(
      "Operator-priced costs: the first entry whose actions match gives the intent's cost and wins over the cost the agent declared (`intent.cost`). A measure that fails denies.",
    ),
  );

export const budgetsSchema = z
  .array(
    z
      .object({
        id: id.meta(m("Budget id, named in reasons, webhook alerts and `usage`.")),
        scope: z
          .enum(["agent", "team", "tenant"], { error: 'must be "agent", "team" or "tenant"' })
          .meta(
            m(
              "Whose spend the budget caps, each separately: every agent, every team or every tenant (of the agent's principal in the sidecar config, never the intent's context; an agent without one is counted alone).",
            ),
          ),
        per: unitCheck(parseBudgetPer).meta(
          m(
            "The window: `day`, `week` (from Monday) or `month`, calendar windows in UTC; or a duration (`12h`, `30d`): fixed windows of that length counted from 1970-01-01T00:00Z. Spend starts again from zero in each window.",
            { unit: "day | week | month | duration" },
          ),
        ),
        limit: unitCheck(parseBudgetLimit).meta(
          m("The most the scope may spend in a window, with its currency; only costs in that currency count.", {
            unit: '"<decimal> <CURRENCY>", e.g. "500 USD"',
          }),
        ),
        alert_at: z
          .array(
            z
              .number({ error: "must be a number (a fraction of the limit, e.g. 0.8)" })
              .positive("must be greater than 0")
              .max(10, "must be at most 10 (1000% of the limit)"),
            { error: "must be a list of fractions of the limit, e.g. [0.5, 0.8, 1.0]" },
          )
          .optional()
          .meta(
            m(
              "Fractions of the limit at which a `budget.threshold` webhook is queued, once per threshold, window and scope key.",
              { default: "[1.0]" },
            ),
          ),
        on_exceed: z
          .enum(["hold", "deny"], { error: 'must be "hold" or "deny"' })
          .optional()
          .meta(m("What happens to an intent that would take the window's spend beyond the limit.", { default: "hold" })),
      })
      .strict(),
  )
  .meta(
    m(
      "Spending caps over intent costs per agent, team or tenant and window: alerts at thresholds, hold or deny beyond the limit. Costs in a currency no budget counts are DENIED when budgets exist.",
    ),
  );
