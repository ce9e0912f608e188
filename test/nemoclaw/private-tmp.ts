// NemoClaw refuses sockets, CA files and declarations below folders that group or others can write (or symlinks),
// all the way up from /. /tmp (mode 1777) cannot hold them, nor can a checkout below it or below a symlinked
// node_modules. Tests use a private folder outside the checkout: the OS temp dir when its whole chain is private
// (macOS's per-user $TMPDIR), else $XDG_RUNTIME_DIR, else ~/.cache; suites skip with one line when none is.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const uid = typeof process.getuid === "function" ? process.getuid() : -1;

/** Every existing folder from / down to `dir` is owned by us or root, not a symlink, not group/other-writable. */
function privateChain(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(d);
    } catch {
      if (path.dirname(d) === d) return false;
      continue; // created below, 0700
    }
    if (st.isSymbolicLink() || !st.isDirectory() || (st.mode & 0o022) !== 0) return false;
    if (st.uid !== uid && st.uid !== 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

function findRoot(): string | undefined {
  const candidates = [
    path.join(os.tmpdir(), `intent-sidecar-tests-${uid}`),
    ...(process.env.XDG_RUNTIME_DIR ? [path.join(process.env.XDG_RUNTIME_DIR, "intent-sidecar-tests")] : []),
    path.join(os.homedir(), ".cache", "intent-sidecar-tests"),
  ];
  for (const c of candidates) {
    // the candidate itself must be ours and private; only its parents are checked before it exists
    if (!privateChain(path.dirname(c))) continue;
    try {
      fs.mkdirSync(c, { recursive: true, mode: 0o700 });
      fs.chmodSync(c, 0o700);
      if (privateChain(c)) return c;
    } catch {
      /* try the next one */
    }
  }
  return undefined;
}

const root = findRoot();

/** Whether a private folder was found; suites use `describe.skipIf(!privateTmpAvailable)`. */
export const privateTmpAvailable = root !== undefined;
if (!root) {
  console.warn(
    "skipped: NemoClaw socket/CA tests (no private temp folder: the OS temp dir, $XDG_RUNTIME_DIR and ~/.cache " +
      "are all below a folder that group or others can write)",
  );
}

export function privateTmp(prefix: string): string {
  if (!root) throw new Error("no private temp folder (see privateTmpAvailable)");
  return fs.mkdtempSync(path.join(root, prefix));
}
