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
