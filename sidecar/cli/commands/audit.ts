// `intent-sidecar audit verify|export`: checks the hash chain of the audit table and its latest signed checkpoint
// (against the data dir's key store); writes the log as JSON Lines.
import { existsSync, createWriteStream } from "node:fs";
import type { KeyObject } from "node:crypto";
import type { Command } from "commander";
import { auditRows, dbPath, openDatabase, type Db } from "../../store/index.ts";
import { verifySignedAudit, type SignedVerifyResult } from "../../store/audit-checkpoints.ts";
import { storedPublicKeys } from "../../attest/keys.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

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
      "verify the audit hash chain and its latest signed checkpoint; exit 1 naming the problem if any row was edited, deleted or rewritten",
    )
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .option("--json", "print the result as JSON")
    .action((opts: DirOpts & { json?: boolean }) => {
      const { dataDir } = configFromOpts(opts);
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
        r = verifySignedAudit(db, (kid) => keys.get(kid));
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
          process.stdout.write(
            `audit chain ok: ${r.rows} rows, head ${r.head}\n` +
              `signed checkpoint ok: row ${cp.seq}, signed ${cp.ts} by key ${cp.kid}${after}\n`,
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
    .action(async (opts: DirOpts & { output?: string; from: string }) => {
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
