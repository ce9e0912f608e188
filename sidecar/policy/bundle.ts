// OPA bundles for the network block (`network.bundle: PATH`): a .tar.gz archive or a directory holding `.manifest`
// (revision, roots), data files (`data.json` / `data.yaml` placed at the path of their directory), `.rego` modules
// (`*_test.rego` excluded) and optionally `.signatures.json` (a JWS over the files' SHA-256 hashes), verified
// against `network.bundle_key` (a PEM public key). A bundle with only `policy.wasm` is refused: the Rego sources are
// needed. Every file read is tracked, so the bundle is part of the policy digest and is watched for reloads.
import { createHash, createPublicKey } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { compactVerify } from "jose";
import { parse as parseYaml } from "yaml";
import { canonicalize } from "../../protocol/jcs.ts";
import { readTracked, type ReadFileRecord } from "./files.ts";

export interface BundleInfo {
  path: string;
  revision: string | null;
  roots: string[] | null;
  signed: boolean;
  /** keyid from the signature, when signed */
  keyid?: string;
}

export interface LoadedBundle {
  modules: { path: string; source: string }[];
  data: Record<string, unknown>;
  info: BundleInfo;
}

export class BundleError extends Error {}

interface Entry {
  name: string;
  bytes: Buffer;
}

const MAX_FILES = 10_000;
const MAX_BYTES = 256 * 1024 * 1024;

/** Regular files of a (gzipped) tar archive: ustar, GNU long names and pax `path` records. */
export function untar(archive: Buffer): Entry[] {
  let buf: Buffer;
  try {
    buf = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive, { maxOutputLength: MAX_BYTES }) : archive;
  } catch (e) {
    throw new BundleError(`not a gzip archive: ${(e as Error).message}`);
  }
  const out: Entry[] = [];
  let off = 0;
  let longName: string | undefined;
  const str = (b: Buffer) => {
    const i = b.indexOf(0);
    return (i < 0 ? b : b.subarray(0, i)).toString("utf8");
  };
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(str(h.subarray(124, 136)).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) throw new BundleError("corrupt tar header");
    const type = String.fromCharCode(h[156]!);
    const magic = str(h.subarray(257, 263));
    let name = str(h.subarray(0, 100));
    if (magic.startsWith("ustar")) {
      const prefix = str(h.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    const body = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = str(body);
      continue;
    }
    if (type === "x") {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString("utf8"));
      if (m) longName = m[1];
      continue;
    }
    if (type === "g") continue;
    if (longName !== undefined) {
      name = longName;
      longName = undefined;
    }
    if (type !== "0" && type !== "\0") continue; // directories, links: ignored
    out.push({ name, bytes: Buffer.from(body) });
    if (out.length > MAX_FILES) throw new BundleError(`more than ${MAX_FILES} files`);
  }
  return out;
}

function normalize(name: string): string {
  const n = path.posix.normalize("/" + name.replace(/\\/g, "/")).slice(1);
  if (n.split("/").includes("..")) throw new BundleError(`file name ${name} leaves the bundle`);
  return n;
}

async function readDir(root: string, referenced: ReadFileRecord[]): Promise<Entry[]> {
  const out: Entry[] = [];
  const walk = async (dir: string) => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ name: path.relative(root, p).split(path.sep).join("/"), bytes: await readTracked(p, referenced) });
      if (out.length > MAX_FILES) throw new BundleError(`more than ${MAX_FILES} files`);
    }
  };
  await walk(root);
  return out;
}

function setAt(root: Record<string, unknown>, segs: string[], v: Record<string, unknown>): void {
  let o = root;
  for (const s of segs) {
    const next = o[s];
    if (next === null || typeof next !== "object" || Array.isArray(next)) o[s] = {};
    o = o[s] as Record<string, unknown>;
  }
  for (const [k, x] of Object.entries(v)) {
    const cur = o[k];
    if (cur && typeof cur === "object" && !Array.isArray(cur) && x && typeof x === "object" && !Array.isArray(x)) setAt(o, [k], x as Record<string, unknown>);
    else o[k] = x;
  }
}

/** OPA's file hash: SHA-256 of a JSON file's canonical form (so formatting does not matter), of the bytes otherwise. */
function fileHash(e: Entry): string {
  if (e.name.endsWith(".json")) {
    try {
      return createHash("sha256").update(canonicalize(JSON.parse(e.bytes.toString("utf8")))).digest("hex");
    } catch {
      // not JSON: hash the bytes
    }
  }
  return createHash("sha256").update(e.bytes).digest("hex");
}

