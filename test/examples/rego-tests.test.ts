// Every Rego test under policy-examples/ runs through the project's Rego engine, like `opa test <dir>`:
// the modules and data.json files of each folder that holds a *_test.rego file are compiled together.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compile, runTests } from "../../rego/index.ts";

const ROOT = path.resolve(import.meta.dirname, "../../policy-examples");

function testDirs(dir = ROOT): string[] {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name.endsWith("_test.rego")) ? [dir] : [];
  return [...here, ...entries.filter((e) => e.isDirectory()).flatMap((e) => testDirs(path.join(dir, e.name)))];
}

function runDir(dir: string) {
  const files = fs.readdirSync(dir);
  const modules = files
    .filter((f) => f.endsWith(".rego"))
    .map((f) => ({ path: path.join(dir, f), source: fs.readFileSync(path.join(dir, f), "utf8") }));
  const data = Object.assign(
    {},
    ...files.filter((f) => f === "data.json").map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"))),
  );
  return runTests(compile(modules), { data });
}

describe("Rego tests in policy-examples", () => {
  const dirs = testDirs();

  it("finds the example test folders", () => {
    const rel = dirs.map((d) => path.relative(ROOT, d));
    expect(rel).toEqual(
      expect.arrayContaining([
        "support-pii/network",
        "nemoclaw-classic/read-only",
        "nemoclaw-classic/business-hours",
        "nemoclaw-classic/per-binary",
        "nemoclaw-classic/pii-guard",
      ]),
    );
  });

  it.each(dirs.map((d) => [path.relative(ROOT, d), d]))("%s: every test passes", (_name, dir) => {
    const results = runDir(dir);
    const declared = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith("_test.rego"))
      .flatMap((f) => fs.readFileSync(path.join(dir, f), "utf8").match(/^test_\w+/gmu) ?? []);
    expect(results.map((r) => r.rule).sort()).toEqual([...new Set(declared)].sort());
    const failing = results.filter((r) => r.status !== "PASS").map((r) => `${r.name}: ${r.status} ${r.error ?? ""}`);
    expect(failing).toEqual([]);
  });
});
