// WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever commit crosses the WAL size
// threshold: every ~250 decisions one request paid for copying ~4 MB into the database file plus an fsync (p99 of an
// in-process decision 21 ms with it, 13 ms without). A worker thread with its own connection runs PASSIVE checkpoints
// on a timer instead; the daemon's connection keeps a large automatic threshold only as a backstop.
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import type { Db } from "./db.ts";

const BACKSTOP_PAGES = 10_000; // ~40 MB of WAL before a commit checkpoints by itself

const source = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 1000");
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch { /* busy: next tick */ }
}, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  try { db.close(); } catch {}
  parentPort.close();
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(db: Db, intervalMs = 250): Checkpointer {
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const worker = new Worker(source, {
    eval: true,
    workerData: { file: db.name, module: createRequire(import.meta.url).resolve("better-sqlite3"), intervalMs },
  });
  worker.unref();
  let failed = false;
  worker.on("error", () => {
    failed = true; // the backstop keeps the WAL bounded
    db.pragma("wal_autocheckpoint = 1000");
  });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async stop() {
      if (!failed) worker.postMessage("stop");
      const t = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(t);
    },
  };
}
