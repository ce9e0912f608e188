// `policy test --coverage`: OPA's coverage report for the reference network rules.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compile, coverageReport, CoverageTracer, runTests } from "../../rego/index.ts";
import { sharedPath } from "../shared-fixtures.ts";
import { runCli } from "./run-policy-cli.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const reference = path.join(root, "policy-examples", "reference", "network");
const shared = sharedPath("policy test --coverage on the shared network rules", "spec", "network");

interface Range {
  start: { row: number };
  end: { row: number };
}
const rows = (rs: Range[] | undefined) => (rs ?? []).flatMap((r) => Array.from({ length: r.end.row - r.start.row + 1 }, (_, i) => r.start.row + i));

describe("policy test --coverage", () => {
  for (const [name, dir] of [["reference", reference], ["shared spec", shared]] as const) {
    it.skipIf(!dir)(`reports OPA's coverage JSON for the ${name} network tests`, async () => {
      const r = await runCli(["policy", "test", "--coverage", "--format", "json", dir!]);
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout);
      const files = Object.keys(rep.files);
      const egress = files.find((f) => f.endsWith("egress.rego"))!;
      const tests = files.find((f) => f.endsWith("egress_test.rego"))!;
      expect(egress).toBeDefined();
      const e = rep.files[egress];
      expect(Object.keys(e)).toEqual(["covered", "not_covered", "covered_lines", "not_covered_lines", "coverage"]);
      // `default allow := false` and the inference rule are evaluated by every test
      expect(rows(e.covered)).toEqual(expect.arrayContaining([4, 7]));
      // the Slack rule's later conditions and the card-number rule's head are never reached by the tests
      expect(rows(e.not_covered)).toEqual(expect.arrayContaining([24, 25, 62]));
      expect(e.covered_lines).toBe(rows(e.covered).length);
      expect(e.not_covered_lines).toBe(rows(e.not_covered).length);
      expect(e.coverage).toBeCloseTo((100 * e.covered_lines) / (e.covered_lines + e.not_covered_lines), 2);
      expect(rep.files[tests].coverage).toBe(100);
      expect(rep.coverage).toBeGreaterThan(e.coverage);
      expect(rep.coverage).toBeLessThan(100);
      // text form
      const t = await runCli(["policy", "test", "--coverage", dir!]);
      expect(t.code).toBe(0);
      expect(t.stdout).toMatch(/PASS: 6\/6/);
      expect(t.stdout).toMatch(/egress\.rego\s+76\.47%\s+26\/34 lines\s+not covered: 21, 24-25, 29, 51, 53-54, 62/);
      expect(t.stdout).toMatch(/^total\s+84\.62%/m);
    });
  }

  it("--threshold fails under the percentage and passes at or over it", async () => {
    const under = await runCli(["policy", "test", "--coverage", "--threshold", "90", reference]);
    expect(under.code).toBe(1);
    expect(under.stderr).toMatch(/coverage threshold not met: got 84\.62 instead of 90\.00/);
    const over = await runCli(["policy", "test", "--coverage", "--threshold", "80", reference]);
    expect(over.code).toBe(0);
    expect((await runCli(["policy", "test", "--threshold", "80", reference])).code).toBe(2);
  });

  it("costs nothing when off and marks else branches, functions and comprehensions", () => {
    const p = compile([
      {
        path: "m.rego",
        source: [
          "package m",
          "f(x) := y if {",
          "  y := x + 1",
          "}",
          "g := 1 if {",
          "  false",
          "} else := 2",
          "c := [v | some v in [1, 2]; v > 1]",
          "test_all if {",
          "  f(1) == 2",
          "  g == 2",
          "  c == [2]",
          "}",
        ].join("\n"),
      },
    ]);
    const tracer = new CoverageTracer();
    expect(runTests(p, { cover: tracer.hit }).map((t) => t.status)).toEqual(["PASS"]);
    const rep = coverageReport(p.modules, tracer);
    const f = rep.files["m.rego"]!;
    expect(rows(f.covered as Range[])).toEqual(expect.arrayContaining([2, 3, 6, 7, 8, 9, 10, 11, 12]));
    expect(rows(f.not_covered as Range[])).toEqual([5]);
    expect(runTests(p).map((t) => t.status)).toEqual(["PASS"]);
  });
});
