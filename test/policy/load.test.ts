// Loading policy files: YAML and Markdown, errors with file:line:col that say what to fix, relative paths, digest.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadPolicy, PolicyError } from "../../sidecar/policy/index.ts";
import { decide, intent, tempDir } from "./helpers.ts";

let t: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  t = await tempDir();
});
afterEach(async () => {
  await t.cleanup();
});

async function loadError(file: string): Promise<PolicyError> {
  try {
    await loadPolicy(file);
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error("expected the policy to fail to load");
}

/** Writes a policy and returns the error's issues as `line:col: path: message` (file name stripped). */
async function issuesOf(yaml: string, name = "policy.yaml"): Promise<string[]> {
  const f = await t.write(name, yaml);
  const e = await loadError(f);
  expect(e.code).toBe("policy_invalid");
  return e.issues.map((i) => `${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ""}${i.message}`);
}

describe("errors name file, line and column and say what to fix", () => {
  it("a bad amount", async () => {
    const f = await t.write("policy.yaml", 'version: 1\nevm:\n  chains: [8453]\n  max_value: "0.05 eth"\n');
    const e = await loadError(f);
    expect(e.line).toBe(4);
    expect(e.column).toBe(14);
    expect(e.file).toBe(path.relative(process.cwd(), f).startsWith("..") ? f : path.relative(process.cwd(), f));
    expect(e.message).toMatch(
      /policy\.yaml:4:14: evm\.max_value: "0\.05 eth" is not an amount; use wei or "<n> ether\|gwei\|wei"$/,
    );
  });
  it("YAML syntax errors", async () => {
    const [first] = await issuesOf('actions:\n  allow: ["a"\n  deny: []\n');
    expect(first).toMatch(/^\d+:\d+: YAML syntax: /);
  });
  it("unknown fields, with a suggestion", async () => {
    expect(await issuesOf('evm:\n  max_valu: "1 ether"\n')).toEqual([
      expect.stringMatching(
        /^2:3: evm\.max_valu: unknown field "max_valu"; did you mean "max_value"\? Known fields: chains, max_value/,
      ),
    ]);
    expect((await issuesOf("actions: {}\nevn: {}\n"))[0]).toMatch(
      /^2:1: evn: unknown field "evn"; did you mean "evm"\?/,
    );
  });
  it("wrong types and missing fields", async () => {
    const xs = await issuesOf("tool_calls:\n  allow: \"github.*\"\ncustom:\n  - id: a\n    deny: 'true'\n");
    expect(xs[0]).toMatch(/^2:10: tool_calls\.allow: must be a list of globs/);
    expect(xs[1]).toMatch(/^4:5: custom\.0\.reason: is required/);
    expect(
      await issuesOf(
        'custom: {}\ntool_calls: []\nevm:\n  tokens:\n    "US DC": { address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", chain: 8453, decimals: 6 }\n',
      ),
    ).toEqual([
      "1:9: custom: must be a list (got a mapping)",
      "2:13: tool_calls: must be a mapping (got a list)",
      '5:5: evm.tokens.US DC: the key "US DC" is not valid: token symbols are letters, digits, . _ -',
    ]);
  });
  it("bad addresses and checksums", async () => {
    const xs = await issuesOf(
      'evm:\n  recipients:\n    allow:\n      - "0x1234"\n      - "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02914"\n      - "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"\n      - "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"\n',
    );
    expect(xs).toEqual([
      expect.stringMatching(/^4:9: evm\.recipients\.allow\.0: "0x1234" is not an address/),
      expect.stringMatching(/^5:9: evm\.recipients\.allow\.1: .* wrong EIP-55 checksum/),
    ]);
  });
  it("token max_transfer with too many decimals, unknown chain names", async () => {
    const xs = await issuesOf(
      'evm:\n  chains: [base, basee]\n  tokens:\n    USDC:\n      address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"\n      chain: 8453\n      decimals: 6\n      max_transfer: "1.0000001"\n',
    );
    expect(xs).toEqual([expect.stringMatching(/^2:18: evm\.chains\.1: unknown chain name "basee"/)]);
    const ys = await issuesOf(
      'evm:\n  tokens:\n    USDC:\n      address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"\n      chain: 8453\n      decimals: 6\n      max_transfer: "1.0000001"\n',
    );
    expect(ys).toEqual([
      expect.stringMatching(
        /^7:21: evm\.tokens\.USDC\.max_transfer: "1\.0000001" has more than the token's 6 decimals/,
      ),
    ]);
  });
  it("evm rules: unknown criterion types, functions and params", async () => {
    const xs = await issuesOf(
      [
        "evm:",
        "  rules:",
        "    - id: r1",
        "      effect: hold",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc20",
        "          function: transferr",
        "    - id: r2",
        "      effect: deny",
        "      criteria:",
        "        - type: evmData",
        "          abi: erc20",
        "          function: transfer",
        '          params: [{ name: amt, operator: ">", value: "1" }]',
      ].join("\n"),
    );
    expect(xs).toEqual([
      expect.stringMatching(
        /^8:21: evm\.rules\.0\.criteria\.0\.function: function "transferr" is not in the erc20 ABI; known: .*transfer/,
      ),
      expect.stringMatching(
        /^15:28: evm\.rules\.1\.criteria\.0\.params\.0\.name: transfer has no argument "amt"; its arguments: recipient, amount/,
      ),
    ]);
    expect(
      await issuesOf("evm:\n  rules:\n    - id: r\n      effect: deny\n      criteria:\n        - type: ethValu\n"),
    ).toEqual([
      expect.stringMatching(
        /^6:17: evm\.rules\.0\.criteria\.0\.type: unknown criterion type; use "ethValue", "evmAddress", "evmNetwork" or "evmData"/,
      ),
    ]);
  });
  it("CEL: syntax, unknown variables and functions, types, at their position inside the expression", async () => {
    const xs = await issuesOf(
      [
        "custom:",
        "  - id: a",
        "    deny: 'intent.action == '",
        "    reason: r",
        "  - id: b",
        "    when: 'intnt.action == \"x\"'",
        "    deny: 'true'",
        "    reason: r",
        "  - id: c",
        "    deny: 'size(intent.params) + \"x\" > 1'",
        "    reason: r",
        "  - id: d",
        "    hold: '1 + 2'",
        "    reason: r",
        "  - id: e",
        "    deny: 'true'",
        "    hold: 'true'",
        "    reason: r",
      ].join("\n"),
    );
    expect(xs[0]).toMatch(/^3:26: custom\.0\.deny: CEL syntax error/);
    expect(xs[1]).toMatch(/^6:12: custom\.1\.when: undeclared reference to "intnt"/);
    expect(xs[2]).toMatch(/^10:31: custom\.2\.deny: no matching overload for \+ applied to \(int, string\)/);
    expect(xs[3]).toMatch(/^13:12: custom\.3\.hold: must be a boolean expression, but gives int/);
    expect(xs[4]).toMatch(/^15:5: custom\.4: rule e needs exactly one of deny or hold/);
  });
  it("CEL size bounds", async () => {
    const long = Array.from({ length: 300 }, (_, i) => `intent.params.a${i} == 1`).join(" || ");
    const xs = await issuesOf(`custom:\n  - id: big\n    deny: '${long}'\n    reason: r\n`);
    expect(xs[0]).toMatch(/^3:12: custom\.0\.deny: is \d+ characters; the limit is 2048/);
    const nested = "intent.params.xs.all(x, intent.params.ys.exists(y, y == x))";
    expect((await issuesOf(`custom:\n  - id: n\n    deny: '${nested}'\n    reason: r\n`))[0]).toMatch(
      /^3:52: custom\.0\.deny: nests comprehensions/,
    );
    expect(
      await loadPolicy(
        await t.write(
          "ok.yaml",
          "custom:\n  - id: one\n    deny: 'intent.params.xs.exists(x, x == \"a\")'\n    reason: r\n",
        ),
      ),
    ).toBeDefined();
  });
  it("soft_limits, holds, notify and network are validated too", async () => {
    const xs = await issuesOf(
      [
        "soft_limits:",
        "  - id: s",
        "    measure: 'intent.params.amount'",
        "    scope: department",
        "    window: 24 hours",
        "    max: 10",
        "  - id: t",
        "    measure: 'string(1)'",
        "    scope: agent",
        "    window: 1h",
        "    max: 1",
        "holds:",
        "  ttl: 1 day",
        "  overrides:",
        "    - rule: no-such-rule",
        "notify:",
        '  webhooks: ["not a url"]',
        "network:",
        '  modules: ["rules/*.rego"]',
        '  data: ["missing.json"]',
        '  allow_addresses: ["localhost"]',
      ].join("\n"),
    );
    expect(xs).toEqual([
      expect.stringMatching(/^4:12: soft_limits\.0\.scope: must be "agent", "tenant", "team" or "global"/),
      expect.stringMatching(/^5:13: soft_limits\.0\.window: "24 hours" is not a duration; use a number with a unit/),
      expect.stringMatching(/^13:8: holds\.ttl: "1 day" is not a duration/),
      expect.stringMatching(/^17:14: notify\.webhooks\.0: "not a url" is not an http\(s\) URL/),
      expect.stringMatching(/^21:21: network\.allow_addresses\.0: must be a CIDR/),
    ]);
    const ys = await issuesOf(
      [
        "soft_limits:",
        "  - id: t",
        "    measure: 'string(1)'",
        "    scope: agent",
        "    window: 1h",
        "    max: 1",
        "holds:",
        "  overrides:",
        "    - rule: no-such-rule",
        "network:",
        '  modules: ["rules/*.rego"]',
        '  data: ["missing.json"]',
      ].join("\n"),
    );
    expect(ys).toEqual([
      expect.stringMatching(/^3:15: soft_limits\.0\.measure: must give a number, but gives string/),
      expect.stringMatching(
        /^9:13: holds\.overrides\.0\.rule: no rule "no-such-rule" can raise a hold; use one of: hold, t/,
      ),
      expect.stringMatching(/^11:13: network\.modules\.0: "rules\/\*\.rego" matches no \.rego files/),
      expect.stringMatching(/^12:10: network\.data\.0: cannot read missing\.json \(ENOENT\)/),
    ]);
  });
  it("duplicate rule ids", async () => {
    const xs = await issuesOf(
      "custom:\n  - id: a\n    deny: 'true'\n    reason: r\n  - id: a\n    hold: 'true'\n    reason: r\n",
    );
    expect(xs).toEqual([expect.stringMatching(/^5:9: custom\.1\.id: rule id "a" is already used at custom\.0\.id/)]);
  });
  it("a data file with bad JSON is reported at its own line", async () => {
    await t.write("net/a.rego", "package nemoclaw.network\n");
    await t.write("net/data.json", '{\n  "x": [1,\n}\n');
    const e = await loadError(
      await t.write("policy.yaml", 'network:\n  modules: ["net/*.rego"]\n  data: ["net/data.json"]\n'),
    );
    expect(e.issues[0]!.file).toMatch(/net\/data\.json$/);
    expect(e.issues[0]!.line).toBeGreaterThanOrEqual(2);
  });
  it("an unreadable file is policy_io", async () => {
    const e = await loadError(path.join(t.dir, "nope.yaml"));
    expect(e.code).toBe("policy_io");
    expect(e.message).toContain("ENOENT");
  });
  it("an empty file or a list is not a policy", async () => {
    expect((await issuesOf("- a\n- b\n"))[0]).toMatch(/^1:1: the policy must be a YAML mapping/);
  });
});

describe("Markdown policies", () => {
  const md = [
    "# Treasury policy",
    "",
    "Reviewed by finance.",
    "",
    "```yaml",
    "actions:",
    '  allow: ["report.*"]',
    "```",
    "",
    "Tool rules:",
    "",
    "```yaml",
    "tool_calls:",
    '  allow: ["github.*"]',
    "```",
    "",
    "```rego",
    "package nemoclaw.network",
    "default allow := false",
    "```",
    "",
  ];
  it("merges fenced yaml blocks in order and turns rego blocks into inline network modules", async () => {
    const p = await loadPolicy(await t.write("policy.md", md.join("\n")));
    expect((await decide(p, intent({ action: "report.daily", params: {} }))).effect).toBe("allow");
    expect((await decide(p, intent({ action: "tool.call", params: { tool: "github.get", args: {} } }))).effect).toBe(
      "allow",
    );
    expect(p.config.network?.modules).toEqual([
      { path: expect.stringMatching(/policy\.md#L18$/), source: "package nemoclaw.network\ndefault allow := false\n" },
    ]);
  });
  it("reports errors at the Markdown file's own lines", async () => {
    const bad = [...md];
    bad[13] = '  allow: ["github.*"]\n  hodl: []';
    const e = await loadError(await t.write("policy.md", bad.join("\n")));
    expect(e.issues.map((i) => `${i.line}:${i.column}: ${i.path}`)).toEqual(["15:3: tool_calls.hodl"]);
    expect(e.message).toMatch(/policy\.md:15:3: tool_calls\.hodl: unknown field "hodl"; did you mean "hold"\?/);
  });
  it("positions stay exact inside an indented fence (e.g. in a list item)", async () => {
    const text = ["1. The limits:", "", "   ```yaml", "   evm:", '     max_value: "a lot"', "   ```", ""].join("\n");
    const e = await loadError(await t.write("indented.md", text));
    expect(e.issues.map((i) => `${i.line}:${i.column}: ${i.path}`)).toEqual(["5:17: evm.max_value"]);
  });
  it("a top-level block defined twice across yaml fences is an error at the second one", async () => {
    const e = await loadError(
      await t.write("policy.md", [...md, "```yaml", "actions:", '  deny: ["x"]', "```"].join("\n")),
    );
    expect(e.issues[0]!.line).toBe(23);
  });
});

describe("relative paths and digest", () => {
  const policy =
    'network:\n  modules: ["network/*.rego"]\n  data: ["network/data.json"]\nevm:\n  abis: ["abis/router.json"]\n  deny_unknown_calldata: true\n';
  async function setup() {
    await t.write("network/egress.rego", "package nemoclaw.network\ndefault allow := false\n");
    await t.write("network/egress_test.rego", "package nemoclaw.network\ntest_x if true\n");
    await t.write("network/data.json", JSON.stringify({ blocked: ["curl"] }));
    await t.write(
      "abis/router.json",
      JSON.stringify({
        abi: [
          {
            type: "function",
            name: "swap",
            inputs: [
              { name: "to", type: "address" },
              { name: "amount", type: "uint256" },
            ],
            outputs: [],
            stateMutability: "nonpayable",
          },
        ],
      }),
    );
    return t.write("policy.yaml", policy);
  }
  it("resolves modules, data and ABI files against the policy file's directory, excluding *_test.rego", async () => {
    const f = await setup();
    const cwd = process.cwd();
    process.chdir("/");
    try {
      const p = await loadPolicy(path.relative("/", f));
      expect(p.config.network?.modules.map((m) => path.basename(m.path))).toEqual(["egress.rego"]);
      expect(p.config.network?.data).toEqual({ blocked: ["curl"] });
      expect(p.config.evm?.abis.map((a) => (a as { name?: string }).name)).toEqual(["swap"]);
      expect(p.files.map((x) => path.relative(t.dir, x)).sort()).toEqual([
        "abis/router.json",
        "network/data.json",
        "network/egress.rego",
        "policy.yaml",
      ]);
    } finally {
      process.chdir(cwd);
    }
  });
  it("the digest changes when the policy or any referenced file changes, and equals sha256sum for a lone file", async () => {
    const f = await setup();
    const d0 = (await loadPolicy(f)).digest;
    expect(d0).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await loadPolicy(f)).digest).toBe(d0);
    await t.write("network/data.json", JSON.stringify({ blocked: ["wget"] }));
    const d1 = (await loadPolicy(f)).digest;
    expect(d1).not.toBe(d0);
    await t.write("abis/router.json", "[]");
    const d2 = (await loadPolicy(f)).digest;
    expect(d2).not.toBe(d1);
    await writeFile(f, policy + "# comment\n");
    expect((await loadPolicy(f)).digest).not.toBe(d2);
    const lone = await t.write("lone.yaml", 'actions:\n  allow: ["a.b"]\n');
    expect((await loadPolicy(lone)).digest).toBe(
      `sha256:${createHash("sha256")
        .update(await readFile(lone))
        .digest("hex")}`,
    );
  });
  it("extra ABIs decode calldata that would otherwise be unknown", async () => {
    const f = await setup();
    const p = await loadPolicy(f);
    const { encodeFunctionData, parseAbi } = await import("viem");
    const data = encodeFunctionData({
      abi: parseAbi(["function swap(address to, uint256 amount)"]),
      functionName: "swap",
      args: ["0x1111111111111111111111111111111111111111", 5n],
    });
    const r = await decide(
      p,
      intent({
        action: "evm.transaction",
        params: { chain_id: 1, to: "0x1111111111111111111111111111111111111111", value: "0", data },
      }),
    );
    // Decoded, but what swap() moves is not known: allowed only on a contract the policy lists.
    expect(r.effect).toBe("deny");
    expect(r.reasons[0]!.message).toContain("decoded by evm.abis");
    expect(r.reasons[0]!.message).toContain("contracts.allow");
    const unknown = await decide(
      p,
      intent({
        action: "evm.transaction",
        params: { chain_id: 1, to: "0x1111111111111111111111111111111111111111", value: "0", data: "0x12345678" },
      }),
    );
    expect(unknown.reasons.map((x) => x.rule)).toEqual(["unknown_calldata"]);
    expect(unknown.reasons[0]!.message).toContain("not decoded by any known ABI");
    await writeFile(f, (await readFile(f, "utf8")).replace("evm:\n", 'evm:\n  contracts: { allow: ["0x1111111111111111111111111111111111111111"] }\n'));
    const listed = await decide(
      await loadPolicy(f),
      intent({
        action: "evm.transaction",
        params: { chain_id: 1, to: "0x1111111111111111111111111111111111111111", value: "0", data },
      }),
    );
    expect(listed.effect).toBe("allow");
  });
});
