// Adapts the policy engineer's PolicyManager / evaluateBlocks / combineVerdicts (sidecar/policy/) to the pipeline's
// PolicyProvider, plus reload notifications for audit, metrics and /healthz.
import type { Intent, Reason } from "../protocol/index.ts";
import type { Logger } from "./log.ts";
import type { PolicyProvider } from "./pipeline.ts";
import type { PolicyRef } from "./pipeline-hooks.ts";
import type { BlockVerdict, EvalEnv, Effect } from "./policy/verdict.ts";

export interface ActivePolicy extends PolicyRef {
  digest: string;
  config?: unknown;
  loadedAt?: number | Date | string;
}

export interface ReloadResult {
  ok: boolean;
  digest?: string;
  error?: string;
}

export interface PolicyHandle {
  provider: PolicyProvider<ActivePolicy>;
  lastError(): string | null;
  reload(): Promise<ReloadResult>;
  onReload(cb: (r: ReloadResult) => void): void;
  close(): Promise<void>;
  /** The underlying PolicyManager (for the operator API's reload route). */
  manager?: unknown;
}

/** deny > hold > allow; nothing allowed → deny (default deny). Used only when sidecar/policy has no combineVerdicts. */
export function combineDefault(verdicts: BlockVerdict[]): { effect: Effect; reasons: Reason[] } {
  const of = (e: Effect) => verdicts.filter((v) => v.effect === e).flatMap((v) => v.reasons);
  if (verdicts.some((v) => v.effect === "deny")) return { effect: "deny", reasons: of("deny") };
  if (verdicts.some((v) => v.effect === "hold")) return { effect: "hold", reasons: of("hold") };
  if (verdicts.some((v) => v.effect === "allow")) return { effect: "allow", reasons: [] };
  return { effect: "deny", reasons: [{ block: "actions", rule: "default_deny", message: "no policy block allows this action" }] };
}

function errorText(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/** Interim policy side used only while sidecar/policy/manager.ts does not exist yet: reads the file, honours the
 * `actions` allow/deny globs, denies everything else. Never used once the policy engine is present. */
async function interimPolicy(file: string, log: Logger): Promise<PolicyHandle> {
  const { readFileSync } = await import("node:fs");
  const { parse } = await import("yaml");
  const { sha256Digest } = await import("../protocol/index.ts");
  const text = readFileSync(file, "utf8");
  const raw = (parse(text) ?? {}) as { actions?: { allow?: string[]; deny?: string[] } };
  const re = (g: string) => new RegExp("^" + g.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^]*") + "$");
  const allow = (raw.actions?.allow ?? []).map(re);
  const deny = (raw.actions?.deny ?? []).map(re);
  const current: ActivePolicy = { digest: sha256Digest(text), config: raw, loadedAt: Date.now() };
  log.warn("policy engine not available: using the interim actions-only evaluator");
  return {
    provider: {
      current: () => current,
      async evaluate(_p, intent) {
        if (deny.some((r) => r.test(intent.action))) {
          return [{ block: "actions", effect: "deny", reasons: [{ block: "actions", rule: "deny", message: `action ${intent.action} is denied` }] }];
        }
        if (allow.some((r) => r.test(intent.action))) return [{ block: "actions", effect: "allow", reasons: [] }];
        return [];
      },
      combine: combineDefault,
    },
    lastError: () => null,
    reload: async () => ({ ok: true, digest: current.digest }),
    onReload: () => {},
    close: async () => {},
  };
}

export async function openPolicy(file: string, log: Logger): Promise<PolicyHandle> {
  const managerPath = "./policy/manager.ts";
  let managerMod: any;
  try {
    managerMod = await import(managerPath);
  } catch (e) {
    if ((e as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw e;
    return interimPolicy(file, log);
  }
  const evalPath = "./policy/evaluate.ts";
  const evalMod: any = await import(evalPath).catch(() => managerMod);
  const evaluateBlocks: (p: any, i: Intent, env: EvalEnv) => Promise<BlockVerdict[]> = evalMod.evaluateBlocks ?? managerMod.evaluateBlocks;
  const combine: (v: BlockVerdict[]) => { effect: Effect; reasons: Reason[] } = evalMod.combineVerdicts ?? managerMod.combineVerdicts ?? combineDefault;
  const manager = new managerMod.PolicyManager(file, { log });
  await manager.start();
  const listeners: ((r: ReloadResult) => void)[] = [];
  const emit = (r: ReloadResult) => listeners.forEach((l) => l(r));
  if (typeof manager.on === "function") {
    manager.on("reloaded", (p: any) => emit({ ok: true, digest: p?.digest ?? manager.current()?.digest }));
    manager.on("reload_failed", (e: any) => emit({ ok: false, error: errorText(e) }));
  }
  return {
    manager,
    provider: {
      current: () => manager.current(),
      evaluate: (p, intent, env) => evaluateBlocks(p, intent, env),
      combine,
    },
    lastError: () => (manager.lastError ? errorText(manager.lastError) : null),
    async reload() {
      const r = await manager.reload();
      return r.ok ? { ok: true, digest: r.digest } : { ok: false, error: errorText(r.error) };
    },
    onReload: (cb) => void listeners.push(cb),
    close: async () => {
      await manager.close?.();
      await manager.stop?.();
    },
  };
}
