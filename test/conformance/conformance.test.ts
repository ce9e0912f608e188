// OPA conformance: every case in ../shared/rego-conformance must be run; at least 95% must pass (CI gate).
import { describe, expect, it } from "vitest";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findCorpus, runCorpus, summarize } from "./runner.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const corpus = findCorpus(repoRoot);

describe.skipIf(!corpus)("OPA conformance corpus (../shared/rego-conformance)", () => {
  it("passes at least 95% of the cases", { timeout: 600_000 }, () => {
    const results = runCorpus(corpus!);
    const pass = results.filter((r) => r.pass).length;
    const lines = summarize(results).map((s) => `${s.dir.padEnd(48)} pass ${s.pass} fail ${s.fail}`);
    console.log(`${lines.join("\n")}\nconformance: ${pass}/${results.length} (${((100 * pass) / results.length).toFixed(2)}%)`);
    expect(results.length).toBeGreaterThan(1000);
    expect(pass / results.length).toBeGreaterThanOrEqual(0.95);
  });
});

if (!corpus) {
  console.warn("skipped: the OPA conformance gate (needs ../shared/rego-conformance beside the checkout, not found)");
  it.skip("OPA conformance corpus not found beside the repository (../shared/rego-conformance); skipped", () => {});
}
