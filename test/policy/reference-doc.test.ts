// docs/policy-reference.md is generated from the schema; this fails when someone changes the schema without
// regenerating it (`npx tsx sidecar/policy/reference-doc.ts --write`).
import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { renderReference } from "../../sidecar/policy/reference-doc.ts";
import { listFields } from "../../sidecar/policy/schema-walk.ts";
import { policySchema } from "../../sidecar/policy/schema.ts";

describe("docs/policy-reference.md", () => {
  it("matches the schema", async () => {
    const committed = await readFile(new URL("../../docs/policy-reference.md", import.meta.url), "utf8");
    expect(committed).toBe(renderReference());
  });
  it("documents every field", () => {
    const undocumented = listFields(policySchema)
      .filter((f) => !f.meta?.description && !f.path.endsWith("].type"))
      .map((f) => f.path);
    expect(undocumented).toEqual([]);
  });
});

describe("the Markdown example in docs/policy-reference.md", () => {
  it("loads and decides as the document says", async () => {
    const { loadPolicy } = await import("../../sidecar/policy/index.ts");
    const { decide, intent, tempDir } = await import("./helpers.ts");
    const doc = await readFile(new URL("../../docs/policy-reference.md", import.meta.url), "utf8");
    const example = /````markdown\n([\s\S]*?)\n````/.exec(doc)![1]!;
    const t = await tempDir();
    try {
      const p = await loadPolicy(await t.write("policy.md", example));
      expect((await decide(p, intent({ action: "report.weekly", params: {} }))).effect).toBe("allow");
      const del = await decide(p, intent({ action: "tool.call", params: { tool: "github.delete_repo", args: {} } }));
      expect(del.reasons.map((r) => r.rule)).toEqual(["deny"]);
      expect(p.config.network?.modules).toHaveLength(1);
    } finally {
      await t.cleanup();
    }
  });
});
