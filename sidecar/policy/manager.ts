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
import { statSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { loadPolicy, type LoadedPolicy } from "./load.ts";
import { PolicyError } from "./errors.ts";
import { policyDigest, sameFiles, snapshotFiles, type FileState } from "./files.ts";
import {
  applyOverlay,
  DataOverlayError,
  pathKey,
  readOverlayFile,
  validateJson,
  valueDigest,
  withEntry,
  writeOverlayFile,
  type DataOverlayEntry,
} from "./data-overlay.ts";
import type { BundleInfo } from "./bundle.ts";

/** Files added, removed or modified between the previous policy and the new one (absolute paths). */
export interface FileChanges {
  added: string[];
  removed: string[];
  modified: string[];
}

export type ReloadResult =
  | { ok: true; digest: string; changed: boolean; previous_digest?: string; changes?: FileChanges }
  | { ok: false; error: PolicyError };

/** One file of the active policy, for `policy list` / GET /v1/policy. */
export interface PolicyFileInfo {
  path: string;
  kind: "policy" | "module" | "data" | "other";
  digest: string;
  /** when this content was first loaded by this process (or the file's mtime for the first load) */
  changed_at: string;
}

export interface PolicyStatus {
  file: string;
  digest: string;
  /** digest of the files alone (without external data) */
  files_digest: string;
  loaded_at: string;
  files: PolicyFileInfo[];
  data: { path: string; digest: string; updated_at: string; updated_by: string }[];
  last_error: { message: string; at: string } | null;
  /** the network block's OPA bundle (network.bundle): path, manifest revision and roots, whether it was signed */
  bundle: BundleInfo | null;
  /** changes on disk not yet active: files whose content differs from the loaded one, and whether a settle is running */
  pending: { settling: boolean; files: { path: string; state: "modified" | "missing" | "added" }[] };
}

export type DataUpdateResult =
  | { ok: true; path: string; digest_before: string; digest_after: string; value_digest: string }
  | { ok: false; error: DataOverlayError | PolicyError };

function fileKind(policyFile: string, f: string): PolicyFileInfo["kind"] {
  if (f === policyFile) return "policy";
  if (f.endsWith(".rego")) return "module";
  if (/\.(json|ya?ml)$/.test(f)) return "data";
  return "other";
}

function sha(st: FileState | undefined): string | undefined {
  if (!st || st.key === "missing") return undefined;
  return "sha256:" + st.key.slice(st.key.lastIndexOf(":") + 1);
}

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
  /** Where external data (`PUT /v1/policy/data/...`) is persisted (`<data-dir>/policy-data.json`); without it,
   * data updates live until the process ends. */
  dataFile?: string;
}

export class PolicyManager extends EventEmitter<PolicyManagerEvents> {
  readonly file: string;
  private active: LoadedPolicy | undefined;
  /** the policy as loaded from its files, before external data */
  private base: LoadedPolicy | undefined;
  private overlay: DataOverlayEntry[] = [];
  private error: PolicyError | undefined;
  private errorAt: Date | undefined;
  /** content digest and first-seen time per file of the active policy */
  private fileInfo = new Map<string, { digest: string; changedAt: string }>();
  private watchers = new Map<string, FSWatcher>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Bumped by every file event; a settle round that saw it change starts over. */
  private generation = 0;
  private settling = false;
  private wake: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly opts: { watch: boolean; settleMs: number; load: (file: string) => Promise<LoadedPolicy>; dataFile?: string };
  /** The digest of what was loaded can be recomputed from the files (true for loadPolicy, not for injected loaders). */
  private readonly checkDigest: boolean;

  constructor(file: string, opts: PolicyManagerOptions = {}) {
    super();
    this.file = path.resolve(file);
    this.opts = {
      watch: opts.watch ?? true,
      settleMs: opts.settleMs ?? opts.debounceMs ?? 400,
      load: opts.load ?? loadPolicy,
      dataFile: opts.dataFile,
    };
    this.checkDigest = opts.load === undefined;
  }

  /** Loads the policy (throws PolicyError if the first load fails) and starts watching. */
  async start(): Promise<LoadedPolicy> {
    this.stopped = false;
    const base = await this.opts.load(this.file);
    if (this.opts.dataFile) {
      try {
        this.overlay = readOverlayFile(this.opts.dataFile);
      } catch (e) {
        throw new PolicyError("policy_invalid", [{ file: this.opts.dataFile, line: 0, column: 0, path: "", message: (e as Error).message }]);
      }
    }
    const p = await this.withData(base);
    this.base = base;
    this.active = p;
    this.error = undefined;
    await this.noteFiles(base, undefined);
    if (this.opts.watch) this.rewatch(p);
    return p;
  }

  /** The loaded policy with the external data applied (a PolicyError naming the data file when it cannot apply). */
  private async withData(base: LoadedPolicy, entries = this.overlay): Promise<LoadedPolicy> {
    try {
      return await applyOverlay(base, entries);
    } catch (e) {
      const where = this.opts.dataFile ?? "external data";
      throw new PolicyError("policy_invalid", [
        { file: where, line: 0, column: 0, path: "", message: `the external data (${entries.map((x) => pathKey(x.path)).join(", ")}) cannot be applied: ${(e as Error).message}` },
      ]);
    }
  }

