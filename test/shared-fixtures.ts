// The shared folder beside the checkout (../shared: the SPEC's reference network rules, OPA's conformance corpus) is
// optional: suites that read it skip when it is missing, with one visible line saying why.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `../shared/<parts>` beside the repository, or undefined (after one console.warn naming what is skipped). */
export function sharedPath(what: string, ...parts: string[]): string | undefined {
  const p = path.join(repoRoot, "..", "shared", ...parts);
  if (existsSync(p)) return p;
  console.warn(`skipped: ${what} (needs ${path.join("..", "shared", ...parts)} beside the checkout, not found at ${p})`);
  return undefined;
}
