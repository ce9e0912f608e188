// `opa test --coverage`: which lines of each module were evaluated. The evaluator reports each expression it
// evaluates and each rule head whose body succeeded (EvalOptions.cover); every other expression or rule head line of
// the modules is "not covered". The report has OPA's JSON shape (files.<path>.covered[] / not_covered[] as row
// ranges, covered_lines, not_covered_lines, coverage in percent).
import type { Module, Rule } from "./ast.ts";
import type { Location } from "./errors.ts";

export interface CoverageRange {
  start: { row: number };
  end: { row: number };
}

export interface FileCoverage {
  covered?: CoverageRange[];
  not_covered?: CoverageRange[];
  covered_lines?: number;
  not_covered_lines?: number;
  coverage: number;
}

export interface CoverageReport {
  files: Record<string, FileCoverage>;
  covered_lines?: number;
  not_covered_lines?: number;
  coverage: number;
}

/** Collects hit rows per file; pass `tracer.hit` as EvalOptions.cover. */
export class CoverageTracer {
  readonly hits = new Map<string, Set<number>>();
  readonly hit = (loc: Location): void => {
    let s = this.hits.get(loc.file);
    if (!s) this.hits.set(loc.file, (s = new Set()));
    s.add(loc.row);
  };
}

const EXPR_KINDS = new Set(["term", "some", "somein", "every", "not", "logic"]);

/** Rows holding a rule head or an expression (including those in else branches, comprehensions and `every`). */
function coverableRows(m: Module): Set<number> {
  const rows = new Set<number>();
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== "object" || seen.has(x)) return;
    seen.add(x);
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
      return;
    }
    const o = x as Record<string, unknown>;
    // AST nodes are plain objects; values (RObject, RSet, bigint wrappers) never hold expressions
    if (Object.getPrototypeOf(o) !== Object.prototype) return;
    if (typeof o.k === "string" && EXPR_KINDS.has(o.k) && Array.isArray(o.with) && o.loc) rows.add((o.loc as Location).row);
    for (const [key, v] of Object.entries(o)) if (key !== "module" && key !== "loc" && key !== "annotations") walk(v);
  };
  const rule = (r: Rule): void => {
    rows.add(r.head.loc.row);
    walk(r.head);
    walk(r.body);
    if (r.else) rule(r.else);
  };
  for (const r of m.rules) rule(r);
  return rows;
}

function ranges(rows: number[]): CoverageRange[] {
  const out: CoverageRange[] = [];
  for (const r of rows.sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last.end.row + 1 === r) last.end.row = r;
    else out.push({ start: { row: r }, end: { row: r } });
  }
  return out;
}

function percent(covered: number, notCovered: number): number {
  const total = covered + notCovered;
  if (total === 0) return 0;
  return Math.round((covered / total) * 10000) / 100;
}

export function coverageReport(modules: Module[], tracer: CoverageTracer): CoverageReport {
  const files: Record<string, FileCoverage> = {};
  let cov = 0;
  let notCov = 0;
  for (const m of [...modules].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
    const rows = coverableRows(m);
    const hit = tracer.hits.get(m.file) ?? new Set<number>();
    const covered = [...rows].filter((r) => hit.has(r));
    const notCovered = [...rows].filter((r) => !hit.has(r));
    const fc = {} as FileCoverage;
    if (covered.length) fc.covered = ranges(covered);
    if (notCovered.length) fc.not_covered = ranges(notCovered);
    if (covered.length) fc.covered_lines = covered.length;
    if (notCovered.length) fc.not_covered_lines = notCovered.length;
    fc.coverage = percent(covered.length, notCovered.length);
    files[m.file] = fc;
    cov += covered.length;
    notCov += notCovered.length;
  }
  const report = { files } as CoverageReport;
  if (cov) report.covered_lines = cov;
  if (notCov) report.not_covered_lines = notCov;
  report.coverage = percent(cov, notCov);
  return report;
}

/** The readable form: one line per file with its percentage and the rows not covered. */
export function formatCoverage(r: CoverageReport): string {
  const lines: string[] = [];
  const fmtRanges = (rs: CoverageRange[] | undefined) =>
    (rs ?? []).map((x) => (x.start.row === x.end.row ? `${x.start.row}` : `${x.start.row}-${x.end.row}`)).join(", ");
  const width = Math.max(4, ...Object.keys(r.files).map((f) => f.length));
  for (const [file, fc] of Object.entries(r.files)) {
    const pct = `${fc.coverage.toFixed(2)}%`.padStart(8);
    const lc = `${fc.covered_lines ?? 0}/${(fc.covered_lines ?? 0) + (fc.not_covered_lines ?? 0)} lines`;
    const missing = fc.not_covered ? `  not covered: ${fmtRanges(fc.not_covered)}` : "";
    lines.push(`${file.padEnd(width)} ${pct}  ${lc}${missing}`);
  }
  lines.push(`${"total".padEnd(width)} ${`${r.coverage.toFixed(2)}%`.padStart(8)}  ${r.covered_lines ?? 0}/${(r.covered_lines ?? 0) + (r.not_covered_lines ?? 0)} lines`);
  return lines.join("\n");
}
