// The data directory's guard rails (secure defaults): one daemon per data dir, and private file modes.
//
// The lock is an exclusive SQLite lock on `<data-dir>/daemon.lock` (locking_mode=EXCLUSIVE): the kernel holds it for
// the process (fcntl), so it goes away with the process however it ends (no stale lock after a crash or SIGKILL), and
// two connections in one process conflict too. `<data-dir>/daemon.pid` names the holder for the second daemon's
// message; a pid file left by a process that is gone (process.kill(pid, 0)) is only reported as stale.
import Database from "better-sqlite3";
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "daemon.lock";
export const PID_FILE = "daemon.pid";

export class DataDirLockedError extends Error {
  readonly code = "data_dir_locked";
  constructor(
    readonly dataDir: string,
    readonly pid: number | undefined,
  ) {
    super(
      `another intent-sidecar daemon${pid !== undefined ? ` (pid ${pid})` : ""} is using the data directory ${dataDir}; ` +
        "stop it first, or give this one its own --data-dir",
    );
  }
}

export interface DataDirLock {
  readonly dataDir: string;
  release(): void;
}

/** Creates `file` (if missing) with mode 0600 and makes sure an existing one is 0600 too. */
export function privateFile(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  chmodSync(file, 0o600);
}

/** Creates the data directory (0700) if needed and makes an existing one 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

function readPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, PID_FILE), "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the data directory for this process; throws DataDirLockedError when another daemon holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  privateDir(dataDir);
  const file = join(dataDir, LOCK_FILE);
  privateFile(file);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE; COMMIT"); // in exclusive locking mode the lock stays until the connection closes
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === "SQLITE_BUSY" || (e as { code?: string }).code === "SQLITE_LOCKED") {
      const pid = readPid(dataDir);
      throw new DataDirLockedError(dataDir, pid !== undefined && alive(pid) ? pid : undefined);
    }
    throw e;
  }
  const pidFile = join(dataDir, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  chmodSync(pidFile, 0o600);
  let released = false;
  return {
    dataDir,
    release() {
      if (released) return;
      released = true;
      if (readPid(dataDir) === process.pid) rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

/** The names the daemon and its commands keep in the data directory (only these are tightened: a data dir pointed at
 * a directory that also holds other things must not have those changed). */
const OWN = [
  /^intent-sidecar\.db(-wal|-shm|-journal)?$/,
  /^proxy-replay\.sqlite(-wal|-shm|-journal)?$/,
  /^proxy-ca\./,
  /^daemon\.(lock|pid)/,
  /^(agent|operator)-token$/,
  /^webhook-secret$/,
];
const OWN_DIRS = new Set(["keys"]);

/** Makes the data directory 0700 and every file of ours in it 0600 (directories of ours 0700). Files created by an
 * older version (the SQLite files were 0644) are fixed at start. Sockets and symlinks are left alone. */
export function tightenDataDir(dataDir: string): void {
  privateDir(dataDir);
  const walk = (dir: string, all: boolean) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory() && (all || OWN_DIRS.has(name))) {
        if ((st.mode & 0o777) !== 0o700) chmodSync(p, 0o700);
        walk(p, true);
      } else if (st.isFile() && (all || OWN.some((re) => re.test(name)))) {
        if ((st.mode & 0o777) !== 0o600) chmodSync(p, 0o600);
      }
    }
  };
  walk(dataDir, false);
}
