// PolicyManager: holds the active policy, reloads on file change (fs.watch on the directories, so editors that save
// by rename are seen) and on request (operator API, SIGHUP). A broken edit keeps the last valid policy serving and
// records the error; `reloaded` / `reload_failed` events let the daemon log, audit and show it in /healthz.
//
// Safe reload: a file being written in place passes through valid prefixes (a policy cut before its `custom` rules
// is valid YAML and a weaker policy). A change seen by the watcher is loaded only once the policy file and every
// file it references are unchanged (size, mtime and content hash) across the settle interval, and the load is
// checked against a read after it (the digest of what was loaded must equal that of the files as they are now).
// Until then the last valid policy stays active. Operator reloads run at once but refuse a policy whose files
// changed while they were read.
import { EventEmitter } from "node:events";
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { loadPolicy, type LoadedPolicy } from "./load.ts";
import { PolicyError } from "./errors.ts";
import { policyDigest, sameFiles, snapshotFiles, type FileState } from "./files.ts";

export type ReloadResult = { ok: true; digest: string; changed: boolean } | { ok: false; error: PolicyError };

type Snapshot = Map<string, FileState>;
/** A watcher load that found the files still changing: not an error, settling goes on. */
const UNSTABLE = Symbol("unstable");

export interface PolicyManagerEvents {
  reloaded: [policy: LoadedPolicy, previous: LoadedPolicy | undefined];
  reload_failed: [error: PolicyError];
}

export interface PolicyManagerOptions {
  /** Watch the files for changes (default true). */
  watch?: boolean;
  /** Settle interval, ms (default 400): a changed file is loaded only after it stayed the same (size, mtime, content
   * hash) for this long. */
  settleMs?: number;
  /** Former name of `settleMs` (used when `settleMs` is not given). */
  debounceMs?: number;
  /** Injected for tests. */
  load?: (file: string) => Promise<LoadedPolicy>;
}

export class PolicyManager extends EventEmitter<PolicyManagerEvents> {
  readonly file: string;
  private active: LoadedPolicy | undefined;
  private error: PolicyError | undefined;
  private watchers = new Map<string, FSWatcher>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Bumped by every file event; a settle round that saw it change starts over. */
  private generation = 0;
  private settling = false;
  private wake: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly opts: { watch: boolean; settleMs: number; load: (file: string) => Promise<LoadedPolicy> };
  /** The digest of what was loaded can be recomputed from the files (true for loadPolicy, not for injected loaders). */
  private readonly checkDigest: boolean;

  constructor(file: string, opts: PolicyManagerOptions = {}) {
    super();
    this.file = path.resolve(file);
    this.opts = {
      watch: opts.watch ?? true,
      settleMs: opts.settleMs ?? opts.debounceMs ?? 400,
      load: opts.load ?? loadPolicy,
    };
    this.checkDigest = opts.load === undefined;
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

  /** Reloads now (an operator's explicit action: no settle interval), refusing a policy whose files changed while
   * they were read. Serialized: concurrent calls run one after another. Never throws. */
  reload(): Promise<ReloadResult> {
    return this.enqueue(false).then((r) => r as ReloadResult);
  }

  private enqueue(fromWatcher: boolean, settled?: Snapshot): Promise<ReloadResult | typeof UNSTABLE> {
    const run = this.chain.then(() => this.doReload(fromWatcher, settled));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The files the active policy is made of (the policy file and everything it read). */
  private knownFiles(): string[] {
    return [this.file, ...(this.active?.files ?? [])];
  }

  /**
   * Loads once and checks the load against the files: `before` (the settled snapshot, or a read taken now) and a
   * read after the load must agree, and the loaded digest must be that of the files as read after. Otherwise the
   * files changed while being read: a watcher reload goes back to settling (UNSTABLE), an operator reload fails.
   * A watcher-triggered reload that finds nothing changed (an editor touching the file, a swap file) stays quiet:
   * no `reloaded` event, so the audit log is not filled with no-op reloads. Operator reloads always report.
   */
  private async doReload(fromWatcher: boolean, settled?: Snapshot): Promise<ReloadResult | typeof UNSTABLE> {
    try {
      const before = settled ?? (await snapshotFiles(this.knownFiles()));
      const p = await this.opts.load(this.file);
      const after = await snapshotFiles([...before.keys(), ...p.files]);
      if (!sameFiles(before, after) || !this.digestMatches(p, after)) {
        if (fromWatcher) return UNSTABLE;
        throw new PolicyError("policy_io", [
          {
            file: this.file,
            line: 0,
            column: 0,
            path: "",
            message:
              "the policy (or a file it references) changed while it was being read; the last valid policy stays " +
              "active. Retry once the write is complete, and write policy files atomically (a temporary file in the " +
              "same directory, then rename)",
          },
        ]);
      }
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

  /** The loaded policy's digest recomputed from the bytes read after the load (loadPolicy's digest: the policy file
   * and every file it referenced). Equal means what was loaded is exactly what is on disk now. */
  private digestMatches(p: LoadedPolicy, after: Snapshot): boolean {
    if (!this.checkDigest) return true;
    const main = after.get(p.file)?.bytes;
    if (!main) return false;
    const referenced = [];
    for (const f of p.files.slice(1)) {
      const bytes = after.get(f)?.bytes;
      if (!bytes) return false;
      referenced.push({ path: f, bytes });
    }
    return policyDigest(p.file, main, referenced) === p.digest;
  }

  /** Waits `ms` (cut short by stop()). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = { timer, resolve };
    });
  }

  /**
   * After a file event: read the files, wait the settle interval, read them again. Only when no event came and the
   * two reads agree (size, mtime, content hash) is the policy loaded, and the load is checked against the files
   * once more (doReload). Anything else starts another round; meanwhile the last valid policy stays active.
   */
  private async settleLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const gen = this.generation;
        const files = this.knownFiles();
        const first = await snapshotFiles(files);
        await this.sleep(this.opts.settleMs);
        if (this.stopped) return;
        const second = await snapshotFiles(files);
        if (gen !== this.generation || !sameFiles(first, second)) continue;
        const r = await this.enqueue(true, second);
        if (r === UNSTABLE || gen !== this.generation) continue;
        return;
      }
    } finally {
      // synchronously on the way out: an event after the last check starts a new loop instead of being lost
      this.settling = false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.wake) {
      clearTimeout(this.wake.timer);
      this.wake.resolve();
      this.wake = undefined;
    }
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

  /** A file event: (re)start settling. Events during a round make that round start over. */
  private schedule(): void {
    if (this.stopped) return;
    this.generation++;
    if (this.settling) return;
    this.settling = true;
    void this.settleLoop();
  }
}
