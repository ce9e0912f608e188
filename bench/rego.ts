// Benchmark: the reference network rules (../shared/spec/network) with the SPEC section 6 input, evaluated through
// a prepared query and through the sidecar's decide() path. Prints µs per evaluation.
// Run: npx tsx bench/rego.ts
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../rego/index.ts";
import { parseJSON } from "../rego/value.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = [path.join(here, "..", "..", "shared", "spec", "network"), "/work/shared/spec/network"].find((d) => existsSync(d));
if (!dir) {
  console.error("bench/rego: ../shared/spec/network not found");
  process.exit(2);
}
const policy = compile([{ path: "egress.rego", source: readFileSync(path.join(dir, "egress.rego"), "utf8") }]);
const data = parseJSON(readFileSync(path.join(dir, "data.json"), "utf8"));
// SPEC section 6 input (as JSON from the wire: converted on every evaluation, like the proxy does)
const inputJSON = {
  request: { method: "POST", host: "api.openai.com", port: 443, path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: { model: "gpt-4" } },
  source: { binary: "python3", pid: 1234, sandbox_id: "agent-prod-01" },
  attestation: null,
  timestamp: "2026-03-20T14:30:00Z",
};

/** Best of 7 rounds, wall time and CPU time (CPU time is the fairer figure on a shared, busy machine). */
function bench(name: string, fn: () => unknown, iters = 20000): number {
  for (let i = 0; i < 5000; i++) fn(); // warm up
  let best = Infinity;
  let bestCpu = Infinity;
  for (let round = 0; round < 7; round++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    const us = Number(process.hrtime.bigint() - t0) / 1000 / iters;
    const c = process.cpuUsage(c0);
    best = Math.min(best, us);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / iters);
  }
  console.log(`${name.padEnd(50)} ${best.toFixed(2)} µs/eval wall, ${bestCpu.toFixed(2)} µs/eval cpu`);
  return best;
}
console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")} on ${os.cpus().length} cores`);

const q = policy.prepare("allow := data.nemoclaw.network.allow; deny := data.nemoclaw.network.deny; deny_reason := data.nemoclaw.network.deny_reason");
const rows = q.eval({ input: inputJSON, data });
if (rows.length !== 1) throw new Error("unexpected result");

const results = {
  prepared: bench("prepared query (allow, deny, deny_reason)", () => q.eval({ input: inputJSON, data })),
  decide: bench("decide(): allow/deny/deny_reason by path", () => policy.decide(["nemoclaw", "network"], { input: inputJSON, data })),
  allowOnly: bench("prepared query data.nemoclaw.network.allow", (() => {
    const qa = policy.prepare("data.nemoclaw.network.allow");
    return () => qa.eval({ input: inputJSON, data });
  })()),
};
console.log(JSON.stringify(results));
