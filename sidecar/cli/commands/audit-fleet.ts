// `audit verify|export` on the fleet store (docs/fleet.md, "Audit in fleet mode"): one line per node, exit 1 when any
// chain or checkpoint is bad; the export merges every node's chain by time. The store URL comes from --store, else
// from the config (`store:` / INTENT_SIDECAR_DATABASE_URL, as `start` reads it); it is only ever printed redacted.
import { createPublicKey, type KeyObject } from "node:crypto";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519Thumbprint } from "../../attest/keys.ts";
import { ConfigError, redactedStoreUrl, storeUrl } from "../../config.ts";
import { readCheckpointFile, type CheckpointWitness } from "../../store/audit-checkpoints.ts";
import { FLEET_CHECKPOINT_FILE } from "../../store/pg/checkpoints.ts";
import { openPool, errorMessage, type FleetPool } from "../../store/pg/pool.ts";
import { fleetAuditRows, NotAFleetStore, verifyFleetAudit, type NodeAuditResult } from "../../store/pg/audit-verify.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

export interface StoreOpts {
  store?: string;
}

/** The fleet store to work on, or undefined for the data dir's SQLite chain. */
export function fleetStoreUrl(opts: DirOpts & StoreOpts): string | undefined {
  if (opts.store !== undefined) {
    try {
      return storeUrl(opts.store, "--store");
    } catch (e) {
      if (e instanceof ConfigError) throw new ExitError(2, `intent-sidecar: ${e.message}`);
      throw e;
    }
  }
  return configFromOpts(opts).databaseUrl;
}

/** A pool for one offline command: one connection, and long statement timeouts (a big chain pages for a while). */
function open(url: string): FleetPool {
  const db = openPool(url, { max: 1, statementTimeoutMs: 600_000 });
  db.pool.on("error", () => undefined);
  return db;
}

function storeFailure(url: string, e: unknown): ExitError {
  if (e instanceof NotAFleetStore) return new ExitError(2, `intent-sidecar: ${redactedStoreUrl(url)}: ${e.message}`);
  return new ExitError(2, `intent-sidecar: cannot read the fleet store ${redactedStoreUrl(url)}: ${errorMessage(e)}`);
}

function line(r: NodeAuditResult): string {
  if (!r.ok) {
    const at = r.seq === null ? "" : ` at row ${r.seq}`;
    return `node ${r.node}: BROKEN${at}: ${r.problem} (${r.rows} rows verified before it)`;
  }
  const cp = r.checkpoint!;
  const after = r.unsigned_rows ? `; ${r.unsigned_rows} rows after it (not yet signed)` : "";
  const copies = r.witnesses.length > 0 ? `; matches ${r.witnesses.join(", ")}` : "";
  return (
    `node ${r.node}: ok, ${r.rows} rows, head ${r.head}; ${r.checkpoints} checkpoints, ` +
    `latest at row ${cp.seq} signed ${cp.ts} by key ${cp.kid}${after}${copies}`
  );
}

/** Public keys by kid from JWKS files (`keys list` output: {keys: [...]}, or a single JWK). */
function trustedKeys(files: string[]): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  for (const f of files) {
    let doc: { keys?: unknown[] };
    try {
      doc = JSON.parse(readFileSync(f, "utf8")) as { keys?: unknown[] };
    } catch (e) {
      throw new ExitError(2, `intent-sidecar: --jwks ${f}: not a readable JSON file (${(e as Error).message})`);
    }
    for (const [i, k] of (Array.isArray(doc.keys) ? doc.keys : [doc]).entries()) {
      const jwk = k as { kty?: unknown; crv?: unknown; x?: unknown };
      if (jwk?.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string")
        throw new ExitError(2, `intent-sidecar: --jwks ${f}: key ${i} is not an Ed25519 public JWK ({"kty":"OKP","crv":"Ed25519","x":…})`);
      out.set(ed25519Thumbprint(jwk.x), createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }));
    }
  }
  return out;
}

export async function fleetVerify(url: string, opts: DirOpts & { json?: boolean; checkpoint: string[]; jwks: string[] }): Promise<void> {
  const trusted = opts.jwks.length > 0 ? trustedKeys(opts.jwks) : undefined;
  const witnesses: CheckpointWitness[] = [];
  try {
    for (const f of opts.checkpoint) witnesses.push({ source: f, jws: readCheckpointFile(f) });
    // on a fleet sidecar's host, the data dir's copy of its node's latest checkpoint
    if (opts.dataDir || opts.config) {
      const local = join(configFromOpts(opts).dataDir, FLEET_CHECKPOINT_FILE);
      if (existsSync(local)) witnesses.push({ source: local, jws: readCheckpointFile(local) });
    }
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(2, `intent-sidecar: cannot read a checkpoint file: ${(e as Error).message}`);
  }
  const db = open(url);
  let results: NodeAuditResult[];
  try {
    results = await verifyFleetAudit(db.pool, { witnesses, ...(trusted ? { trusted } : {}) });
  } catch (e) {
    throw storeFailure(url, e);
  } finally {
    await db.close().catch(() => undefined);
  }
  if (opts.json) process.stdout.write(JSON.stringify(results) + "\n");
  else for (const r of results) process.stdout.write(line(r) + "\n");
  const where = redactedStoreUrl(url);
  if (results.length === 0) throw new ExitError(1, `fleet audit: no audit chain in ${where} (no sidecar ran in fleet mode on it?)`);
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) {
    throw new ExitError(1, `fleet audit BROKEN: ${bad.length} of ${results.length} chains in ${where} (${bad.map((r) => r.node).join(", ")})`);
  }
}

export async function fleetExport(url: string, opts: { output?: string; node?: string }): Promise<void> {
  const db = open(url);
  const out: NodeJS.WritableStream = opts.output ? createWriteStream(opts.output, { mode: 0o600 }) : process.stdout;
  try {
    for await (const row of fleetAuditRows(db.pool, opts.node !== undefined ? { node: opts.node } : {})) {
      if (!out.write(JSON.stringify(row) + "\n")) await new Promise((r) => out.once("drain", r));
    }
  } catch (e) {
    throw storeFailure(url, e);
  } finally {
    await db.close().catch(() => undefined);
    if (opts.output) await new Promise<void>((r) => out.end(() => r()));
  }
}
