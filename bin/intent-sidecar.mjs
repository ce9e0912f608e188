#!/usr/bin/env node
// Entry point for `intent-sidecar` / `npx intent-sidecar`: runs the built JavaScript in dist/ (built by `npm run build`,
// which `npm ci` runs), with source maps so stack traces name the TypeScript sources.
// In the repository, INTENT_SIDECAR_SOURCE=1 runs the TypeScript sources through tsx instead (the test suite sets it,
// so tests that spawn the CLI test the code as it is, not the last build).
import { existsSync, readFileSync } from "node:fs";

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // answered here, before loading anything else
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}

if (args.length === 1 && (args[0] === "--help" || args[0] === "-h") && process.env.INTENT_SIDECAR_SOURCE !== "1") {
  // the overview of all commands, written by the build from this build's `--help`: the full CLI would load every
  // command family (most of the daemon) just to print their one-line summaries
  try {
    process.stdout.write(readFileSync(new URL("../dist/help.txt", import.meta.url), "utf8"));
    process.exit(0);
  } catch {
    // no build: fall through to the message below
  }
}

process.setSourceMapsEnabled(true);
if (process.env.INTENT_SIDECAR_SOURCE === "1") {
  const { register } = await import("node:module");
  // resolve the workspace packages (@intent-sidecar/*) to their TypeScript sources, like vitest and tsc do
  register(
    "data:text/javascript,export async function resolve(s, c, next) { " +
      "return next(s, { ...c, conditions: [...c.conditions, 'intent-sidecar-source'] }); }",
  );
  const { register: registerTsx } = await import("tsx/esm/api");
  registerTsx();
  await import("../sidecar/cli/main.ts");
} else {
  const main = new URL("../dist/main.js", import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write(
      "intent-sidecar: the build is missing (dist/main.js not found): run npm run build " +
        "(npm ci and npm install run it), or set INTENT_SIDECAR_SOURCE=1 to run the sources with tsx.\n",
    );
    process.exit(2);
  }
  await import(main.href);
}
