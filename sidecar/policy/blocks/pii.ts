// `pii`: scans an intent's params (every string, nested JSON included) with the detectors and patterns in use and
// decides per finding: the most severe matching rule's action, else the detector's own (deny > hold > redact >
// allow). deny/hold → DENIED/PENDING naming the detector and the JSON path (never the value). redact findings do not
// decide anything (other blocks still allow or deny the call); the verdict carries a rewrite: `params` with the
// redact findings replaced (what the decision returns as `redacted.params` and the attestation binds) and `stored`
// with every non-allow finding replaced (what may be stored: no raw PII at rest, holds included).
import type { Intent, Reason } from "../../../protocol/index.ts";
import { paramsSchemaFor } from "../../../protocol/intent.ts";
import type { BlockEvaluator, BlockVerdict, EvalEnv } from "../verdict.ts";
import type { PiiAction, PiiConfig, PiiRule } from "../pii/config.ts";
import { SEVERITY } from "../pii/config.ts";
import { detectorLabel } from "../pii/detectors.ts";
import { redactValue } from "../pii/redact.ts";
import type { Finding } from "../pii/scan.ts";
import { callScope, matchScope } from "../scope.ts";
import { abstain, deny, hold, reason } from "./verdicts.ts";

interface Decided {
  finding: Finding;
  action: PiiAction;
  /** What decided: a rule (`pii.rules[2]`) or a default (`pii.detectors.email`). */
  where: string;
  /** reason.rule: the rule's id or the detector's. */
  rule: string;
}

function ruleMatches(r: PiiRule, f: Finding, intent: Intent, env: EvalEnv): boolean {
  if (r.detector !== "*" && r.detector !== f.detector) return false;
  if (r.actions && !r.actions.test(intent.action)) return false;
  if (r.tools) {
    const tool = intent.action === "tool.call" ? intent.params.tool : undefined;
    if (typeof tool !== "string" || !r.tools.test(tool)) return false;
  }
  return !r.scope || matchScope(r.scope, callScope(intent, env.principal));
}

function decide(cfg: PiiConfig, f: Finding, intent: Intent, env: EvalEnv): Decided | undefined {
  if (f.detector === "limit") return { finding: f, action: "deny", where: "pii", rule: "limit" };
  let best: PiiRule | undefined;
  for (const r of cfg.rules)
    if (ruleMatches(r, f, intent, env) && (!best || SEVERITY[r.action] > SEVERITY[best.action])) best = r;
  if (best) return { finding: f, action: best.action, where: best.where, rule: best.id };
  const d = cfg.defaults.get(f.detector);
  return d ? { finding: f, action: d.action, where: d.where, rule: f.detector } : undefined;
}

function message(d: Decided): string {
  const f = d.finding;
  if (f.detector === "limit") return `${f.path} cannot be scanned for PII (${f.kind}), so the intent is denied`;
  const kind = f.kind ? ` (${f.detector}, ${f.kind})` : ` (${f.detector})`;
  if (f.key) return `a key of ${f.key.of} is ${detectorLabel(f.detector)}${kind}; ${d.where} is ${d.action}`;
  return `${f.path} contains ${detectorLabel(f.detector)}${kind}; ${d.where} is ${d.action}`;
}

/** At most this many reasons per verdict (a list of 5,000 emails is one reason too many times over). */
export const MAX_REASONS = 20;

/** One reason per rule and path (a path with three emails is one reason), at most MAX_REASONS; the rest counted. */
function reasonsOf(ds: Decided[]): Reason[] {
  const seen = new Set<string>();
  const out: Reason[] = [];
  let more = 0;
  for (const d of ds) {
    const k = `${d.rule}\u0000${d.finding.path}\u0000${d.where}`;
    if (seen.has(k)) continue;
    seen.add(k);
    if (out.length < MAX_REASONS) out.push(reason("pii", d.rule, message(d)));
    else more++;
  }
  if (more > 0) out.push(reason("pii", out[0]!.rule, `${more} more findings not listed (at most ${MAX_REASONS} are)`));
  return out;
}

export function piiEvaluator(cfg: PiiConfig | undefined): BlockEvaluator {
  return (intent, env): BlockVerdict => {
    if (!cfg || (cfg.applyTo && !cfg.applyTo.test(intent.action))) return abstain("pii");
    const findings = cfg.scanner.scan(intent.params, "params");
    if (findings.length === 0) return abstain("pii");
    const decided: Decided[] = [];
    for (const f of findings) {
      const d = decide(cfg, f, intent, env);
      if (d && d.action !== "allow") decided.push(d);
    }
    if (decided.length === 0) return abstain("pii");
    const stored = redactValue(intent.params, decided.map((d) => d.finding), "params", findings) as Record<string, unknown>;
    const denies = decided.filter((d) => d.action === "deny");
    const holds = decided.filter((d) => d.action === "hold");
    const redacts = decided.filter((d) => d.action === "redact").map((d) => d.finding);
    const params = redacts.length
      ? (redactValue(intent.params, redacts, "params", findings) as Record<string, unknown>)
      : intent.params;
    const fields = [...new Set(decided.map((d) => d.finding.path))];
    const rewrite = { params, stored, fields };
    if (denies.length) return { ...deny("pii", reasonsOf(denies)), rewrite };
    // the redacted params must still be a valid intent of their kind (a redacted field the schema types is refused)
    const schema = paramsSchemaFor(intent.action, params);
    if (redacts.length && schema && !schema.safeParse(params).success)
      return {
        ...deny("pii", [
          reason("pii", "redact", `redacting ${redacts.map((f) => f.path).join(", ")} would make the params invalid, so the intent is denied`),
        ]),
        rewrite,
      };
    if (holds.length) return { ...hold("pii", reasonsOf(holds)), rewrite };
    return { ...abstain("pii"), rewrite };
  };
}

export interface ResultRedaction {
  /** The result with every finding the policy does not allow replaced. */
  result: unknown;
  /** Findings replaced, by detector (what is recorded: counts only). */
  counts: Record<string, number>;
  /** Set when part of the result could not be scanned (too deep, embedded JSON too large): it must be withheld. */
  unscannable?: string;
}

/** Output redaction (`POST /v1/intents/{id}/result`): a tool's result scanned with the policy's pii block, as it
 * applies to the intent that produced it (rules by scope, tool and action). Any non-`allow` action redacts here:
 * the call already ran, so there is nothing left to deny or hold. No pii block, or apply_to not matching: unchanged. */
export function redactResult(
  cfg: PiiConfig | undefined,
  intent: Intent,
  env: EvalEnv,
  result: unknown,
): ResultRedaction {
  if (!cfg || (cfg.applyTo && !cfg.applyTo.test(intent.action))) return { result, counts: {} };
  const findings = cfg.scanner.scan(result, "result");
  const limit = findings.find((f) => f.detector === "limit");
  if (limit) return { result: undefined, counts: {}, unscannable: `${limit.path}: ${limit.kind}` };
  const redact = findings.filter((f) => {
    const d = decide(cfg, f, intent, env);
    return d !== undefined && d.action !== "allow";
  });
  const counts: Record<string, number> = {};
  for (const f of redact) counts[f.detector] = (counts[f.detector] ?? 0) + 1;
  return { result: redactValue(result, redact, "result", findings), counts };
}
