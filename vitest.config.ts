import { defineConfig } from "vitest/config";

// Under CI=true the JSON reporter also writes test-results.json, which .ci/run turns into "N passed, N failed".
const ci = process.env.CI === "true";

// The workspace packages (@intent-sidecar/protocol, sdk, executor-gate) resolve to their TypeScript sources through
// the `intent-sidecar-source` export condition (tsconfig.json's customConditions says the same to tsc), and the CLI
// that tests spawn (bin/intent-sidecar.mjs) runs the sources too (INTENT_SIDECAR_SOURCE=1), not the last build;
// test/cli/built-cli.test.ts is the one that runs the build.
const conditions = ["intent-sidecar-source"];

export default defineConfig({
  resolve: { conditions: [...conditions, "module", "node", "import", "default"] },
  // no "import" here: Vitest applies these conditions to require() inside CommonJS packages too, and pg's
  // require("pg-pool") would then get pg-pool's ESM build (a module namespace, not its Pool class)
  ssr: { resolve: { conditions: [...conditions, "node", "default"] } },
  test: {
    env: { INTENT_SIDECAR_SOURCE: "1" },
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ci ? ["default", "json"] : ["default"],
    outputFile: ci ? { json: "test-results.json" } : undefined,
  },
});
