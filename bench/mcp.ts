// MCP proxy benchmark: the added p50 of an approved `tools/call` through `intent-sidecar mcp` (stdio wrap) over
// calling the same MCP server directly, in one script. Both paths use the SDK's Client and the same stdio server
// (test/mcp/fixtures/server.ts, attestation checking off so only the proxy's work differs); the daemon runs in its own
// process with the reference policy's tool_calls block (its hourly tool-call soft limit left out: the benchmark makes
// thousands of calls). Calls alternate in blocks between the two paths so machine noise hits both alike.
//   npx tsx bench/mcp.ts [--quick]
// Target (issue "Governance where agents act", item 1): added p50 ≤ 2 ms per approved call.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BIN, spawnDaemon } from "../test/cli/daemon-process.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, "../test/mcp/fixtures/server.ts");
const TSX = ["--conditions=intent-sidecar-source", "--import", "tsx"];
const quick = process.argv.includes("--quick");
const BLOCKS = quick ? 4 : 20;
const PER_BLOCK = quick ? 50 : 100;
const WARMUP = quick ? 100 : 300;
const TOKEN = "bench-mcp-agent-token-0123456789";

const dir = mkdtempSync(path.join(tmpdir(), "bench-mcp-"));
const policy = path.join(dir, "policy.yaml");
writeFileSync(
  policy,
  `version: 1
name: bench-mcp
tool_calls:   # as in policy-examples/reference/policy.yaml
  allow: ["slack.post_message", "github.*", "web.fetch", "payments.*"]
  deny: ["shell.*", "github.delete_*"]
  hold: ["payments.*"]
  domains:
    allow: ["*.company.com", "api.github.com", "slack.com"]
    deny: ["pastebin.com", "*.ngrok.io"]
  max_args_bytes: 65536
`,
);

const daemon = await spawnDaemon(
  ["--policy", policy, "--data-dir", path.join(dir, "data")],
  { INTENT_SIDECAR_SOURCE: "1", INTENT_SIDECAR_AGENT_TOKENS: `bench=${TOKEN}`, INTENT_SIDECAR_LOG_LEVEL: "warn" },
  { dev: false },
);

async function connect(command: string[]): Promise<Client> {
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: command,
      env: { ...(process.env as Record<string, string>), INTENT_SIDECAR_SOURCE: "1", INTENT_SIDECAR_TOKEN: TOKEN },
      stderr: "inherit",
    }),
  );
  return client;
}

const direct = await connect([...TSX, FIXTURE]);
const proxied = await connect([
  BIN,
  "mcp",
  "--quiet",
  "--name",
  "web",
  "--sidecar",
  daemon.url,
  "--",
  process.execPath,
  ...TSX,
  FIXTURE,
]);

const args = { url: "https://api.github.com/repos/octo/hello" };
async function call(c: Client): Promise<number> {
  const t0 = performance.now();
  const r = (await c.callTool({ name: "fetch", arguments: args })) as CallToolResult;
  const ms = performance.now() - t0;
  if (r.isError) throw new Error(`call failed: ${JSON.stringify(r.content)}`);
  return ms;
}

const p = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

try {
  for (let i = 0; i < WARMUP; i++) {
    await call(direct);
    await call(proxied);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let blk = 0; blk < BLOCKS; blk++) {
    const [first, second] = blk % 2 ? [proxied, direct] : [direct, proxied];
    for (let i = 0; i < PER_BLOCK; i++) (first === direct ? a : b).push(await call(first));
    for (let i = 0; i < PER_BLOCK; i++) (second === direct ? a : b).push(await call(second));
  }
  const f = (x: number) => `${x.toFixed(3)} ms`;
  console.log(`calls per path: ${a.length} (after ${WARMUP} warm-up calls each)`);
  console.log(`direct   p50 ${f(p(a, 0.5))}  p90 ${f(p(a, 0.9))}  p99 ${f(p(a, 0.99))}`);
  console.log(`proxied  p50 ${f(p(b, 0.5))}  p90 ${f(p(b, 0.9))}  p99 ${f(p(b, 0.99))}`);
  const added = p(b, 0.5) - p(a, 0.5);
  console.log(`added p50 per approved tools/call: ${f(added)} (target ≤ 2 ms: ${added <= 2 ? "met" : "NOT met"})`);
} finally {
  await Promise.allSettled([direct.close(), proxied.close()]);
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
}
