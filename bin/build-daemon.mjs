#!/usr/bin/env node
// Builds the daemon and its CLI into dist/ (run by `npm run build`, which `npm ci` runs through `prepare`): one esbuild
// bundle of sidecar/cli/main.ts with code splitting, so each command family and each lazily loaded dependency is its
// own chunk and `--help` loads none of the daemon. Every output file sits directly in dist/, one level below the
// package root, which is what sidecar/config.ts's PACKAGE_ROOT assumes. The workspace packages (protocol, sdk,
// executor-gate) are bundled from their sources (the `intent-sidecar-source` condition), so the daemon has one copy.
// Native and optional modules stay external and must be runtime dependencies of the package: checked below.
import { builtinModules } from "node:module";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
// Kept out of the bundle: native addons (and what loads them by path), loaded from node_modules at run time.
const external = Object.keys(pkg.dependencies ?? {});

const outdir = join(root, "dist");
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: "sidecar/cli/main.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  conditions: ["intent-sidecar-source"],
  external,
  sourcemap: "linked",
  sourcesContent: false,
  keepNames: true, // error classes and diagnostics read constructor names
  // V8 keeps every loaded module's source text on the heap (for Function.prototype.toString and lazy compilation):
  // whitespace and syntax minification shrink it by a third; names stay (keepNames, no identifier minification), and
  // stack traces map back through the source maps
  minifyWhitespace: true,
  minifySyntax: true,
  chunkNames: "[name]-[hash]",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  // CommonJS dependencies inside an ES module bundle may still call require() for built-ins
  banner: {
    js: 'import { createRequire as __isCreateRequire } from "node:module";\nconst require = __isCreateRequire(import.meta.url);',
  },
});

// Every import left in the output must be a Node built-in or a declared dependency, or the installed package breaks.
const builtins = new Set(builtinModules);
// Optional native helpers that ws (under viem) tries inside try/catch and does without; pg-native, which pg loads only
// when `pg.native` is read (we never do: the fleet store uses pg's pure-JS client).
const optional = new Set(["bufferutil", "utf-8-validate", "pg-native"]);
const missing = new Set();
for (const out of Object.values(result.metafile.outputs)) {
  for (const imp of out.imports) {
    if (!imp.external || imp.path.startsWith("node:") || builtins.has(imp.path) || optional.has(imp.path)) continue;
    const name = imp.path.startsWith("@") ? imp.path.split("/").slice(0, 2).join("/") : imp.path.split("/")[0];
    if (!external.includes(name)) missing.add(imp.path);
  }
}
if (missing.size) {
  console.error(`build-daemon: the bundle imports undeclared modules: ${[...missing].join(", ")}`);
  process.exit(1);
}
if (process.env.INTENT_SIDECAR_METAFILE)
  (await import("node:fs")).writeFileSync(process.env.INTENT_SIDECAR_METAFILE, JSON.stringify(result.metafile));
// `intent-sidecar --help` (no command) prints every family's summary, which would load every family and with them
// most of the daemon; the bin prints this text instead, generated from this very build.
const help = spawnSync(process.execPath, [join(outdir, "main.js"), "--help"], {
  encoding: "utf8",
  env: { ...process.env, COLUMNS: "100" },
});
if (help.status !== 0 || !help.stdout.startsWith("Usage: intent-sidecar")) {
  console.error(`build-daemon: dist/main.js --help failed (${help.status}): ${help.stderr}`);
  process.exit(1);
}
writeFileSync(join(outdir, "help.txt"), help.stdout);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`build-daemon: dist/ ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1e6).toFixed(1)} MB`);
