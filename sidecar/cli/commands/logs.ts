// `intent-sidecar logs`: recent decisions from the store's audit log (intent decisions, proxy and OpenShell
// denials), filtered, as a table or JSON lines; `--follow` streams new ones. Each entry carries its reasons (for a
// network denial, the Rego rule's message) and a fixed set of fields: never params, headers, bodies, tokens or
// attestations, and a proxied URL without its query string.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { dbPath, openDatabase, type Db } from "../../store/index.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

/** Audit event types that are decisions. */
export const DECISION_TYPES = ["decision", "proxy.denied", "openshell.denied"] as const;

export interface LogReason {
  block?: string;
  rule?: string;
  message?: string;
}

export interface LogEntry {
  seq: number;
  ts: string;
  /** decision (an intent), proxy (a request through the egress proxy), openshell (an OpenShell request) */
  source: "decision" | "proxy" | "openshell";
  decision: string;
  agent: string | null;
  /** the intent's action, or `METHOD host:port/path` of a network request */
  action: string;
  blocks: string[];
  reasons: LogReason[];
  intent_id?: string | null;
  hold_id?: string;
  policy_digest?: string;
  binary?: string | null;
  sandbox_id?: string | null;
}

export interface LogFilter {
  decision?: string;
  agent?: string;
  block?: string;
  /** ISO timestamp: only entries at or after it */
  since?: string;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function reasonsOf(v: unknown): LogReason[] {
  if (!Array.isArray(v)) return [];
  return v.map((r) => {
    if (typeof r === "string") return { message: r };
    const o = (r ?? {}) as Record<string, unknown>;
    const out: LogReason = {};
    if (str(o.block)) out.block = str(o.block);
    if (str(o.rule)) out.rule = str(o.rule);
    if (str(o.message)) out.message = str(o.message);
    return out;
  });
}

function stripQuery(p: string): string {
  const i = p.search(/[?#]/);
  return i < 0 ? p : p.slice(0, i);
}

/** One audit row as a log entry (undefined for rows that are not decisions). Only named fields are copied. */
export function entryFromAudit(seq: number, ts: string, type: string, data: Record<string, unknown>): LogEntry | undefined {
  const reasons = reasonsOf(data.reasons);
  const blocks = [...new Set(reasons.map((r) => r.block).filter((b): b is string => !!b))];
  if (type === "decision") {
    const e: LogEntry = {
      seq,
      ts,
      source: "decision",
      decision: str(data.decision) ?? "",
      agent: str(data.agent) ?? null,
      action: str(data.action) ?? "",
      blocks,
      reasons,
      intent_id: str(data.intent_id) ?? null,
    };
    if (str(data.hold_id)) e.hold_id = str(data.hold_id);
    if (str(data.policy_digest)) e.policy_digest = str(data.policy_digest);
    return e;
  }
  if (type === "proxy.denied" || type === "openshell.denied") {
    const src = (data.source ?? {}) as Record<string, unknown>;
    const host = str(data.host) ?? "";
    const port = typeof data.port === "number" ? `:${data.port}` : "";
    const path = stripQuery(str(data.path) ?? "");
    return {
      seq,
      ts,
      source: type === "proxy.denied" ? "proxy" : "openshell",
      decision: "DENIED",
      agent: str(data.agent) ?? str(src.sandbox_id) ?? null,
      action: `${str(data.method) ?? ""} ${host}${port}${path}`.trim(),
      blocks: blocks.length ? blocks : ["network"],
      reasons,
      intent_id: str(data.intent_id) ?? null,
      binary: str(src.binary) ?? str(data.binary) ?? null,
      sandbox_id: str(src.sandbox_id) ?? str(data.sandbox_id) ?? null,
    };
  }
  return undefined;
}

export function matches(e: LogEntry, f: LogFilter): boolean {
  if (f.decision && e.decision !== f.decision.toUpperCase()) return false;
  if (f.agent && e.agent !== f.agent && e.binary !== f.agent) return false;
  if (f.block && !e.blocks.includes(f.block)) return false;
  if (f.since && e.ts < f.since) return false;
  return true;
}

interface Row {
  seq: number;
  ts: string;
  type: string;
  data_json: string;
}

const TYPES_SQL = DECISION_TYPES.map((t) => `'${t}'`).join(", ");

/** The newest `limit` matching entries, oldest first. */
export function recentDecisions(db: Db, f: LogFilter, limit: number): LogEntry[] {
  const stmt = db.prepare(`SELECT seq, ts, type, data_json FROM audit WHERE type IN (${TYPES_SQL}) ORDER BY seq DESC`);
  const out: LogEntry[] = [];
  for (const r of stmt.iterate() as IterableIterator<Row>) {
    if (f.since && r.ts < f.since) break; // seq order is time order
    const e = entryFromAudit(r.seq, r.ts, r.type, JSON.parse(r.data_json));
    if (e && matches(e, f)) out.push(e);
    if (out.length >= limit) break;
  }
  return out.reverse();
}

/** Matching entries after `afterSeq`, oldest first. */
export function decisionsAfter(db: Db, afterSeq: number, f: LogFilter): LogEntry[] {
  const rows = db
    .prepare(`SELECT seq, ts, type, data_json FROM audit WHERE seq > ? AND type IN (${TYPES_SQL}) ORDER BY seq`)
    .all(afterSeq) as Row[];
  const out: LogEntry[] = [];
  for (const r of rows) {
    const e = entryFromAudit(r.seq, r.ts, r.type, JSON.parse(r.data_json));
    if (e && matches(e, f)) out.push(e);
  }
  return out;
}

function lastSeq(db: Db): number {
  return (db.prepare("SELECT COALESCE(MAX(seq), 0) AS s FROM audit").get() as { s: number }).s;
}

/** `--since`: a duration back from now (`90s`, `15m`, `1h`, `2d`, `1h30m`) or an ISO-8601 time. */
export function parseSince(s: string, now: Date = new Date()): string {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(s))) {
    ms += Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as "ms"];
    consumed = re.lastIndex;
  }
  if (consumed > 0 && consumed === s.length) return new Date(now.getTime() - ms).toISOString();
  const t = Date.parse(s);
  if (!Number.isNaN(t)) return new Date(t).toISOString();
  throw new ExitError(2, `--since: expected a duration like 15m, 1h, 2d or an ISO time, got ${s}`);
}

