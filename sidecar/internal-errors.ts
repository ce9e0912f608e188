// Internal denials made visible (issue "Hardening", item 4). The pipeline fails closed on any internal error (a policy
// block that throws or whose expression fails to evaluate, a store error, a signing failure): the answer is DENIED.
// Each such denial is also logged (intent id, stage, error message; never the intent, its params or bodies) and
// counted in `intent_sidecar_internal_errors_total{stage}`.
import type { Counter } from "prom-client";
import type { BlockVerdict } from "./policy/verdict.ts";

export type InternalStage = "policy" | "store" | "sign";

export interface InternalErrorSink {
  report(stage: InternalStage, intentId: string, error: unknown): void;
}

interface ErrorLog {
  error(obj: object, msg?: string): void;
}

/** A short, single-line description of an error (its message, at most 500 characters, long quoted strings elided). */
export function errorText(error: unknown): string {
  let msg: string;
  try {
    msg = error instanceof Error ? error.message : typeof error === "string" ? error : String(error);
  } catch {
    msg = "unprintable error";
  }
  // long quoted values may be an intent's values (a CEL or Rego error quoting its input): keep them out of the log
  return msg
    .replace(/\s+/g, " ")
    .replace(/(["'`])([^"'`]{17,})\1/g, "$1…$1")
    .slice(0, 500);
}

/** Removes from `text` every string the intent carries (whole values, and their words of 8+ characters), so an
 * error that quotes the input (a CEL conversion error, a Rego builtin error) cannot carry a secret into the log. */
export function scrubIntentValues(text: string, intent: unknown): string {
  const values = new Set<string>();
  const walk = (v: unknown, depth: number) => {
    if (values.size > 2000 || depth > 32) return;
    if (typeof v === "string") {
      if (v.length >= 4) values.add(v);
      for (const w of v.split(/[\s=;,:&?/"'`]+/)) if (w.length >= 8) values.add(w);
    } else if (typeof v === "number" || typeof v === "bigint") {
      if (String(v).length >= 6) values.add(String(v));
    } else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x, depth + 1); // names stay
  };
  const i = intent as { params?: unknown; context?: unknown } | undefined;
  walk(i?.params, 0);
  walk(i?.context, 0);
  let out = text;
  // longest first, so a value is not half-replaced through one of its words
  for (const v of [...values].sort((a, b) => b.length - a.length)) if (out.includes(v)) out = out.split(v).join("…");
  return out;
}

/** The sink the daemon uses: a pino error line and the stage's counter. */
export function internalErrorSink(log: ErrorLog | undefined, counter: Counter<"stage"> | undefined): InternalErrorSink {
  return {
    report(stage, intentId, error) {
      counter?.inc({ stage });
      log?.error(
        { intent_id: intentId, stage, err: errorText(error) },
        `internal error while deciding (${stage}); the intent is denied`,
      );
    },
  };
}

/**
 * Failures the policy engine already turned into denials: a block that threw (sidecar/policy/evaluate.ts, rule
 * `error`), a CEL expression that failed to evaluate (custom rules), Rego evaluation errors (network). Returns one
 * message per failure (the reason's message: it names the block or rule and the error, never the intent's values).
 */
export function policyFailures(verdicts: readonly BlockVerdict[]): string[] {
  const out: string[] = [];
  for (const v of verdicts) {
    if (v.effect !== "deny") continue;
    for (const r of v.reasons) {
      const m = r.message ?? "";
      if (
        (r.rule === "error" && /^the \S+ block failed \(/.test(m)) ||
        (v.block === "custom" && / failed to evaluate \(.*\), so the intent is denied$/s.test(m)) ||
        (v.block === "network" &&
          /^network rules failed: .*\((evaluation errors deny|strict mode: builtin errors deny)\)$/s.test(m))
      )
        out.push(`${r.block}/${r.rule}: ${m}`);
    }
  }
  return out;
}
