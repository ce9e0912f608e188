// Benchmark (issue 18): the decision benchmark over HTTP (POST /v1/intents, concurrency 16, the request mix of
// bench/decisions.ts) with the reference policy, against the same policy with every governance block of issue 18
// enabled: pii, risk, scoped sections, rate limits (high enough never to trip), costs and budgets (never reached),
// and the OCSF JSONL export. Both daemons in this process, alternated A/B/A/B so drift on a shared machine hits both.
//   npm run bench -- governance [--seconds 6]
// Results: docs/performance.md, section "Governance blocks".
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../sidecar/config.ts";
import { startDaemon } from "../sidecar/daemon.ts";
import { silentLogger } from "../sidecar/log.ts";
import { runLoad } from "./lib/load-generator.ts";
import { intentFor } from "./lib/request-mix.ts";

const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf("--seconds") + 1] ?? 6) || 6;
const REFERENCE_DIR = new URL("../policy-examples/reference/", import.meta.url).pathname;

const PII = `
pii:
  detectors: {email: redact, phone: hold, payment_card: deny, iban: deny, us_ssn: deny, secret: deny}
`;
const RISK_SCOPES = `
risk:
  critical: ["github.delete_*"]
  high: ["stripe.refund*"]
  low: ["*.read_*", "*.get_*"]
scopes:
  - scope: "org:acme/team:interns"
    tool_calls:
      deny: ["github.*"]
`;
const RATES = `
rate_limits:
  - { id: burst, scope: agent, max: 1000000, per: 1m }
`;
const COSTS = `
costs:
  - id: ops
    actions: ["*"]
    measure: '0.001'
    currency: USD
budgets:
  - { id: daily, scope: agent, per: day, limit: "1000000 USD", alert_at: [0.9] }
`;

async function run(name: string, policyFile: string, dataDir: string, exportsFile?: string) {
  const config = {
    ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0", policy: policyFile }, {}),
    ...(exportsFile ? { exports: { ocsfJsonl: { path: exportsFile, maxBytes: 512 * 1024 * 1024, keep: 1 } } } : {}),
  };
  const d = await startDaemon({ config: config as never, log: silentLogger() });
  try {
    const bodies = Array.from({ length: 4000 }, (_, i) => JSON.stringify(intentFor(i)));
    const r = await runLoad(d.agentAddr, "/v1/intents", bodies, SECONDS, { concurrency: 16, warmupSeconds: 2 });
    return { name, per_s: Math.round((r.done / r.elapsed) * 1000), p50_ms: +r.p50.toFixed(2), p99_ms: +r.p99.toFixed(2), cpu_us: Math.round(r.serverCpuUs / r.done), statuses: r.statuses };
  } finally {
    await d.close();
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "isc-bench-gov-"));
  try {
    cpSync(REFERENCE_DIR, join(dir, "ref"), { recursive: true });
    cpSync(REFERENCE_DIR, join(dir, "gov"), { recursive: true });
    const govFile = join(dir, "gov", "policy.yaml");
    writeFileSync(govFile, readFileSync(govFile, "utf8") + PII + RISK_SCOPES + RATES + COSTS);
    const rows: Awaited<ReturnType<typeof run>>[] = [];
    for (let round = 0; round < 2; round++) {
      rows.push(await run("reference", join(dir, "ref", "policy.yaml"), join(dir, `ref-data-${round}`)));
      rows.push(await run("reference + governance blocks + JSONL export", govFile, join(dir, `gov-data-${round}`), join(dir, `ocsf-${round}.jsonl`)));
    }
    // where the time goes: each addition alone, once
    const parts: [string, string][] = [["+ pii", PII], ["+ risk and scopes", RISK_SCOPES], ["+ rate_limits", RATES], ["+ costs and budgets", COSTS]];
    for (const [name, block] of parts) {
      const d = join(dir, name.replace(/\W+/g, "-"));
      cpSync(REFERENCE_DIR, d, { recursive: true });
      writeFileSync(join(d, "policy.yaml"), readFileSync(join(d, "policy.yaml"), "utf8") + block);
      rows.push(await run(name, join(d, "policy.yaml"), join(d, "data")));
    }
    rows.push(await run("+ JSONL export only", join(dir, "ref", "policy.yaml"), join(dir, "jsonl-data"), join(dir, "ocsf-only.jsonl")));
    const best = (n: string) => Math.max(...rows.filter((r) => r.name === n).map((r) => r.per_s));
    console.log(
      JSON.stringify(
        {
          machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
          seconds: SECONDS,
          runs: rows,
          ratio_best: +(best("reference + governance blocks + JSONL export") / best("reference")).toFixed(2),
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
