// External data for the network block's Rego rules (`policy data update`, `PUT /v1/policy/data/{path}`): subtrees of
// `data` replaced in the running sidecar on top of the policy's own `network.data` files. Each entry is validated,
// applied to a copy of the loaded policy (a new network block, a new digest), and persisted in the data dir
// (`policy-data.json`, mode 0600) so a restart serves the same data.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { canonicalize } from "../../protocol/jcs.ts";
import { compileNetwork } from "./network.ts";
import type { LoadedPolicy } from "./load.ts";

export const DATA_OVERLAY_FILE = "policy-data.json";

export interface DataOverlayEntry {
  /** path below `data` (segments) */
  path: string[];
  value: unknown;
  /** sha256 of the value's JCS form */
  digest: string;
  updated_at: string;
  updated_by: string;
}

export class DataOverlayError extends Error {
  constructor(
    readonly code: "invalid_path" | "invalid_data" | "no_network_block",
    message: string,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 64;
const SEGMENT = /^[A-Za-z0-9_\-.:@]{1,200}$/;

/** `data.a.b`, `a.b`, `a/b` or `/a/b` as segments. `data` alone (or empty) is the root: []. */
export function parseDataPath(p: string): string[] {
  let s = p.trim();
  if (s === "data" || s === "") return [];
  if (s.startsWith("data.")) s = s.slice(5);
  const segs = (s.includes("/") ? s.replace(/^\/+|\/+$/g, "").split("/") : s.split(".")).map((x) => decodeURIComponent(x));
  for (const seg of segs) {
    if (!seg || !SEGMENT.test(seg) || seg === "__proto__" || seg === "constructor" || seg === "prototype")
      throw new DataOverlayError("invalid_path", `invalid data path ${JSON.stringify(p)}: segments are letters, digits and _-.:@ (e.g. data.partners.hosts)`);
  }
  if (segs.length > 16) throw new DataOverlayError("invalid_path", `data path ${p} is deeper than 16 segments`);
  return segs;
}

/** Plain JSON only (objects, arrays, strings, finite numbers, booleans, null), at most MAX_DEPTH deep. */
export function validateJson(v: unknown, depth = 0): void {
  if (depth > MAX_DEPTH) throw new DataOverlayError("invalid_data", `the data is nested deeper than ${MAX_DEPTH} levels`);
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new DataOverlayError("invalid_data", "numbers must be finite");
    return;
  }
  if (Array.isArray(v)) return v.forEach((x) => validateJson(x, depth + 1));
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) {
      if (k === "__proto__") throw new DataOverlayError("invalid_data", "the key __proto__ is not allowed");
      validateJson(x, depth + 1);
    }
    return;
  }
  throw new DataOverlayError("invalid_data", `not JSON data: ${typeof v}`);
}

export function valueDigest(v: unknown): string {
  return "sha256:" + createHash("sha256").update(canonicalize(v)).digest("hex");
}

export function pathKey(p: string[]): string {
  return p.length ? "data." + p.join(".") : "data";
}

function setAt(root: Record<string, unknown>, p: string[], v: unknown): Record<string, unknown> {
  if (p.length === 0) return v as Record<string, unknown>;
  let o = root;
  for (let i = 0; i < p.length - 1; i++) {
    const next = o[p[i]!];
    if (next === null || typeof next !== "object" || Array.isArray(next)) o[p[i]!] = {};
    o = o[p[i]!] as Record<string, unknown>;
  }
  o[p[p.length - 1]!] = structuredClone(v);
  return root;
}

/** The entries after replacing `path`: an entry at or below it is dropped (the new value covers it). */
export function withEntry(entries: DataOverlayEntry[], e: DataOverlayEntry): DataOverlayEntry[] {
  const under = (p: string[]) => p.length >= e.path.length && e.path.every((s, i) => p[i] === s);
  return [...entries.filter((x) => !under(x.path)), e];
}

/** The policy with the entries applied (in order) to its network block's data: a new network block and digest. */
export async function applyOverlay(base: LoadedPolicy, entries: DataOverlayEntry[]): Promise<LoadedPolicy> {
  if (entries.length === 0) return base;
  const spec = base.config.network;
  if (!spec || !base.network)
    throw new DataOverlayError("no_network_block", "the active policy has no network block: there are no Rego rules to give data to");
  let data = structuredClone(spec.data) as Record<string, unknown>;
  for (const e of entries) data = setAt(data, e.path, e.value);
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw new DataOverlayError("invalid_data", "data at the root must be an object");
  const newSpec = { ...spec, data };
  const network = await compileNetwork(newSpec);
  const digest =
    "sha256:" +
    createHash("sha256")
      .update(base.digest + "\0data\0" + canonicalize(entries.map((e) => ({ path: e.path, digest: e.digest }))))
      .digest("hex");
  return { ...base, digest, network, config: { ...base.config, network: newSpec }, loadedAt: new Date() };
}

/** Entries persisted in `file` ([] when it does not exist). Throws DataOverlayError when it is unreadable. */
export function readOverlayFile(file: string): DataOverlayEntry[] {
  if (!existsSync(file)) return [];
  let js: unknown;
  try {
    js = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DataOverlayError("invalid_data", `${file}: ${(e as Error).message} (fix or remove it to start without the external data)`);
  }
  const list = (js as { entries?: unknown })?.entries;
  if (!Array.isArray(list)) throw new DataOverlayError("invalid_data", `${file}: expected {"entries": [...]}`);
  return list.map((x) => {
    const e = x as DataOverlayEntry;
    if (!Array.isArray(e.path) || !e.path.every((s) => typeof s === "string")) throw new DataOverlayError("invalid_data", `${file}: an entry has no path`);
    validateJson(e.value);
    return { path: e.path, value: e.value, digest: valueDigest(e.value), updated_at: String(e.updated_at ?? ""), updated_by: String(e.updated_by ?? "") };
  });
}

/** Writes the entries atomically (temporary file, mode 0600, rename). */
export function writeOverlayFile(file: string, entries: DataOverlayEntry[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: 1, entries }, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
