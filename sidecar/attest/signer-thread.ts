// Ed25519 signing on a second thread. A signature costs ~70-80 µs of CPU on this class of machine, a fifth of a
// decision; the event loop that serves HTTP, evaluates policy and commits to SQLite should not pay it. Signatures
// requested in one turn of the event loop go to the worker as one message; the worker returns them in one message.
// The token is byte-for-byte what signClaims() gives (same header, same payload text; Ed25519 is deterministic).
// If the worker fails, stops answering, or is closed, signing falls back to the calling thread: a decision that
// was recorded APPROVED is never left without its attestation, and no signature comes from anything but our key.
import { Worker } from "node:worker_threads";
import type { AttestationClaims } from "../../protocol/index.ts";
import { signClaims, signInput, signingInput } from "./sign.ts";
import type { SigningKey } from "./keys.ts";

const source = `
const { parentPort } = require("node:worker_threads");
const { sign } = require("node:crypto");
const keys = new Map();
parentPort.on("message", (m) => {
  if (m.keys) for (const [kid, key] of m.keys) keys.set(kid, key);
  const sigs = [];
  for (const [kid, input] of m.jobs) {
    const key = keys.get(kid);
    sigs.push(key ? sign(null, Buffer.from(input), key).toString("base64url") : null);
  }
  parentPort.postMessage({ batch: m.batch, sigs });
});
`;

/** How long a batch may wait for the worker before the calling thread signs it itself (and stops using the worker). */
const WORKER_TIMEOUT_MS = 2000;

interface Job {
  key: SigningKey;
  input: string;
  resolve: (token: string) => void;
}

export interface Signer {
  /** The compact JWS of `claims` under `key`; never rejects (falls back to signing on this thread). */
  sign(key: SigningKey, claims: AttestationClaims): Promise<string>;
  close(): Promise<void>;
}

/** Signs on the calling thread; for tests and tools that need no second thread. */
export const inlineSigner: Signer = {
  sign: (key, claims) => Promise.resolve(signClaims(key, claims)),
  close: () => Promise.resolve(),
};

function signHere(job: Job): void {
  job.resolve(signInput(job.key, job.input));
}

export function startSignerThread(): Signer {
  let worker: Worker | undefined = new Worker(source, { eval: true });
  worker.unref(); // an idle signer never keeps the process alive
  const sentKids = new Set<string>();
  const inflight = new Map<number, { jobs: Job[]; timer: NodeJS.Timeout }>();
  let queue: Job[] = [];
  let nextBatch = 1;

  /** Stops using the worker and signs everything it still owed on this thread. */
  const abandon = () => {
    const w = worker;
    worker = undefined;
    for (const { jobs, timer } of inflight.values()) {
      clearTimeout(timer);
      jobs.forEach(signHere);
    }
    inflight.clear();
    if (w) void w.terminate();
  };
  worker.on("error", abandon);
  worker.on("exit", () => {
    if (worker) abandon();
  });
  worker.on("message", (m: { batch: number; sigs: (string | null)[] }) => {
    const entry = inflight.get(m.batch);
    if (!entry) return;
    inflight.delete(m.batch);
    clearTimeout(entry.timer);
    if (inflight.size === 0) worker?.unref();
    entry.jobs.forEach((job, i) => {
      const sig = m.sigs[i];
      if (typeof sig === "string") job.resolve(job.input + "." + sig);
      else signHere(job);
    });
  });

  const flush = () => {
    const jobs = queue;
    queue = [];
    if (!worker) return jobs.forEach(signHere);
    const keys: [string, unknown][] = [];
    for (const j of jobs) {
      if (sentKids.has(j.key.kid)) continue;
      sentKids.add(j.key.kid);
      keys.push([j.key.kid, j.key.privateKey]); // a KeyObject is cloned to the worker, never exported as bytes
    }
    const batch = nextBatch++;
    const timer = setTimeout(abandon, WORKER_TIMEOUT_MS);
    inflight.set(batch, { jobs, timer });
    worker.ref(); // keep the process alive while signatures are owed
    worker.postMessage({ batch, keys: keys.length ? keys : undefined, jobs: jobs.map((j) => [j.key.kid, j.input]) });
  };

  return {
    sign(key, claims) {
      return new Promise((resolve) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({ key, input: signingInput(key, claims), resolve });
      });
    },
    async close() {
      flush();
      const w = worker;
      if (!w) return;
      // let owed batches finish (they resolve through the message handler), then stop the thread
      const deadline = Date.now() + WORKER_TIMEOUT_MS;
      while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      abandon();
    },
  };
}