  /** Records each file's content digest; returns what changed since the previous record. */
  private async noteFiles(p: LoadedPolicy, snap: Snapshot | undefined): Promise<FileChanges> {
    const files = [...new Set([this.file, ...p.files])];
    const s = snap ?? (await snapshotFiles(files));
    const prev = this.fileInfo;
    const first = prev.size === 0;
    const next = new Map<string, { digest: string; changedAt: string }>();
    const changes: FileChanges = { added: [], removed: [], modified: [] };
    const now = new Date().toISOString();
    for (const f of files) {
      const d = sha(s.get(f)) ?? "missing";
      const old = prev.get(f);
      if (old && old.digest === d) next.set(f, old);
      else {
        let at = now;
        if (first) {
          try {
            at = statSync(f).mtime.toISOString();
          } catch {
            // keep now
          }
        }
        next.set(f, { digest: d, changedAt: at });
        if (!first) (old ? changes.modified : changes.added).push(f);
      }
    }
    if (!first) for (const f of prev.keys()) if (!next.has(f)) changes.removed.push(f);
    this.fileInfo = next;
    return changes;
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
      const applied = await this.withData(p);
      const previous = this.active;
      this.base = p;
      this.active = applied;
      const changes = await this.noteFiles(p, after);
      if (this.opts.watch && !this.stopped) this.rewatch(applied);
      const changed = previous?.digest !== applied.digest;
      const hadError = this.error !== undefined;
      this.error = undefined;
      this.errorAt = undefined;
      if (!fromWatcher || changed || hadError) this.emit("reloaded", applied, previous);
      return { ok: true, digest: applied.digest, changed, ...(previous ? { previous_digest: previous.digest } : {}), changes };
    } catch (e) {
      const error =
        e instanceof PolicyError
          ? e
          : new PolicyError("policy_io", [
              { file: this.file, line: 0, column: 0, path: "", message: (e as Error).message },
            ]);
      this.error = error;
      this.errorAt = new Date();
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

  /**
   * Replaces the subtree `path` of the network rules' `data` (external data): validated, applied to the loaded policy
   * (a new network block and digest, active at once), then persisted. Serialized with reloads. Never throws.
   */
  updateData(path: string[], value: unknown, by: string): Promise<DataUpdateResult> {
    const run = this.chain.then(async (): Promise<DataUpdateResult> => {
      try {
        if (!this.base || !this.active) throw new DataOverlayError("no_network_block", "no policy is loaded");
        validateJson(value);
        if (path.length === 0 && (value === null || typeof value !== "object" || Array.isArray(value)))
          throw new DataOverlayError("invalid_data", "data at the root must be an object");
        const entry: DataOverlayEntry = { path, value, digest: valueDigest(value), updated_at: new Date().toISOString(), updated_by: by };
        const entries = withEntry(this.overlay, entry);
        let next: LoadedPolicy;
        try {
          next = await applyOverlay(this.base, entries);
        } catch (e) {
          if (e instanceof DataOverlayError) throw e;
          throw new DataOverlayError("invalid_data", (e as Error).message);
        }
        if (this.opts.dataFile) writeOverlayFile(this.opts.dataFile, entries);
        const previous = this.active;
        this.overlay = entries;
        this.active = next;
        this.emit("reloaded", next, previous);
        return { ok: true, path: pathKey(path), digest_before: previous.digest, digest_after: next.digest, value_digest: entry.digest };
      } catch (e) {
        if (e instanceof DataOverlayError || e instanceof PolicyError) return { ok: false, error: e };
        return { ok: false, error: new DataOverlayError("invalid_data", (e as Error).message) };
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The active policy, its files and external data, the last reload error and what is pending a settle. */
  async status(): Promise<PolicyStatus | undefined> {
    const p = this.active;
    if (!p || !this.base) return undefined;
    const files = [...this.fileInfo.keys()];
    const now = await snapshotFiles(files);
    const pending: PolicyStatus["pending"]["files"] = [];
    for (const [f, info] of this.fileInfo) {
      const d = sha(now.get(f));
      if (d === undefined) pending.push({ path: f, state: "missing" });
      else if (d !== info.digest) pending.push({ path: f, state: "modified" });
    }
    return {
      file: this.file,
      digest: p.digest,
      files_digest: this.base.digest,
      loaded_at: p.loadedAt.toISOString(),
      files: files.map((f) => ({ path: f, kind: fileKind(this.file, f), digest: this.fileInfo.get(f)!.digest, changed_at: this.fileInfo.get(f)!.changedAt })),
      data: this.overlay.map((e) => ({ path: pathKey(e.path), digest: e.digest, updated_at: e.updated_at, updated_by: e.updated_by })),
      bundle: (p.config.network as { bundle?: BundleInfo } | undefined)?.bundle ?? null,
      last_error: this.error ? { message: this.error.message, at: (this.errorAt ?? new Date()).toISOString() } : null,
      pending: { settling: this.settling, files: pending },
    };
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
