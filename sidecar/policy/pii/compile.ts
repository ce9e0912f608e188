// Compiles the validated `pii` block (compile.ts calls it): the scanner for the detectors and patterns in use, the
// defaults and the rules. Cross-field checks: a rule names a known detector or pattern, pattern ids are not
// built-in names.
import type { CompileIssue, Path } from "../compile.ts";
import { compileGlobs } from "../glob.ts";
import { compileScopePattern } from "../scope.ts";
import { BUILTIN_DETECTORS, loadPhoneLibrary, type BuiltinDetector } from "./detectors.ts";
import { createScanner } from "./scan.ts";
import type { PiiAction, PiiConfig, PiiRule } from "./config.ts";
import type { RawPii } from "./schema.ts";

const isBuiltin = (d: string): d is BuiltinDetector => (BUILTIN_DETECTORS as readonly string[]).includes(d);

export async function compilePii(
  raw: RawPii | undefined,
  issues: CompileIssue[],
  claimId: (id: string, p: Path) => void,
): Promise<{ pii?: PiiConfig; holdIds: string[] }> {
  if (!raw) return { holdIds: [] };
  const holdIds: string[] = [];
  const defaults = new Map<string, { action: PiiAction; where: string }>();
  for (const [d, a] of Object.entries(raw.detectors ?? {})) {
    if (a === undefined) continue;
    defaults.set(d, { action: a, where: `pii.detectors.${d}` });
    if (a === "hold") holdIds.push(d);
  }
  const patternIds = new Set<string>();
  for (const [i, p] of (raw.patterns ?? []).entries()) {
    if (isBuiltin(p.id) || patternIds.has(p.id)) {
      issues.push({
        path: ["pii", "patterns", i, "id"],
        message: `"${p.id}" is ${isBuiltin(p.id) ? "a built-in detector" : "already used by another pattern"}; give the pattern its own id`,
      });
      continue;
    }
    patternIds.add(p.id);
    defaults.set(p.id, { action: p.action, where: `pii.patterns[${i}]` });
    if (p.action === "hold") holdIds.push(p.id);
  }
  const rules: PiiRule[] = [];
  const used = new Set<string>([...defaults.keys()]);
  for (const [i, r] of (raw.rules ?? []).entries()) {
    const where = `pii.rules[${i}]`;
    if (r.detector !== "*" && !isBuiltin(r.detector) && !patternIds.has(r.detector)) {
      issues.push({
        path: ["pii", "rules", i, "detector"],
        message: `unknown detector "${r.detector}"; use "*", a pattern id or one of: ${BUILTIN_DETECTORS.join(", ")}`,
      });
      continue;
    }
    if (r.id !== undefined) claimId(r.id, ["pii", "rules", i, "id"]);
    if (r.detector !== "*") used.add(r.detector);
    if (r.action === "hold") holdIds.push(r.id ?? r.detector);
    rules.push({
      detector: r.detector,
      action: r.action,
      id: r.id ?? r.detector,
      where,
      ...(r.scope !== undefined ? { scope: compileScopePattern(r.scope) } : {}),
      ...(r.tools ? { tools: compileGlobs(r.tools, { caseInsensitive: true }) } : {}),
      ...(r.actions ? { actions: compileGlobs(r.actions) } : {}),
    });
  }
  if (used.has("phone")) await loadPhoneLibrary(); // the phone detector's library, loaded only when a policy runs it
  const scanner = createScanner(
    [...used].filter(isBuiltin),
    (raw.patterns ?? []).filter((p) => used.has(p.id) && !isBuiltin(p.id)).map((p) => ({ id: p.id, regex: p.regex })),
  );
  return {
    pii: { scanner, defaults, rules, ...(raw.apply_to ? { applyTo: compileGlobs(raw.apply_to) } : {}) },
    holdIds,
  };
}
