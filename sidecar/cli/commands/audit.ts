// `intent-sidecar audit verify|export`: checks the hash chain of the audit table; writes it as JSON Lines.
import { existsSync, createWriteStream } from "node:fs";
import type { Command } from "commander";
import { auditRows, dbPath, openDatabase, verifyAudit, type Db } from "../../store/index.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

function openForAudit(opts: DirOpts): Db {
  const { dataDir } = configFromOpts(opts);
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
    .description("verify the audit hash chain; exit 1 and name the first bad row if any row was edited or deleted")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .option("--json", "print the result as JSON")
    .action((opts: DirOpts & { json?: boolean }) => {
      const db = openForAudit(opts);
      let r;
      try {
        r = verifyAudit(db);
      } catch (e) {
        throw new ExitError(1, `audit chain cannot be read: ${(e as Error).message}`);
      } finally {
        db.close();
      }
      if (opts.json) process.stdout.write(JSON.stringify(r) + "\n");
      if (r.ok) {
        if (!opts.json) process.stdout.write(`audit chain ok: ${r.rows} rows, head ${r.head}\n`);
        return;
      }
      throw new ExitError(
        1,
        `audit chain BROKEN at row ${r.seq ?? "?"}: ${r.problem} (${r.rows} rows verified before it)`,
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
