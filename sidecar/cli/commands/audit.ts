// `intent-sidecar audit verify|export`: checks the hash chain of the audit table, its signed checkpoints (against the
// data dir's key store) and the copies of the latest checkpoint kept outside the database (the data dir's
// audit-checkpoint.jws, and --checkpoint FILE: a copy the operator keeps off the host); writes the log as JSON Lines.
// In fleet mode (--store postgres://…, or the config's `store:` / INTENT_SIDECAR_DATABASE_URL) both work on the fleet
// store instead: every node's chain and checkpoints, and the chains merged by time (audit-fleet.ts).
import { existsSync, createWriteStream } from "node:fs";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import type { Command } from "commander";
import { auditRows, dbPath, openDatabase, type Db } from "../../store/index.ts";
import {
  CHECKPOINT_FILE,
  readCheckpointFile,
  verifySignedAudit,
  type CheckpointWitness,
  type SignedVerifyResult,
} from "../../store/audit-checkpoints.ts";
import { storedPublicKeys } from "../../attest/keys.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";
import { fleetStoreUrl, fleetVerify, fleetExport, type StoreOpts } from "./audit-fleet.ts";

function openForAudit(opts: DirOpts): Db {
  return openDb(configFromOpts(opts).dataDir);
}

function openDb(dataDir: string): Db {
  if (!existsSync(dbPath(dataDir))) {
    throw new ExitError(
      2,
      `intent-sidecar: no database at ${dbPath(dataDir)}; pass --data-dir of a sidecar that has run`,
    );
  }
  try {
    return openDatabase(dataDir);
  } catch (e) {
    throw new ExitError(2, `intent-sidecar: cannot open ${dbPath(dataDir)}: ${(e as Error).message}`);
  }
}

export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("check and export the hash-chained audit log");
  audit
    .command("verify")
    .description(
      "verify the audit hash chain, its signed checkpoints and the data dir's copy of the latest one; exit 1 naming the problem if any row or checkpoint was edited, deleted or rewritten",
    )
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .option(
      "--checkpoint <file>",
      "also compare with this copy of a checkpoint kept outside the data dir (e.g. shipped off the host); repeatable",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--json", "print the result as JSON")
    .option(
      "--store <url>",
      "fleet mode: verify every node's chain in this PostgreSQL store (default: the config's store / INTENT_SIDECAR_DATABASE_URL; \"sqlite\": the data dir's own chain)",
    )
    .option(
      "--jwks <file>",
      "fleet mode: trust only these public keys for checkpoints (`keys list` of each host; the store's fleet_keys alone can be written by whoever writes the store); repeatable",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (opts: DirOpts & StoreOpts & { json?: boolean; checkpoint: string[]; jwks: string[] }) => {
      const url = fleetStoreUrl(opts);
      if (url) return fleetVerify(url, opts);
      if (opts.jwks.length > 0) throw new ExitError(2, "intent-sidecar: --jwks needs a fleet store (--store postgres://…)");
      const { dataDir } = configFromOpts(opts);
      const witnesses: CheckpointWitness[] = [];
      try {
        const local = join(dataDir, CHECKPOINT_FILE);
        witnesses.push({ source: local, jws: readCheckpointFile(local), local: true });
        for (const f of opts.checkpoint) witnesses.push({ source: f, jws: readCheckpointFile(f) });
      } catch (e) {
        throw new ExitError(2, `intent-sidecar: cannot read a checkpoint file: ${(e as Error).message}`);
      }
      const db = openDb(dataDir);
      // The key store vouches for the checkpoints. Without one nothing can vouch: every checkpoint is then refused.
      let keys = new Map<string, KeyObject>();
      let keyProblem = "";
      try {
        keys = storedPublicKeys(dataDir);
      } catch (e) {
        keyProblem = ` (${(e as Error).message})`;
      }
      let r: SignedVerifyResult;
      try {
        r = verifySignedAudit(db, (kid) => keys.get(kid), { witnesses });
      } catch (e) {
        throw new ExitError(1, `audit chain cannot be read: ${(e as Error).message}`);
      } finally {
        db.close();
      }
      if (opts.json) process.stdout.write(JSON.stringify(r) + "\n");
      if (r.ok) {
        if (!opts.json) {
          const cp = r.checkpoint;
          const after =
            r.unsigned_rows > 0
              ? `; ${r.unsigned_rows} rows after the last checkpoint (not yet signed)`
              : "; no rows after it";
          const copies =
            r.witnesses.length > 0 ? `matches ${r.witnesses.join(", ")}` : "no copy outside the database to compare";
          process.stdout.write(
            `audit chain ok: ${r.rows} rows, head ${r.head}\n` +
              `signed checkpoint ok: row ${cp.seq}, signed ${cp.ts} by key ${cp.kid}${after}\n` +
              `checkpoints ok: ${r.checkpoints} stored, chained; latest ${copies}\n`,
          );
        }
        return;
      }
      const where = r.seq === null ? "" : ` at row ${r.seq}`;
      throw new ExitError(
        1,
        `audit chain BROKEN${where}: ${r.problem}${r.problem.includes("key store") ? keyProblem : ""} (${r.rows} rows verified before it)`,
      );
    });
  audit
    .command("export")
    .description("write the audit log as JSON Lines (one row per line: seq, ts, type, data, prev_hash, hash)")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .option("--from <seq>", "start at this row number", "1")
    .option(
      "--store <url>",
      "fleet mode: every node's chain in this PostgreSQL store, merged by time, node_id on each row (default: the config's store / INTENT_SIDECAR_DATABASE_URL; \"sqlite\": the data dir's own chain)",
    )
    .option("--node <id>", "fleet mode: only this node's chain")
    .action(async (opts: DirOpts & StoreOpts & { output?: string; from: string; node?: string }) => {
      const url = fleetStoreUrl(opts);
      if (url) {
        if (opts.from !== "1") throw new ExitError(2, "intent-sidecar: --from applies to a single chain; with a fleet store use --node");
        return fleetExport(url, opts);
      }
      if (opts.node !== undefined) throw new ExitError(2, "intent-sidecar: --node needs a fleet store (--store postgres://…)");
      const from = Number(opts.from);
      if (!Number.isInteger(from) || from < 1)
        throw new ExitError(2, "intent-sidecar: --from must be a row number ≥ 1");
      const db = openForAudit(opts);
      const out: NodeJS.WritableStream = opts.output ? createWriteStream(opts.output, { mode: 0o600 }) : process.stdout;
      try {
        for (const row of auditRows(db, from)) {
          if (!out.write(JSON.stringify(row) + "\n")) await new Promise((r) => out.once("drain", r));
        }
      } finally {
        db.close();
      }
      if (opts.output) await new Promise<void>((r) => out.end(() => r()));
    });
}
