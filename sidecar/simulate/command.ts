// `intent-sidecar policy simulate --policy CANDIDATE --data-dir DIR`: reads the store read-only (safe while the
// daemon runs: SQLite WAL allows concurrent readers) and prints what the candidate would decide differently.
import fs from "node:fs";
import { ExitError } from "../cli/exit.ts";
import { IntentStore, dbPath, openDatabase } from "../store/index.ts";
import { formatIssue, isPolicyError, loadPolicy } from "../policy/index.ts";
import type { Reason } from "../../protocol/index.ts";
import { formatReport, simulate } from "./simulate.ts";
import { loadConfig } from "../config.ts";
import { principalLookup } from "../principals.ts";

export interface SimulateOptions {
  policy: string;
  dataDir: string;
  limit?: string | number;
  json?: boolean;
  failOnChange?: boolean;
  /** The sidecar config file: its `principals` give replayed agents their tenant and team (scoped rules). */
  config?: string;
}

export async function runSimulate(o: SimulateOptions): Promise<void> {
  const limit = Number(o.limit ?? 1000);
  if (!Number.isSafeInteger(limit) || limit <= 0)
    throw new ExitError(2, "intent-sidecar: --limit must be a positive integer");
  if (!fs.existsSync(dbPath(o.dataDir))) {
    throw new ExitError(2, `intent-sidecar: no sidecar store at ${dbPath(o.dataDir)}; pass the daemon's --data-dir`);
  }
  let policy;
  try {
    policy = await loadPolicy(o.policy);
  } catch (e) {
    if (isPolicyError(e)) {
      const code = e.code === "policy_io" ? 2 : 1;
      throw new ExitError(
        code,
        `intent-sidecar: the candidate policy does not load:\n${e.issues.map(formatIssue).join("\n")}`,
      );
    }
    throw e;
  }
  const db = openDatabase(o.dataDir, { readonly: true });
  let records;
  const holdReasons = new Map<string, Reason[]>();
  try {
    records = new IntentStore(db).recent(limit);
    // A resolved hold's intent row says how it ended; the holds table keeps why it was raised.
    const hasHolds = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'holds'").get();
    if (hasHolds) {
      const byIntent = db.prepare("SELECT reasons_json FROM holds WHERE intent_id = ?");
      for (const rec of records) {
        if (!rec.hold) continue;
        const row = byIntent.get(rec.id) as { reasons_json: string } | undefined;
        if (row) holdReasons.set(rec.id, JSON.parse(row.reasons_json) as Reason[]);
      }
    }
  } finally {
    db.close();
  }
  let principals;
  if (o.config) {
    try {
      principals = principalLookup(loadConfig({ config: o.config }, {}).principals);
    } catch (e) {
      throw new ExitError(2, `intent-sidecar: ${(e as Error).message}`);
    }
  }
  const report = await simulate(records, policy, {
    holdReasons: (id) => holdReasons.get(id),
    ...(principals ? { principals } : {}),
  });
  process.stdout.write(o.json ? JSON.stringify(report) + "\n" : formatReport(report));
  if (o.failOnChange && report.changed > 0) throw new ExitError(1);
}
