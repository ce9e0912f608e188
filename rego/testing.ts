// `opa test`-style runner: evaluates every rule named test_* (and reports todo_test_* as skipped).
import type { CompiledPolicy, EvalOptions } from "./index.ts";
import { RegoError } from "./errors.ts";

export interface TestResult {
  /** full name, e.g. data.pkg.test_allow */
  name: string;
  pkg: string;
  rule: string;
  file: string;
  row: number;
  status: "PASS" | "FAIL" | "ERROR" | "SKIPPED";
  error?: string;
  durationNs: bigint;
  printed: string[];
}

export function runTests(
  policy: CompiledPolicy,
  opts: {
    run?: RegExp;
    data?: unknown;
    files?: (file: string) => boolean;
    /** `opa test --strict-builtin-errors`: a failing builtin call is an ERROR instead of undefined */
    strictBuiltinErrors?: boolean;
    /** coverage hook (a CoverageTracer's `hit`) */
    cover?: EvalOptions["cover"];
  } = {},
): TestResult[] {
  const out: TestResult[] = [];
  for (const { path, node } of policy.rulePaths()) {
    const rule = path[path.length - 1]!;
    const isTest = rule.startsWith("test_");
    const isTodo = rule.startsWith("todo_test_");
    if (!isTest && !isTodo) continue;
    if (node.kind === "func") continue;
    const name = "data." + path.join(".");
    const first = node.rules[0] ?? node.defaultRule!;
    if (opts.files && !opts.files(first.loc.file)) continue;
    if (opts.run && !opts.run.test(name)) continue;
    const base = { name, pkg: "data." + path.slice(0, -1).join("."), rule, file: first.loc.file, row: first.loc.row };
    if (isTodo) {
      out.push({ ...base, status: "SKIPPED", durationNs: 0n, printed: [] });
      continue;
    }
    const printed: string[] = [];
    const t0 = process.hrtime.bigint();
    const eo: EvalOptions = { data: opts.data, strictBuiltinErrors: opts.strictBuiltinErrors, print: (l) => printed.push(l), cover: opts.cover };
    try {
      const v = policy.evalNode(node, eo);
      const t1 = process.hrtime.bigint();
      out.push({ ...base, status: v !== undefined && v !== false ? "PASS" : "FAIL", durationNs: t1 - t0, printed });
    } catch (e) {
      const t1 = process.hrtime.bigint();
      const msg = e instanceof RegoError ? e.message : (e as Error)?.message ?? String(e);
      out.push({ ...base, status: "ERROR", error: msg, durationNs: t1 - t0, printed });
    }
  }
  return out;
}
