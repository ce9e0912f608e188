// Benchmark of the pii block (issue 18): (1) the PII scan of 64 KiB of tool-call arguments (every built-in detector
// plus one operator pattern; target p50 ≤ 1 ms), the whole block on the same args (scan, decide, redact), and output
// redaction of a 64 KiB result; (2) the decision benchmark in-process with the reference policy against the same
// policy plus a pii block: evaluateBlocks over the request mix of bench/decisions.ts, and whole decisions
// (pipeline.decide: schema, policy, record, sign; no HTTP), alternated A/B/A/B.
//   npm run bench -- pii        (ITER=2000 scans by default)
// Results: docs/performance.md, section "PII scan".
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScanner, BUILTIN_DETECTORS, redactValue } from "../sidecar/policy/pii/index.ts";
import { evaluateBlocks, loadPolicy, type LoadedPolicy } from "../sidecar/policy/index.ts";
import { parseIntent, type Intent } from "../protocol/index.ts";
import { loadConfig } from "../sidecar/config.ts";
import { startDaemon } from "../sidecar/daemon.ts";
import { silentLogger } from "../sidecar/log.ts";
import { intentFor } from "./lib/request-mix.ts";

const ITER = Number(process.env.ITER ?? 2000);
const REFERENCE_DIR = new URL("../policy-examples/reference/", import.meta.url).pathname;
const PII_BLOCK = `
pii:
  detectors: {email: redact, phone: hold, payment_card: deny, iban: deny, us_ssn: deny, uk_nino: deny, es_dni: deny,
              it_codice_fiscale: deny, br_cpf: deny, secret: deny}
  patterns:
    - {id: employee_id, regex: "EMP-[0-9]{6}", action: redact}
`;

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const hex = (n: number, seed: number) => {
  let s = "";
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += "0123456789abcdef"[x >>> 28];
  }
  return s;
};

/** ~64 KiB of realistic arguments: prose, hashes, addresses, UUIDs, timestamps, amounts, order numbers, nested
 * records and an embedded JSON string, with a few emails and one employee id among them. */
function args64k(): Record<string, unknown> {
  const rows: Record<string, unknown>[] = [];
  const out: Record<string, unknown> = { query: "customers with overdue invoices", rows };
  for (let i = 0; JSON.stringify(out).length < 60 * 1024; i++) {
    rows.push({
      id: `${hex(8, i)}-${hex(4, i + 1)}-4${hex(3, i + 2)}-a${hex(3, i + 3)}-${hex(12, i + 4)}`,
      tx: `0x${hex(64, i + 5)}`,
      to: `0x${hex(40, i + 6)}`,
      at: new Date(1_700_000_000_000 + i * 3_600_000).toISOString(),
      unix: 1_700_000_000 + i * 3600,
      amount: `${(i * 37.5).toFixed(2)}`,
      wei: `${i + 1}000000000000000`,
      order: `ORD-2024-${String(i).padStart(6, "0")}`,
      note:
        i % 25 === 0
          ? `Customer contact is user${i}@example.com, ticket EMP-${String(100000 + i)} reviewed on 2024-03-0${i % 9}.`
          : `Invoice ${i} for v1.${i}.0 settled via 10.0.${i % 255}.${(i * 7) % 255}; see https://erp.company.com/inv/${i}.`,
    });
  }
  out.embedded = JSON.stringify(rows.slice(0, 3));
  return out;
}

/** Wall-clock p50/p99 and the mean CPU time (process.cpuUsage: less inflated when other work shares the CPUs). */
function timeIt(fn: () => unknown, n: number): { p50: number; p99: number; cpu: number } {
  for (let i = 0; i < Math.min(200, n); i++) fn(); // warm-up (JIT)
  const lat = new Array<number>(n);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    fn();
    lat[i] = performance.now() - s;
  }
  const c = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), cpu: (c.user + c.system) / 1000 / n };
}

const ms = (x: number) => `${x.toFixed(3)} ms`;

// --- (1) the scan ---
const args = args64k();
const bytes = Buffer.byteLength(JSON.stringify(args));
const scanner = createScanner(BUILTIN_DETECTORS, [{ id: "employee_id", regex: "EMP-[0-9]{6}" }]);
const findings = scanner.scan(args, "params.args");
console.log(`args: ${bytes} bytes of JSON, ${findings.length} findings (${[...new Set(findings.map((f) => f.detector))].join(", ")})`);
const scan = timeIt(() => scanner.scan(args, "params.args"), ITER);
console.log(`PII scan, all ${BUILTIN_DETECTORS.length} detectors + 1 RE2 pattern: p50 ${ms(scan.p50)}, p99 ${ms(scan.p99)}, CPU mean ${ms(scan.cpu)}`);
const redact = timeIt(() => redactValue(args, scanner.scan(args, "params.args"), "params.args"), ITER);
console.log(`scan + redact: p50 ${ms(redact.p50)}, p99 ${ms(redact.p99)}, CPU mean ${ms(redact.cpu)}`);

