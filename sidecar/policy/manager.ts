// PolicyManager: holds the active policy, reloads on file change (fs.watch on the directories, so editors that save
// by rename are seen) and on request (operator API, SIGHUP). A broken edit keeps the last valid policy serving and
// records the error; `reloaded` / `reload_failed` events let the daemon log, audit and show it in /healthz.
import { EventEmitter } from "node:events";
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { loadPolicy, type LoadedPolicy } from "./load.ts";
import { PolicyError } from "./errors.ts";

export type ReloadResult = { ok: true; digest: string; changed: boolean } | { ok: false; error: PolicyError };

export interface PolicyManagerEvents {
  reloaded: [policy: LoadedPolicy, previous: LoadedPolicy | undefined];
  reload_failed: [error: PolicyError];
}

export interface PolicyManagerOptions {
  /** Watch the files for changes (default true). */
  watch?: boolean;
  /** Debounce for file events, ms (default 150). */
  debounceMs?: number;
  /** Injected for tests. */
  load?: (file: string) => Promise<LoadedPolicy>;
}

export class PolicyManager extends EventEmitter<PolicyManagerEvents> {
  readonly file: string;
  private active: LoadedPolicy | undefined;
  private error: PolicyError | undefined;
  private watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly opts: Required<Omit<PolicyManagerOptions, "load">> & {
    load: (file: string) => Promise<LoadedPolicy>;
  };

  constructor(file: string, opts: PolicyManagerOptions = {}) {
    super();
    this.file = path.resolve(file);
    this.opts = { watch: opts.watch ?? true, debounceMs: opts.debounceMs ?? 150, load: opts.load ?? loadPolicy };
  }

  /** Loads the policy (throws PolicyError if the first load fails) and starts watching. */
  async start(): Promise<LoadedPolicy> {
    this.stopped = false;
    const p = await this.opts.load(this.file);
    this.active = p;
    this.error = undefined;
    if (this.opts.watch) this.rewatch(p);
    return p;
  }

  /** The active policy, or undefined before a successful start. */
  current(): LoadedPolicy | undefined {
    return this.active;
  }

  /** The error of the last failed reload, cleared by the next successful one. */
  get lastError(): PolicyError | undefined {
    return this.error;
  }

  /** Reloads now. Serialized: concurrent calls run one after another. Never throws. */
  reload(): Promise<ReloadResult> {
    return this.enqueue(false);
  }

  private enqueue(fromWatcher: boolean): Promise<ReloadResult> {
    const run = this.chain.then(() => this.doReload(fromWatcher));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** A watcher-triggered reload that finds nothing changed (an editor touching the file, a swap file) stays quiet:
   * no `reloaded` event, so the audit log is not filled with no-op reloads. Operator reloads always report. */
  private async doReload(fromWatcher: boolean): Promise<ReloadResult> {
    try {
      const p = await this.opts.load(this.file);
      const previous = this.active;
      this.active = p;
      if (this.opts.watch && !this.stopped) this.rewatch(p);
      const changed = previous?.digest !== p.digest;
      const hadError = this.error !== undefined;
      this.error = undefined;
      if (!fromWatcher || changed || hadError) this.emit("reloaded", p, previous);
      return { ok: true, digest: p.digest, changed };
    } catch (e) {
      const error =
        e instanceof PolicyError
          ? e
          : new PolicyError("policy_io", [
              { file: this.file, line: 0, column: 0, path: "", message: (e as Error).message },
            ]);
      this.error = error;
      this.emit("reload_failed", error);
      return { ok: false, error };
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Watches the directories of the policy file and of every file it references (a rename-on-save replaces the
   * file's inode, so watching the file itself would go deaf after the first save). */
  private rewatch(p: LoadedPolicy): void {
    const names = new Map<string, Set<string>>();
    for (const f of [this.file, ...p.files]) {
      const dir = path.dirname(f);
      if (!names.has(dir)) names.set(dir, new Set());
      names.get(dir)!.add(path.basename(f));
    }
    // Module globs may gain files: also react to any .rego change in directories we already watch.
    for (const [dir, w] of this.watchers) {
      if (names.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    this.watched = names;
    for (const dir of names.keys()) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          const wanted = this.watched.get(dir);
          // Also new .rego files (module globs) and `..data`-style swaps of Kubernetes ConfigMap volumes, where the
          // policy file is a symlink whose target directory is replaced atomically.
          const name = filename ? String(filename) : "";
          if (!name || wanted?.has(name) || name.endsWith(".rego") || name.startsWith("..")) this.schedule();
        });
        w.on("error", () => undefined);
        this.watchers.set(dir, w);
      } catch {
        // A directory that vanished: the next reload reports the missing file.
      }
    }
  }

  private watched = new Map<string, Set<string>>();

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.enqueue(true);
    }, this.opts.debounceMs);
  }
}
