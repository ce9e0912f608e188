// Files a policy references: glob expansion relative to the policy file (`network/*.rego`, `abis/**/*.json`),
// reading with positioned errors, and the policy digest over the policy file and everything it references.
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";

export interface ReadFileRecord {
  /** Absolute path. */
  path: string;
  bytes: Buffer;
}

function segmentRegExp(seg: string): RegExp {
  let src = "";
  for (const ch of seg) src += ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  return new RegExp(`^${src}$`);
}

/** Absolute paths of the files a glob matches (sorted), relative to `baseDir`. `**` spans directories. */
export async function expandGlob(baseDir: string, pattern: string): Promise<string[]> {
  const abs = path.resolve(baseDir, pattern);
  if (!/[*?]/.test(pattern)) {
    try {
      return (await stat(abs)).isFile() ? [abs] : [];
    } catch {
      return [];
    }
  }
  const parts = abs.split(path.sep);
  const firstGlob = parts.findIndex((p) => /[*?]/.test(p));
  const root = parts.slice(0, firstGlob).join(path.sep) || path.sep;
  const rest = parts.slice(firstGlob);
  const out: string[] = [];
  async function walk(dir: string, segs: string[]): Promise<void> {
    if (segs.length === 0) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const [seg, ...more] = segs as [string, ...string[]];
    if (seg === "**") {
      await walk(dir, more);
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith(".")) await walk(path.join(dir, e.name), segs);
      return;
    }
    const re = segmentRegExp(seg);
    for (const e of entries) {
      if (!re.test(e.name)) continue;
      const p = path.join(dir, e.name);
      if (more.length === 0 && e.isFile()) out.push(p);
      else if (more.length > 0 && e.isDirectory()) await walk(p, more);
    }
  }
  await walk(root, rest);
  return [...new Set(out)].sort();
}

export async function readTracked(file: string, seen: ReadFileRecord[]): Promise<Buffer> {
  const bytes = await readFile(file);
  if (!seen.some((f) => f.path === file)) seen.push({ path: file, bytes });
  return bytes;
}

/** sha256 of the policy file alone when it references nothing (equals `sha256sum policy.yaml`); otherwise of every
 * file's path (relative to the policy's directory) and bytes, so a change to any referenced file changes it. */
export function policyDigest(policyFile: string, policyBytes: Buffer, referenced: ReadFileRecord[]): string {
  const h = createHash("sha256");
  if (referenced.length === 0) return `sha256:${h.update(policyBytes).digest("hex")}`;
  const dir = path.dirname(policyFile);
  const frame = (name: string, bytes: Buffer) => {
    h.update(`${name}\0${bytes.length}\0`);
    h.update(bytes);
  };
  frame(path.basename(policyFile), policyBytes);
  for (const f of [...referenced].sort((a, b) => a.path.localeCompare(b.path)))
    frame(path.relative(dir, f.path), f.bytes);
  return `sha256:${h.digest("hex")}`;
}

/** What a file looked like at one read: size, mtime and content hash ("missing" when it could not be read). */
export interface FileState {
  path: string;
  /** `size:mtimeMs:sha256` or `missing`; two reads of an unchanged file give the same key. */
  key: string;
  bytes?: Buffer;
}

let changingReads = 0;

/** Reads each file once (stat, content, stat again). A file whose stat changed during the read gets a key of its
 * own ("changing:…") that never equals another read's, so a write in progress is never taken as stable. */
export async function snapshotFiles(files: Iterable<string>): Promise<Map<string, FileState>> {
  const out = new Map<string, FileState>();
  await Promise.all(
    [...new Set(files)].map(async (file) => {
      try {
        const before = await stat(file);
        const bytes = await readFile(file);
        const after = await stat(file);
        const hash = createHash("sha256").update(bytes).digest("hex");
        const stable = before.size === after.size && before.mtimeMs === after.mtimeMs && after.size === bytes.length;
        const key = `${after.size}:${after.mtimeMs}:${hash}`;
        out.set(file, { path: file, key: stable ? key : `changing:${++changingReads}:${key}`, bytes });
      } catch {
        out.set(file, { path: file, key: "missing" });
      }
    }),
  );
  return out;
}

/** True when every file present in both snapshots has the same key (size, mtime and content hash). */
export function sameFiles(a: Map<string, FileState>, b: Map<string, FileState>): boolean {
  for (const [file, s] of a) {
    const t = b.get(file);
    if (t && t.key !== s.key) return false;
  }
  return true;
}
