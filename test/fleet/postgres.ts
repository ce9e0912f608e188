// A throwaway PostgreSQL cluster for the fleet tests: Debian's server binaries (package `postgresql`, which `.ci/run`
// installs), `initdb` + `pg_ctl` on a free loopback port under a temp dir, torn down after. initdb refuses to run as
// root, so as root the cluster belongs to the `postgres` user (runuser). When no server is installed the tests skip
// with one visible line (`pgSkipReason`).
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PgCluster {
  /** postgres://… for the `intent_sidecar` database (trust auth on loopback, throwaway). */
  url: string;
  port: number;
  dir: string;
  /** Stops the server (fast shutdown: connections are terminated); `start()` brings it back on the same port. */
  stop(): void;
  start(): void;
  /** Stops the server and removes the cluster. */
  destroy(): void;
}

function binDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

/** Why the fleet tests cannot run here, or undefined when they can. */
export function pgSkipReason(): string | undefined {
  if (!binDir()) return "PostgreSQL server binaries not found under /usr/lib/postgresql (install the Debian package `postgresql`)";
  if (process.getuid?.() === 0 && spawnSync("id", ["postgres"]).status !== 0) return "no `postgres` user to run initdb as";
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error(pgSkipReason());
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "intent-sidecar-pg-"));
  const data = join(dir, "data");
  chmodSync(dir, 0o755);
  let uid = -1;
  let gid = -1;
  if (asRoot) {
    uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(file, argv, { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  const opts = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off", // a throwaway cluster: durability of the test machine's disk is not under test
    "-c max_connections=200",
    "-c shared_buffers=32MB",
  ].join(" ");
  const start = () => void run("pg_ctl", ["-D", data, "-o", opts, "-w", "-t", "30", "-l", join(dir, "log"), "start"]);
  const stop = () => void run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"]);
  start();
  run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "intent_sidecar"]);
  let destroyed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/intent_sidecar`,
    port,
    dir,
    stop,
    start,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        stop();
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
