// The load generator of the decision benchmarks: a child process running plain JS (so process.cpuUsage() in the
// benchmark's process is the daemon's) with keep-alive HTTP/1.1 connections over raw sockets, each sending its next
// request as soon as the previous answer is in. Also the CPU accounting around its measured window: the daemon
// process, its threads, the load generator, and the whole machine (busy cores, hypervisor steal).
import { spawn } from "node:child_process";
import { Session } from "node:inspector/promises";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";

// ---- load generator (a child process running plain JS, so process.cpuUsage() in this process is the daemon's) ----
// It connects 16 keep-alive HTTP/1.1 sockets, each sending the next request as soon as the previous response is in,
// and writes "START"/"STOP" on stderr around the measured window.
const loadSource = `
const net = require("node:net");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => run(JSON.parse(input)));
function run({ host, port, path, bodies, concurrency, warmupMs, runMs }) {
  const reqs = bodies.map((b) => Buffer.from("POST " + path + " HTTP/1.1\\r\\nHost: " + host + ":" + port +
    "\\r\\nContent-Type: application/json\\r\\nContent-Length: " + Buffer.byteLength(b) + "\\r\\n\\r\\n" + b));
  const lat = [];
  const statuses = {};
  let counting = false, stop = false, next = 0, done = 0;
  function conn() {
    return new Promise((resolve) => {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      let buf = Buffer.alloc(0), t0 = 0;
      const send = () => {
        if (stop) { s.end(); return resolve(); }
        t0 = performance.now();
        s.write(reqs[next++ % reqs.length]);
      };
      s.on("connect", send);
      s.on("data", (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const he = buf.indexOf("\\r\\n\\r\\n");
          if (he < 0) return;
          const head = buf.subarray(0, he).toString("latin1");
          const m = /content-length: *(\\d+)/i.exec(head);
          const len = m ? Number(m[1]) : 0;
          if (buf.length < he + 4 + len) return;
          const status = head.slice(9, 12);
          buf = buf.subarray(he + 4 + len);
          if (counting) { lat.push(performance.now() - t0); statuses[status] = (statuses[status] || 0) + 1; done++; }
          send();
        }
      });
      s.on("error", (e) => { process.stderr.write("conn error " + e.message + "\\n"); resolve(); });
    });
  }
  (async () => {
    const all = [];
    for (let i = 0; i < concurrency; i++) all.push(conn());
    await new Promise((r) => setTimeout(r, warmupMs));
    counting = true;
    process.stderr.write("START\\n");
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, runMs));
    counting = false;
    const cpu = process.cpuUsage(cpu0);
    process.stderr.write("STOP\\n");
    const elapsed = performance.now() - start;
    stop = true;
    await Promise.all(all);
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    process.stdout.write(JSON.stringify({ done, elapsed, statuses, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat[lat.length - 1], loadCpuUs: cpu.user + cpu.system }));
  })();
}
`;

export interface LoadResult {
  done: number;
  elapsed: number;
  statuses: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** CPU time of the daemon's process during the measured window, µs (all its threads). */
  serverCpuUs: number;
  /** CPU time of the daemon's main thread (the event loop) during the window, µs; Linux only, else 0. */
  mainThreadCpuUs: number;
  /** CPU µs of each thread that used at least 1% of the window's total ("main", else by thread id). */
  threads: Record<string, number>;
  /** CPU time of the load generator during the window, µs. */
  loadCpuUs: number;
  /** The whole machine during the window: cores busy (all processes) and hypervisor steal, from /proc/stat. */
  machine: { busyCores: number; stealPct: number };
}

/** `opts.profileFile`: a CPU profile of this process during the measured window is written there. */
let profiler: Session | undefined;
async function startProfiler(): Promise<Session> {
  if (!profiler) {
    profiler = new Session();
    profiler.connect();
    await profiler.post("Profiler.enable");
  }
  return profiler;
}

/** CPU time of this process's main thread, µs, from /proc (10 ms resolution; fine over a window of seconds). */
function mainThreadCpuUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** CPU time per thread of this process, µs, keyed "tid name" (Linux; empty elsewhere). */
function threadCpuUs(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(`${tid} ${name}`, ((Number(f[11]) + Number(f[12])) * 1e6) / 100);
    }
  } catch {
    /* not Linux */
  }
  return out;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat; zeros where it does not exist. */
function machineJiffies(): { busy: number; total: number; steal: number } {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total, steal: f[7]! };
  } catch {
    return { busy: 0, total: 0, steal: 0 };
  }
}

export function runLoad(
  addr: string,
  path: string,
  bodies: string[],
  seconds: number,
  opts: { concurrency: number; warmupSeconds: number; profileFile?: string },
): Promise<LoadResult> {
  const i = addr.lastIndexOf(":");
  const child = spawn(process.execPath, ["-e", loadSource], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(
    JSON.stringify({
      host: addr.slice(0, i),
      port: Number(addr.slice(i + 1)),
      path,
      bodies,
      concurrency: opts.concurrency,
      warmupMs: opts.warmupSeconds * 1000,
      runMs: seconds * 1000,
    }),
  );
  let out = "";
  let cpu0: NodeJS.CpuUsage | undefined;
  let cpuUs = 0;
  let main0 = 0;
  let threads0 = new Map<string, number>();
  const threads: Record<string, number> = {};
  let mainUs = 0;
  let mach0 = machineJiffies();
  let machine = { busyCores: 0, stealPct: 0 };
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c: Buffer) => {
    const t = c.toString();
    if (t.includes("START")) {
      cpu0 = process.cpuUsage();
      main0 = mainThreadCpuUs();
      threads0 = threadCpuUs();
      mach0 = machineJiffies();
      if (opts.profileFile) void startProfiler().then((p) => p.post("Profiler.start"));
    }
    if (t.includes("STOP") && cpu0) {
      const d = process.cpuUsage(cpu0);
      cpuUs = d.user + d.system;
      mainUs = mainThreadCpuUs() - main0;
      for (const [k, v] of threadCpuUs()) {
        const d = v - (threads0.get(k) ?? 0);
        const tid = k.slice(0, k.indexOf(" "));
        if (d > cpuUs / 100) threads[tid === String(process.pid) ? "main" : `tid ${tid}`] = d;
      }
      const m = machineJiffies();
      const cores = cpus().length;
      if (m.total > mach0.total) {
        machine = {
          busyCores: +(((m.busy - mach0.busy) / (m.total - mach0.total)) * cores).toFixed(2),
          stealPct: +(((m.steal - mach0.steal) / (m.total - mach0.total)) * 100).toFixed(1),
        };
      }
      if (opts.profileFile && profiler) {
        const file = opts.profileFile;
        void profiler.post("Profiler.stop").then(({ profile }) => writeFileSync(file, JSON.stringify(profile)));
      }
    }
    if (t.includes("conn error")) process.stderr.write(t);
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited ${code}`));
      resolve({
        ...(JSON.parse(out) as Omit<LoadResult, "serverCpuUs" | "mainThreadCpuUs" | "machine" | "threads">),
        serverCpuUs: cpuUs,
        mainThreadCpuUs: mainUs,
        threads,
        machine,
      });
    });
  });
}
