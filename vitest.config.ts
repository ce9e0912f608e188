import { defineConfig } from "vitest/config";

// Under CI=true the JSON reporter also writes test-results.json, which .ci/run turns into "N passed, N failed".
const ci = process.env.CI === "true";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ci ? ["default", "json"] : ["default"],
    outputFile: ci ? { json: "test-results.json" } : undefined,
  },
});