async function verify(entries: Entry[], sig: Entry | undefined, keyFile: string | undefined, referenced: ReadFileRecord[]): Promise<string | undefined> {
  if (!sig && !keyFile) return undefined;
  if (!sig) throw new BundleError("the bundle is not signed (no .signatures.json) but network.bundle_key requires a signed bundle");
  if (!keyFile) throw new BundleError("the bundle is signed (.signatures.json) but no network.bundle_key is configured to verify it");
  let key;
  try {
    key = createPublicKey((await readTracked(keyFile, referenced)).toString("utf8"));
  } catch (e) {
    throw new BundleError(`cannot read the bundle key ${keyFile}: ${(e as Error).message}`);
  }
  let jws: string;
  try {
    const list = (JSON.parse(sig.bytes.toString("utf8")) as { signatures?: unknown }).signatures;
    if (!Array.isArray(list) || list.length !== 1 || typeof list[0] !== "string") throw new Error("expected {\"signatures\": [\"<JWS>\"]}");
    jws = list[0];
  } catch (e) {
    throw new BundleError(`.signatures.json: ${(e as Error).message}`);
  }
  let payload: { files?: { name: string; hash: string; algorithm?: string }[]; keyid?: string };
  try {
    const r = await compactVerify(jws, key, { algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] });
    payload = JSON.parse(Buffer.from(r.payload).toString("utf8"));
  } catch (e) {
    throw new BundleError(`the bundle signature does not verify against network.bundle_key: ${(e as Error).message}`);
  }
  const listed = new Map((payload.files ?? []).map((f) => [normalize(f.name), f]));
  for (const e of entries) {
    if (e.name === ".signatures.json") continue;
    const f = listed.get(e.name);
    if (!f) throw new BundleError(`${e.name} is not covered by the bundle signature`);
    if ((f.algorithm ?? "SHA-256").toUpperCase() !== "SHA-256") throw new BundleError(`${e.name}: unsupported hash algorithm ${f.algorithm}`);
    if (f.hash !== fileHash(e)) throw new BundleError(`${e.name} does not match its signed hash (the bundle was modified after signing)`);
    listed.delete(e.name);
  }
  if (listed.size) throw new BundleError(`signed files missing from the bundle: ${[...listed.keys()].join(", ")}`);
  return payload.keyid ?? "";
}

/** Loads a bundle (archive or directory). Throws BundleError with what is wrong. */
export async function loadBundle(abs: string, keyFile: string | undefined, referenced: ReadFileRecord[]): Promise<LoadedBundle> {
  let entries: Entry[];
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    throw new BundleError(`cannot read ${abs} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (st.isDirectory()) entries = await readDir(abs, referenced);
  else entries = untar(await readTracked(abs, referenced));
  entries = entries.map((e) => ({ name: normalize(e.name), bytes: e.bytes }));
  const byName = new Map(entries.map((e) => [e.name, e]));
  const keyid = await verify(entries, byName.get(".signatures.json"), keyFile, referenced);

  let revision: string | null = null;
  let roots: string[] | null = null;
  const manifest = byName.get(".manifest");
  if (manifest) {
    try {
      const m = JSON.parse(manifest.bytes.toString("utf8")) as { revision?: unknown; roots?: unknown };
      if (m.revision !== undefined) revision = String(m.revision);
      if (Array.isArray(m.roots)) roots = m.roots.map(String);
    } catch (e) {
      throw new BundleError(`.manifest: ${(e as Error).message}`);
    }
  }
  const modules: LoadedBundle["modules"] = [];
  const data: Record<string, unknown> = {};
  const display = path.basename(abs);
  for (const e of entries) {
    const base = path.posix.basename(e.name);
    if (e.name.endsWith(".rego")) {
      if (!e.name.endsWith("_test.rego")) modules.push({ path: `${display}/${e.name}`, source: e.bytes.toString("utf8") });
      continue;
    }
    if (base === "data.json" || base === "data.yaml" || base === "data.yml") {
      let doc: unknown;
      try {
        doc = base === "data.json" ? JSON.parse(e.bytes.toString("utf8")) : parseYaml(e.bytes.toString("utf8"));
      } catch (err) {
        throw new BundleError(`${e.name}: ${(err as Error).message}`);
      }
      if (doc === null || doc === undefined) continue;
      if (typeof doc !== "object" || Array.isArray(doc)) throw new BundleError(`${e.name} must hold an object`);
      const dir = path.posix.dirname(e.name);
      const segs = dir === "." ? [] : dir.split("/");
      if (roots) {
        const under = (p: string) => roots!.some((r) => r === "" || p === r || p.startsWith(r + "/"));
        for (const k of Object.keys(doc)) {
          const p = [...segs, k].join("/");
          if (!under(p)) throw new BundleError(`${e.name}: data/${p} is outside the manifest's roots (${roots.join(", ")})`);
        }
      }
      setAt(data, segs, doc as Record<string, unknown>);
    }
  }
  if (modules.length === 0) {
    if (entries.some((e) => e.name.endsWith(".wasm")))
      throw new BundleError(
        "the bundle holds only compiled Wasm (policy.wasm); this sidecar evaluates Rego, so the bundle needs its .rego sources (build it with `opa build` without `-t wasm`)",
      );
    throw new BundleError("the bundle holds no .rego modules");
  }
  return { modules, data, info: { path: abs, revision, roots, signed: keyid !== undefined, ...(keyid ? { keyid } : {}) } };
}
