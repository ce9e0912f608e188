// `npm run bench`: runs every benchmark in bench/ one after another, each in its own process so they do not
// disturb each other. Results are printed; the recorded figures live in docs/performance.md.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts") // shared modules live in bench/lib/
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

let failed = 0;
for (const f of files) {
  process.stdout.write(`\n=== bench/${f} ===\n`);
  // the workspace packages (@intent-sidecar/*) resolve to their sources, as in the tests
  const r = spawnSync(process.execPath, ["--conditions=intent-sidecar-source", "--import", "tsx", join(here, f)], {
    stdio: "inherit",
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
