// Where the installed package lives (package.json, bin/, policy-examples/, sidecar/console/), independent of the
// working directory and of whether this code runs from the TypeScript sources (sidecar/…) or from the bundle in dist/:
// the nearest directory above this module whose package.json is the daemon's.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      try {
        if (JSON.parse(readFileSync(file, "utf8")).name === "intent-sidecar") return dir;
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(dir) === dir) throw new Error(`intent-sidecar: no package.json of intent-sidecar above ${from}`);
  }
}

export const PACKAGE_DIR = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
