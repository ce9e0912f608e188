// The worked examples of docs/scopes.md decide as their tables say: each yaml block is loaded and every table row
// below it (principal, call, decision) is evaluated, so the document cannot drift from the code.
import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { combineVerdicts, evaluateBlocks, loadPolicy } from "../../sidecar/policy/index.ts";
import type { Principal } from "../../sidecar/principals.ts";
import { intent, tempDir } from "./helpers.ts";

const EFFECT: Record<string, string> = { APPROVED: "allow", DENIED: "deny", PENDING: "hold" };

/** The first ```yaml block after a heading, and the table rows after that block. */
async function section(heading: string): Promise<{ yaml: string; rows: string[][] }> {
  const doc = await readFile(new URL("../../docs/scopes.md", import.meta.url), "utf8");
  const start = doc.indexOf(`## ${heading}`);
  const end = doc.indexOf("\n## ", start + 3);
  const text = doc.slice(start, end < 0 ? undefined : end);
  const yaml = /```yaml\n([\s\S]*?)```/.exec(text)![1]!;
  const after = text.slice(text.indexOf(yaml) + yaml.length);
  const rows = after
    .split("\n")
    .filter((l) => l.startsWith("|") && !/^\|\s*-/.test(l))
    .slice(1) // the header
    .map((l) =>
      l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  return { yaml, rows };
}

function principalOf(cell: string): Principal | undefined {
  const m = /\((\w+) \/ (\w+)\)/.exec(cell);
  return m ? { tenant: m[1]!, team: m[2]! } : undefined;
}
const toolOf = (cell: string) => /`([^`]+)`/.exec(cell)![1]!;

async function decider(yaml: string) {
  const t = await tempDir();
  const p = await loadPolicy(await t.write("p.yaml", yaml));
  await t.cleanup();
  return async (tool: string, principal?: Principal) =>
    combineVerdicts(
      await evaluateBlocks(p, intent({ action: "tool.call", params: { tool, args: {} } }), {
        now: new Date(),
        ...(principal ? { principal } : {}),
      }),
    ).effect;
}

describe("docs/scopes.md worked examples", () => {
  it("scoped rules", async () => {
    const { yaml, rows } = await section("Scoped rules");
    const decide = await decider(yaml);
    expect(rows.length).toBe(4);
    for (const [agent, call, decision] of rows)
      expect([agent, await decide(toolOf(call!), principalOf(agent!))]).toEqual([
        agent,
        EFFECT[decision!.split(/\W/)[0]!],
      ]);
  });

  it("sections: the base and the base with its sections", async () => {
    const { yaml, rows } = await section("Sections per tenant and team");
    const raw = parse(yaml) as Record<string, unknown>;
    const withSections = await decider(yaml);
    const base = await decider(JSON.stringify({ ...raw, scopes: undefined }));
    expect(rows.length).toBe(7);
    for (const [agent, call, b, s] of rows) {
      const p = principalOf(agent!);
      expect([agent, call, await base(toolOf(call!), p)]).toEqual([agent, call, EFFECT[b!]]);
      expect([agent, call, await withSections(toolOf(call!), p)]).toEqual([agent, call, EFFECT[s!]]);
    }
  });

  it("risk classes", async () => {
    const { yaml, rows } = await section("Risk classes");
    const decide = await decider(yaml);
    expect(rows.length).toBe(4);
    for (const [call, , decision] of rows)
      expect([call, await decide(toolOf(call!))]).toEqual([call, EFFECT[decision!.split(/\W/)[0]!]]);
  });
});
