// Adapts the policy engineer's PolicyManager / evaluateBlocks / combineVerdicts (sidecar/policy/) to the pipeline's
// PolicyProvider, plus reload notifications for audit, metrics and /healthz.
import type { Logger } from "./log.ts";
import type { PolicyProvider } from "./pipeline.ts";
import type { PolicyRef } from "./pipeline-hooks.ts";
import { join } from "node:path";
import { PolicyManager, type FileChanges } from "./policy/manager.ts";
import { DATA_OVERLAY_FILE } from "./policy/data-overlay.ts";
import { evaluateBlocks, combineVerdicts } from "./policy/evaluate.ts";
import type { LoadedPolicy } from "./policy/load.ts";

export interface ActivePolicy extends PolicyRef {
  digest: string;
  config?: unknown;
  loadedAt?: number | Date | string;
}

export interface ReloadResult {
  ok: boolean;
  digest?: string;
  error?: string;
  /** operator reloads: whether the digest changed, the digest before, and the files added/removed/modified */
  changed?: boolean;
  previous_digest?: string;
  changes?: FileChanges;
}

export interface PolicyHandle {
  provider: PolicyProvider<ActivePolicy>;
  lastError(): string | null;
  reload(): Promise<ReloadResult>;
  onReload(cb: (r: ReloadResult) => void): void;
  close(): Promise<void>;
  /** The underlying PolicyManager (for the operator API's policy routes). */
  manager?: PolicyManager;
}

function errorText(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

export async function openPolicy(file: string, log: Logger, opts: { dataDir?: string; watch?: boolean } = {}): Promise<PolicyHandle> {
  void log;
  // external data (PUT /v1/policy/data/...) persists in the data dir
  const manager = new PolicyManager(file, {
    ...(opts.dataDir ? { dataFile: join(opts.dataDir, DATA_OVERLAY_FILE) } : {}),
    ...(opts.watch === false ? { watch: false } : {}),
  });
  await manager.start(); // throws PolicyError (file:line:col) when the first load fails
  const listeners: ((r: ReloadResult) => void)[] = [];
  const emit = (r: ReloadResult) => listeners.forEach((l) => l(r));
  manager.on("reloaded", (p) => emit({ ok: true, digest: p.digest }));
  manager.on("reload_failed", (e) => emit({ ok: false, error: errorText(e) }));
  return {
    manager,
    provider: {
      current: () => manager.current(),
      evaluate: (p, intent, env) => evaluateBlocks(p as LoadedPolicy, intent, env),
      combine: (v) => combineVerdicts(v),
    },
    lastError: () => (manager.lastError ? errorText(manager.lastError) : null),
    async reload() {
      const r = await manager.reload();
      return r.ok
        ? { ok: true, digest: r.digest, changed: r.changed, ...(r.previous_digest ? { previous_digest: r.previous_digest } : {}), ...(r.changes ? { changes: r.changes } : {}) }
        : { ok: false, error: errorText(r.error) };
    },
    onReload: (cb) => void listeners.push(cb),
    close: async () => manager.stop(),
  };
}
