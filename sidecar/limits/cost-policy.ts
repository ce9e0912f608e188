// Compiles the policy's `costs` and `budgets` blocks (already validated by budgets-schema.ts) into a CostPolicy:
// CEL measures and globs compiled, units parsed, cross-field problems (duplicate ids, a measure's currency no budget
// counts) reported with their path so the loader can position them at line:col.
import type { CompileIssue, Path } from "../policy/compile.ts";
import { compileMeasure } from "../policy/cel.ts";
import { compileGlobs } from "../policy/glob.ts";
import { parseBudgetLimit, parseBudgetPer } from "./budget-units.ts";
import type { Budget, CostPolicy } from "./budgets.ts";
import type { CostMeasure } from "./cost.ts";

export interface RawCost {
  id: string;
  actions?: string[] | undefined;
  measure: string;
  currency: string;
}

export interface RawBudget {
  id: string;
  scope: "agent" | "team" | "tenant";
  per: unknown;
  limit: unknown;
  alert_at?: number[] | undefined;
  on_exceed?: "hold" | "deny" | undefined;
}

export interface CostCompileContext {
  issues: CompileIssue[];
  /** Claims a rule id (budget ids are reason rules and may be named in holds.overrides). */
  claimId(id: string, p: Path): void;
  celIssue(err: unknown, p: Path): CompileIssue;
}

/** Undefined when the policy has neither block (nothing to count). */
export function compileCostPolicy(
  raw: { costs?: RawCost[] | undefined; budgets?: RawBudget[] | undefined },
  ctx: CostCompileContext,
): CostPolicy | undefined {
  if (raw.costs === undefined && raw.budgets === undefined) return undefined;
  const measures: CostMeasure[] = [];
  const seen = new Map<string, number>();
  for (const [i, c] of (raw.costs ?? []).entries()) {
    const prev = seen.get(c.id);
    if (prev !== undefined) ctx.issues.push({ path: ["costs", i, "id"], message: `cost id "${c.id}" is already used at costs.${prev}; ids must be unique` });
    seen.set(c.id, i);
    try {
      if (c.measure.trim() === "count") throw new Error('a cost measure must give an amount, not "count"');
      measures.push({
        id: c.id,
        ...(c.actions ? { actions: compileGlobs(c.actions) } : {}),
        measure: compileMeasure(c.measure),
        currency: c.currency,
      });
    } catch (err) {
      ctx.issues.push(ctx.celIssue(err, ["costs", i, "measure"]));
    }
  }
  const budgets: Budget[] = [];
  for (const [i, b] of (raw.budgets ?? []).entries()) {
    ctx.claimId(b.id, ["budgets", i, "id"]);
    const per = parseBudgetPer(b.per);
    const limit = parseBudgetLimit(b.limit);
    if (!per.ok || !limit.ok) continue; // the schema reported them at their own line:col
    const alertAt = [...new Set(b.alert_at ?? [1])].sort((x, y) => x - y);
    budgets.push({
      id: b.id,
      scope: b.scope,
      per: per.value,
      limitUnits: limit.value.units,
      currency: limit.value.currency,
      alertAt,
      onExceed: b.on_exceed ?? "hold",
    });
  }
  const counted = new Set(budgets.map((b) => b.currency));
  for (const [i, c] of (raw.costs ?? []).entries()) {
    if (budgets.length > 0 && !counted.has(c.currency)) {
      ctx.issues.push({
        path: ["costs", i, "currency"],
        message: `no budget counts ${c.currency} (budgets count ${[...counted].join(", ")}); such costs would be denied`,
      });
    }
  }
  return { measures, budgets };
}
