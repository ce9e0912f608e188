// Cost of evaluateBlocks (actions, evm, tool_calls, custom) for the reference policy, per intent kind, and of a full
// loadPolicy (what a hot reload costs). Run: npx tsx bench/policy.ts   (ITER=20000 by default)
// Baseline in the same run: JSON round trip + SHA-256 of the same intent (work every decision does anyway), so the
// ratio stays meaningful on a busy machine. evaluateBlocks sits inside a 5,000 decisions/s budget (200 µs each).
import { createHash } from "node:crypto";
import { encodeFunctionData, erc20Abi } from "viem";
import { evaluateBlocks, loadPolicy } from "../sidecar/policy/index.ts";
import { parseIntent, type Intent } from "../protocol/index.ts";

const ITER = Number(process.env.ITER ?? 20_000);
const REFERENCE = new URL("../policy-examples/reference/policy.yaml", import.meta.url).pathname;
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";

function mk(action: string, params: Record<string, unknown>): Intent {
  const r = parseIntent({ agent: "treasury-bot", action, params, context: { tenant: "acme" } });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.intent;
}

const cases: Record<string, Intent> = {
  "evm: 500 USDC transfer (APPROVED)": mk("evm.transaction", {
    chain_id: 8453,
    to: USDC,
    value: "0",
    data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [VENDOR_A, 500_000_000n] }),
  }),
  "evm: native 0.01 ETH (APPROVED)": mk("evm.transaction", {
    chain_id: 8453,
    to: VENDOR_A,
    value: "10000000000000000",
  }),
  "tool_calls: slack with URL (APPROVED)": mk("tool.call", {
    tool: "slack.post_message",
    args: { channel: "#ops", text: "deploy done, see https://ci.company.com/run/42" },
  }),
  "custom: treasury.disburse (APPROVED)": mk("treasury.disburse", { amount_usd: "1200", ticket: "FIN-42" }),
  "custom: disbursement > $50k (PENDING)": mk("treasury.disburse", { amount_usd: "60000", ticket: "FIN-43" }),
};

function pct(xs: number[], p: number): number {
  return xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
}

const policy = await loadPolicy(REFERENCE);
const env = { now: new Date() };
const rows: string[] = [];
console.log(`evaluateBlocks, reference policy, ${ITER} iterations per case (µs)`);
console.log("case | p50 | p99 | mean | baseline mean | ratio");
for (const [name, intent] of Object.entries(cases)) {
  for (let i = 0; i < 3000; i++) await evaluateBlocks(policy, intent, env); // warm-up (JIT)
  const lat: number[] = new Array(ITER);
  const t0 = performance.now();
  for (let i = 0; i < ITER; i++) {
    const s = performance.now();
    await evaluateBlocks(policy, intent, env);
    lat[i] = (performance.now() - s) * 1000;
  }
  const mean = ((performance.now() - t0) * 1000) / ITER;
  const b0 = performance.now();
  for (let i = 0; i < ITER; i++)
    createHash("sha256")
      .update(JSON.stringify(JSON.parse(JSON.stringify(intent))))
      .digest("hex");
  const base = ((performance.now() - b0) * 1000) / ITER;
  lat.sort((a, b) => a - b);
  const row = `${name} | ${pct(lat, 50).toFixed(1)} | ${pct(lat, 99).toFixed(1)} | ${mean.toFixed(1)} | ${base.toFixed(1)} | ${(mean / base).toFixed(1)}x`;
  rows.push(row);
  console.log(row);
}

const loads: number[] = [];
for (let i = 0; i < 20; i++) {
  const s = performance.now();
  await loadPolicy(REFERENCE);
  loads.push(performance.now() - s);
}
loads.sort((a, b) => a - b);
console.log(
  `loadPolicy (reference, incl. Rego compile of the network block): p50 ${pct(loads, 50).toFixed(1)} ms, max ${loads.at(-1)!.toFixed(1)} ms`,
);
