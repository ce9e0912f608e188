// Prints the conformance result as Markdown (per-directory table and every failing case with the mismatch).
// Run: npx tsx test/conformance/report.ts > /tmp/report.md
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findCorpus, runCorpus, summarize } from "./runner.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const corpus = findCorpus(root);
if (!corpus) {
  console.error("../shared/rego-conformance not found");
  process.exit(2);
}
const results = runCorpus(corpus);
const pass = results.filter((r) => r.pass).length;
console.log(`Passing: ${pass}/${results.length} (${((100 * pass) / results.length).toFixed(2)}%)\n`);
console.log("| directory | pass | fail |\n| --- | --- | --- |");
for (const s of summarize(results)) if (s.fail) console.log(`| ${s.dir} | ${s.pass} | ${s.fail} |`);
console.log("\n| file | case | mismatch |\n| --- | --- | --- |");
for (const r of results) {
  if (r.pass) continue;
  const why = (r.why ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ").slice(0, 160);
  console.log(`| ${r.file} | ${r.note.replace(/\|/g, "\\|")} | ${why} |`);
}
