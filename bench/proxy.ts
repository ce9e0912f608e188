// Proxy benchmark: requests through the proxy against direct HTTPS to the same local upstream, in the same script.
// The upstream and the proxy each run in their own process (as in production: the sidecar is a separate process),
// the clients run here. The proxy decides with the reference network rules (Rego) and attributes processes.
//   npx tsx bench/proxy.ts [--quick] [--no-attribution]
// Reports: added p50 per request on a kept-alive tunnel, p50 of a request over a new tunnel to a cached host, and
// throughput (requests/s) through the proxy and direct.
import { fork, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const role = process.argv[2];
const quick = process.argv.includes("--quick");
const attribution = !process.argv.includes("--no-attribution");
// --throughput-only: skip the latency phases (quick A/B of CPU per request under load)
const throughputOnly = process.argv.includes("--throughput-only");
const HOST = "api.github.com";

async function serveUpstream(): Promise<void> {
  const { startUpstream } = await import("../test/proxy/helpers.ts");
  const up = await startUpstream();
  process.send!({ port: up.port, caPem: up.ca.certPem });
}

async function serveProxy(upstreamCaPem: string, withAttribution: boolean): Promise<void> {
  const { startProxy, CertificateAuthority } = await import("../proxy/index.ts");
  const { loadPolicy } = await import("../sidecar/policy/index.ts");
  const { UPSTREAM_ADDR } = await import("../test/proxy/helpers.ts");
  const dir = mkdtempSync(path.join(tmpdir(), "bench-proxy-"));
  mkdirSync(path.join(dir, "network"));
  for (const f of ["egress.rego", "data.json"]) {
    copyFileSync(path.join(here, "../policy-examples/reference/network", f), path.join(dir, "network", f));
  }
  writeFileSync(
    path.join(dir, "policy.yaml"),
    `version: 1\nnetwork:\n  modules: ["network/*.rego"]\n  data: ["network/data.json"]\n  require_attestation: ["api.production.company.com"]\n  allow_addresses: ["${UPSTREAM_ADDR}/32"]\n  resolve:\n    ${HOST}: "${UPSTREAM_ADDR}"\n`,
  );
  const policy = await loadPolicy(path.join(dir, "policy.yaml"));
  const ca = await CertificateAuthority.ephemeral();
  const proxy = await startProxy({
    port: 0,
    ca,
    // BENCH_PROXY_NO_DECISION_CACHE=1: every request evaluates the rules (what non-repeating traffic costs)
    policy: process.env.BENCH_PROXY_NO_DECISION_CACHE
      ? (() => {
          const p = { ...policy.network!.proxy, decisionCache: null };
          return () => p;
        })()
      : () => policy.network!.proxy,
    upstreamCA: upstreamCaPem,
    attribution: withAttribution,
    limits: { maxConnections: 4096 },
  });
  process.send!({ port: proxy.port, caPem: ca.certPem });
  // CPU time used so far, on request: the proxy's cost per request independent of other load on the machine
  process.on("message", (m) => {
    if (m === "cpu") {
      const u = process.cpuUsage();
      process.send!({ cpuMs: (u.user + u.system) / 1000 });
    }
  });
  process.on("disconnect", () => rmSync(dir, { recursive: true, force: true }));
  process.on("SIGINT", () => process.exit(0)); // exit normally, so --cpu-prof can write its profile
}

function child(args: string[]): Promise<{ proc: ChildProcess; msg: { port: number; caPem: string } }> {
  return new Promise((resolve, reject) => {
    // BENCH_PROXY_PROFILE=dir writes a CPU profile of the proxy process there
    const prof =
      args[0] === "proxy" && process.env.BENCH_PROXY_PROFILE
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROXY_PROFILE}`]
        : [];
    const proc = fork(fileURLToPath(import.meta.url), args, {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [...process.execArgv, ...prof],
    });
    proc.once("message", (msg) => resolve({ proc, msg: msg as never }));
    proc.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

function cpuMs(proc: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (m && typeof m === "object" && "cpuMs" in m) {
        proc.off("message", on);
        resolve((m as { cpuMs: number }).cpuMs);
      }
    };
    proc.on("message", on);
    proc.send("cpu");
  });
}

function get(agent: https.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    https
      .get(url, { agent }, (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`status ${res.statusCode}`)),
        );
      })
      .on("error", reject);
  });
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (x: number) => x.toFixed(3);

/** Interleaves the two agents so load on the machine hits both equally. */
async function interleaved(a: https.Agent, b: https.Agent, url: string, n: number): Promise<[number[], number[]]> {
  for (let i = 0; i < Math.min(200, n); i++) {
    await get(a, url);
    await get(b, url);
  }
  const xa: number[] = [];
  const xb: number[] = [];
  for (let i = 0; i < n; i++) {
    xa.push(await get(a, url));
    xb.push(await get(b, url));
  }
  return [xa, xb];
}

/** Requests/s with `concurrency` kept-alive connections over one window. */
async function throughput(agent: https.Agent, url: string, concurrency: number, seconds: number): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await get(agent, url);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => pct(xs, 50);

async function main(): Promise<void> {
  const { TunnelAgent } = await import("../test/proxy/helpers.ts");
  const { UPSTREAM_ADDR } = await import("../test/proxy/helpers.ts");
  const upstream = await child(["upstream"]);
  const proxied = await child(["proxy", upstream.msg.caPem, attribution ? "attr" : "noattr"]);
  const proxy = { host: "127.0.0.1", port: proxied.msg.port };
  const url = `https://${HOST}:${upstream.msg.port}/repos/acme/app`;
  const directOpts = {
    ca: upstream.msg.caPem,
    lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o?.all ? cb(null, [{ address: UPSTREAM_ADDR, family: 4 }]) : cb(null, UPSTREAM_ADDR, 4)) as never,
  };
  const n = quick ? 500 : 3000;
  const nNew = quick ? 100 : 400;
  const secs = quick ? 3 : 9;

  // 1. per request on a kept-alive connection
  const nKA = throughputOnly ? 0 : n;
  const directKA = new https.Agent({ keepAlive: true, maxSockets: 1, ...directOpts });
  const proxyKA = new TunnelAgent(proxy, proxied.msg.caPem, { maxSockets: 1 });
  const cpu0 = await cpuMs(proxied.proc);
  const [dKA, pKA] = await interleaved(directKA, proxyKA, url, nKA);
  const cpuKA = nKA ? ((await cpuMs(proxied.proc)) - cpu0) / (nKA + Math.min(200, nKA)) : NaN;
  directKA.destroy();
  proxyKA.destroy();

  // 2. a new connection per request (the proxy's leaf for the host is cached after the first)
  const directNew: number[] = [];
  const proxyNew: number[] = [];
  const cpuN0 = await cpuMs(proxied.proc);
  for (let i = 0; i < (throughputOnly ? 0 : nNew); i++) {
    const d = new https.Agent({ keepAlive: false, ...directOpts });
    directNew.push(await get(d, url));
    d.destroy();
    const p = new TunnelAgent(proxy, proxied.msg.caPem, { keepAlive: false });
    proxyNew.push(await get(p, url));
    p.destroy();
  }
  const cpuNew = throughputOnly ? NaN : ((await cpuMs(proxied.proc)) - cpuN0) / nNew;
  const warm = Math.floor(nNew / 10); // first connections include JIT warm-up and the leaf certificate
  const dNew = directNew.slice(warm);
  const pNew = proxyNew.slice(warm);

  // 3. throughput with 32 concurrent kept-alive connections: alternating 1 s windows (direct, proxy, ...) so that
  // load from other processes on the machine hits both alike; the median window of each is reported
  const concurrency = 32;
  const directTP = new https.Agent({ keepAlive: true, maxSockets: concurrency, ...directOpts });
  const proxyTP = new TunnelAgent(proxy, proxied.msg.caPem, { maxSockets: concurrency });
  const warmup = throughputOnly ? 2 : 0.5; // without the latency phases, the proxy's JIT is still cold here
  await throughput(directTP, url, concurrency, warmup); // open the connections and warm up
  await throughput(proxyTP, url, concurrency, warmup);
  const dRates: number[] = [];
  const pRates: number[] = [];
  let proxyCpu = 0;
  let proxyReqs = 0;
  for (let i = 0; i < secs; i++) {
    dRates.push(await throughput(directTP, url, concurrency, 1));
    const c0 = await cpuMs(proxied.proc);
    const t0 = performance.now();
    const rate = await throughput(proxyTP, url, concurrency, 1);
    proxyReqs += rate * ((performance.now() - t0) / 1000);
    proxyCpu += (await cpuMs(proxied.proc)) - c0;
    pRates.push(rate);
  }
  directTP.destroy();
  proxyTP.destroy();
  const directRate = median(dRates);
  const proxyRate = median(pRates);

  const result = {
    attribution,
    machine: { cpus: os.cpus().length, loadavg_1m: os.loadavg()[0] },
    requests: { keepalive: n, new_connection: nNew - warm, throughput_seconds: secs, concurrency },
    keepalive_ms: {
      direct_p50: pct(dKA, 50),
      proxy_p50: pct(pKA, 50),
      added_p50: pct(pKA, 50) - pct(dKA, 50),
      direct_p99: pct(dKA, 99),
      proxy_p99: pct(pKA, 99),
    },
    new_connection_ms: {
      direct_p50: pct(dNew, 50),
      proxy_p50: pct(pNew, 50),
      added_p50: pct(pNew, 50) - pct(dNew, 50),
    },
    proxy_cpu_ms_per_request: {
      keepalive: cpuKA,
      new_tunnel: cpuNew,
      under_load: proxyCpu / proxyReqs,
      implied_single_core_rps: 1000 / (proxyCpu / proxyReqs),
    },
    throughput_rps: {
      direct: directRate,
      proxy: proxyRate,
      direct_windows: dRates.map(Math.round),
      proxy_windows: pRates.map(Math.round),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    [
      `attribution ${attribution ? "on" : "off"}; ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`,
      `kept-alive tunnel: p50 ${ms(result.keepalive_ms.proxy_p50)} ms vs direct ${ms(result.keepalive_ms.direct_p50)} ms → added ${ms(result.keepalive_ms.added_p50)} ms (target ≤ 1 ms)`,
      `new tunnel (cached host): p50 ${ms(result.new_connection_ms.proxy_p50)} ms vs new direct TLS ${ms(result.new_connection_ms.direct_p50)} ms → added ${ms(result.new_connection_ms.added_p50)} ms (target ≤ 5 ms)`,
      `throughput (${concurrency} connections): proxy ${proxyRate.toFixed(0)} req/s, direct ${directRate.toFixed(0)} req/s (target ≥ 2000 req/s)`,
      `proxy CPU per request: ${ms(cpuKA)} ms kept-alive, ${ms(cpuNew)} ms with a new tunnel, ${ms(proxyCpu / proxyReqs)} ms under load → ${(1000 / (proxyCpu / proxyReqs)).toFixed(0)} req/s per core`,
    ].join("\n"),
  );
  upstream.proc.kill();
  proxied.proc.kill("SIGINT");
}

if (role === "upstream") await serveUpstream();
else if (role === "proxy") await serveProxy(process.argv[3]!, process.argv[4] === "attr");
else await main();