function reasonText(r: LogReason): string {
  const id = r.block && r.rule ? `${r.block}/${r.rule}` : (r.rule ?? r.block ?? "");
  return id && r.message ? `${id}: ${r.message}` : id || r.message || "";
}

function tableRow(e: LogEntry): string[] {
  return [e.ts, e.decision, e.source, e.agent ?? e.binary ?? "-", e.action, e.reasons.map(reasonText).join("; ") || "-"];
}

const HEADER = ["TIME", "DECISION", "SOURCE", "AGENT", "ACTION", "REASONS"];
function formatRows(rows: string[][], header: boolean): string {
  const all = header ? [HEADER, ...rows] : rows;
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export interface LogsOptions extends DirOpts {
  decision?: string;
  agent?: string;
  block?: string;
  since?: string;
  limit: string;
  json?: boolean;
  follow?: boolean;
  interval?: string;
}

/** The command's body, with the output and (for --follow) a stop signal passed in, so tests can run it. */
export async function runLogs(o: LogsOptions, write: (s: string) => void, signal?: AbortSignal): Promise<void> {
  const { dataDir } = configFromOpts(o);
  if (!existsSync(dbPath(dataDir))) throw new ExitError(2, `intent-sidecar: no database at ${dbPath(dataDir)}; pass --data-dir of a sidecar that has run`);
  const format = o.json ? "json" : "table";
  const limit = Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new ExitError(2, `--limit: expected a positive integer, got ${o.limit}`);
  if (o.decision && !["APPROVED", "DENIED", "PENDING", "EXPIRED"].includes(o.decision.toUpperCase()))
    throw new ExitError(2, `--decision: expected APPROVED, DENIED, PENDING or EXPIRED, got ${o.decision}`);
  const f: LogFilter = { decision: o.decision, agent: o.agent, block: o.block, since: o.since ? parseSince(o.since) : undefined };
  let db: Db;
  try {
    db = openDatabase(dataDir, { readonly: true });
  } catch (e) {
    throw new ExitError(2, `intent-sidecar: cannot open ${dbPath(dataDir)}: ${(e as Error).message}`);
  }
  try {
    let seq = lastSeq(db);
    const first = recentDecisions(db, f, limit);
    const emit = (es: LogEntry[], header: boolean) => {
      if (!es.length) return;
      if (format === "json") write(es.map((e) => JSON.stringify(e)).join("\n") + "\n");
      else write(formatRows(es.map(tableRow), header) + "\n");
    };
    emit(first, true);
    if (!o.follow) return;
    const every = Number(o.interval ?? "500");
    while (!signal?.aborted) {
      await new Promise<void>((resolve) => {
        const onAbort = () => (clearTimeout(t), resolve());
        const t = setTimeout(() => (signal?.removeEventListener("abort", onAbort), resolve()), every);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      if (signal?.aborted) break;
      const next = decisionsAfter(db, seq, f);
      seq = lastSeq(db);
      if (next.length) seq = Math.max(seq, next[next.length - 1]!.seq);
      emit(next, false);
    }
  } finally {
    db.close();
  }
}

export function registerLogs(program: Command): void {
  program
    .command("logs")
    .description("recent decisions from the store (intents, proxy and OpenShell denials) with their reasons; --follow streams new ones")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .option("--decision <decision>", "APPROVED, DENIED, PENDING or EXPIRED")
    .option("--agent <agent>", "only this agent (for proxy denials: the sandbox id or the binary)")
    .option("--block <block>", "only decisions with a reason from this block (network, evm, actions, ...)")
    .option("--since <when>", "only decisions since a duration ago (15m, 1h, 2d) or an ISO time")
    .option("-n, --limit <n>", "at most this many recent decisions", "50")
    .option("--json", "JSON lines instead of a table")
    .option("-f, --follow", "keep printing new decisions as they are recorded")
    .action(async (o: LogsOptions) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        await runLogs(o, (s) => process.stdout.write(s), ac.signal);
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