// --- (2) the decision benchmark with and without the block ---
const dir = mkdtempSync(join(tmpdir(), "isc-bench-pii-"));
try {
  cpSync(REFERENCE_DIR, join(dir, "ref"), { recursive: true });
  cpSync(REFERENCE_DIR, join(dir, "pii"), { recursive: true });
  const piiFile = join(dir, "pii", "policy.yaml");
  writeFileSync(piiFile, readFileSync(piiFile, "utf8") + PII_BLOCK);
  const files = { reference: join(dir, "ref", "policy.yaml"), "reference + pii": piiFile };

  const policies: Record<string, LoadedPolicy> = {};
  for (const [k, f] of Object.entries(files)) policies[k] = await loadPolicy(f);
  const mix: Intent[] = Array.from({ length: 5 }, (_, i) => {
    const r = parseIntent(intentFor(i));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.intent;
  });
  const big = parseIntent({ agent: "a", action: "tool.call", params: { tool: "crm.export", args } });
  if (!big.ok) throw new Error("64 KiB intent invalid");
  const env = { now: new Date() };
  console.log("\nevaluateBlocks per intent (µs), request mix of bench/decisions.ts; and the whole pii block on 64 KiB args");
  for (const [k, p] of Object.entries(policies)) {
    for (let i = 0; i < 3000; i++) await evaluateBlocks(p, mix[i % 5]!, env);
    const lat: number[] = [];
    let c0 = process.cpuUsage();
    for (let i = 0; i < ITER * 5; i++) {
      const s = performance.now();
      await evaluateBlocks(p, mix[i % 5]!, env);
      lat.push((performance.now() - s) * 1000);
    }
    let c = process.cpuUsage(c0);
    const mixCpu = (c.user + c.system) / (ITER * 5);
    lat.sort((a, b) => a - b);
    const blocks: number[] = [];
    for (let i = 0; i < 20; i++) await evaluateBlocks(p, big.intent, env);
    c0 = process.cpuUsage();
    for (let i = 0; i < 300; i++) {
      const s = performance.now();
      await evaluateBlocks(p, big.intent, env);
      blocks.push(performance.now() - s);
    }
    c = process.cpuUsage(c0);
    blocks.sort((a, b) => a - b);
    console.log(
      `${k}: mix p50 ${pct(lat, 50).toFixed(1)} µs, p99 ${pct(lat, 99).toFixed(1)} µs, CPU mean ${mixCpu.toFixed(1)} µs; ` +
        `64 KiB tool call (tool_calls URL reader included) p50 ${ms(pct(blocks, 50))}, CPU mean ${ms((c.user + c.system) / 1000 / 300)}`,
    );
  }

  console.log("\nwhole decisions in-process (pipeline.decide, SQLite, signing), request mix, alternated");
  const results: Record<string, number[]> = { reference: [], "reference + pii": [] };
  for (let round = 0; round < 2; round++) {
    for (const [k, f] of Object.entries(files)) {
      const dataDir = mkdtempSync(join(tmpdir(), "isc-bench-pii-d-"));
      const config = {
        ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
        policyFile: f,
      };
      const d = await startDaemon({ config, log: silentLogger() });
      try {
        const bodies = Array.from({ length: 2000 }, (_, i) => intentFor(i + round * 100_000));
        for (let i = 0; i < 300; i++) await d.pipeline.decide({ ...bodies[i]!, agent: `warm-${i}` });
        const lat: number[] = [];
        const t0 = performance.now();
        for (let i = 0; i < 3000; i++) {
          const s = performance.now();
          await d.pipeline.decide({ ...bodies[i % bodies.length]!, agent: `b${round}-${i % 2000}` });
          lat.push(performance.now() - s);
        }
        const per = (performance.now() - t0) / 3000;
        lat.sort((a, b) => a - b);
        results[k]!.push(pct(lat, 50));
        console.log(`round ${round + 1} ${k}: p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}, ${Math.round(1000 / per)} decisions/s sequential`);
      } finally {
        await d.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  const best = (k: string) => Math.min(...results[k]!);
  console.log(`best p50: reference ${ms(best("reference"))}, reference + pii ${ms(best("reference + pii"))}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
