// `intent-sidecar holds list|show|approve|deny` against the operator API (SPEC sections 3 and 9).
// The URL comes from --url, INTENT_SIDECAR_OPERATOR_URL or http://127.0.0.1:7402; the token from --token or
// INTENT_SIDECAR_OPERATOR_TOKEN, else from the file the daemon generated: --token-file, INTENT_SIDECAR_OPERATOR_TOKEN_FILE
// or ./.intent-sidecar/operator-token (the default data dir). Readable tables by default, --json for scripts.
// Exit codes: 0 ok; 1 the sidecar refused (no such hold, already decided, already approved); 2 usage or I/O error.
import type { Command } from "commander";
import { ExitError } from "../exit.ts";
import { tokenFromFile } from "../operator-client.ts";

interface Common {
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

interface HoldView {
  id: string;
  intent_id: string;
  state: string;
  agent: string;
  action: string;
  intent: unknown;
  reasons: { block: string; rule: string; message: string }[];
  rules: string[];
  approvals_required: number;
  approvals: { operator: string; comment: string | null; at: string }[];
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution_note: string | null;
  summary?: { text: string; lines: string[] };
}

const DEFAULT_URL = "http://127.0.0.1:7402";

function withCommon(cmd: Command): Command {
  return cmd
    .option("--url <url>", `operator API base URL (env INTENT_SIDECAR_OPERATOR_URL, default ${DEFAULT_URL})`)
    .option("--token <token>", "operator token (env INTENT_SIDECAR_OPERATOR_TOKEN)")
    .option(
      "--token-file <file>",
      "file holding the operator token (env INTENT_SIDECAR_OPERATOR_TOKEN_FILE; default ./.intent-sidecar/operator-token if it exists)",
    )
    .option("--json", "print the operator API's JSON instead of a table (list: {holds, now})");
}

async function call(opts: Common, method: string, path: string, body?: unknown): Promise<any> {
  const base = (opts.url ?? process.env.INTENT_SIDECAR_OPERATOR_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  const token = opts.token ?? (process.env.INTENT_SIDECAR_OPERATOR_TOKEN || tokenFromFile(opts.tokenFile, "holds"));
  if (!token) {
    throw new ExitError(
      2,
      "holds: an operator token is required: pass --token or --token-file, or set INTENT_SIDECAR_OPERATOR_TOKEN",
    );
  }
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new ExitError(2, `holds: cannot reach the operator API at ${base} (${cause?.code ?? cause?.message ?? (e as Error).message}); is the sidecar running? (--url)`);
  }
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ExitError(2, `holds: ${base}${path} answered HTTP ${res.status} with a non-JSON body; is --url the operator listener?`);
  }
  if (res.status === 401) throw new ExitError(2, "holds: the operator token was refused (401); check --token / INTENT_SIDECAR_OPERATOR_TOKEN");
  if (!res.ok) {
    if (opts.json) process.stdout.write(JSON.stringify(parsed, null, 2) + "\n");
    throw new ExitError(res.status >= 500 ? 2 : 1, `holds: ${parsed.message ?? parsed.error ?? `HTTP ${res.status}`}`);
  }
  return parsed;
}


export function timeLeft(expiresAt: string, now = Date.now()): string {
  const ms = Date.parse(expiresAt) - now;
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A plain text table: a header row and left-aligned columns separated by two spaces. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}

function describe(h: HoldView): string {
  const lines = [
    `hold        ${h.id}`,
    `intent      ${h.intent_id}`,
    `state       ${h.state}`,
    `agent       ${h.agent}`,
    `action      ${h.action}`,
    ...(h.summary ? [`summary     ${h.summary.text}`] : []),
    `created     ${h.created_at}`,
    `expires     ${h.expires_at}${h.state === "pending" ? ` (in ${timeLeft(h.expires_at)})` : ""}`,
    `approvals   ${h.approvals.length} of ${h.approvals_required}`,
    ...h.approvals.map((a) => `            - ${a.operator} at ${a.at}${a.comment ? `: ${a.comment}` : ""}`),
  ];
  if (h.resolved_at) lines.push(`resolved    ${h.resolved_at}${h.resolved_by ? ` by ${h.resolved_by}` : ""}${h.resolution_note ? `: ${h.resolution_note}` : ""}`);
  lines.push("reasons", ...h.reasons.map((r) => `  - ${r.block}/${r.rule}: ${r.message}`));
  lines.push("intent", ...JSON.stringify(h.intent, null, 2).split("\n").map((l) => "  " + l));
  return lines.join("\n") + "\n";
}

function outcome(verb: string, r: { id: string; state: string; approvals: number; approvals_required: number }): string {
  if (r.state === "pending") return `${verb} recorded on ${r.id}: ${r.approvals} of ${r.approvals_required} approvals; still pending\n`;
  return `${r.id} is now ${r.state} (${r.approvals} of ${r.approvals_required} approvals)\n`;
}

export function registerHolds(program: Command): void {
  const holds = program.command("holds").description("review held (PENDING) intents through the operator API");

  withCommon(holds.command("list").description("list holds (default: pending)"))
    .option("--state <state>", "pending | approved | denied | expired | all", "pending")
    .option("--agent <agent>", "only this agent's holds")
    .option("--rule <rule>", "only holds raised by this rule")
    .option("--limit <n>", "at most n holds", "100")
    .action(async (o: Common & { state: string; agent?: string; rule?: string; limit: string }) => {
      if (!["pending", "approved", "denied", "expired", "all"].includes(o.state)) {
        throw new ExitError(2, `holds list: --state must be pending, approved, denied, expired or all (got "${o.state}")`);
      }
      const q = new URLSearchParams({ limit: o.limit });
      if (o.state !== "all") q.set("state", o.state);
      if (o.agent) q.set("agent", o.agent);
      if (o.rule) q.set("rule", o.rule);
      const r = (await call(o, "GET", `/v1/holds?${q}`)) as { holds: HoldView[]; now: string };
      // --json: the operator API's answer as it is, {"holds":[…],"now":"…"} (docs/operator-guide.md)
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      if (r.holds.length === 0) return void process.stdout.write(`no ${o.state === "all" ? "" : o.state + " "}holds\n`);
      process.stdout.write(
        table(
          ["ID", "STATE", "AGENT", "ACTION", "APPROVALS", "EXPIRES IN", "RULES"],
          r.holds.map((h) => [
            h.id,
            h.state,
            h.agent,
            h.action,
            `${h.approvals.length}/${h.approvals_required}`,
            h.state === "pending" ? timeLeft(h.expires_at) : "-",
            h.rules.join(","),
          ]),
        )
          // each row followed by the hold's summary, indented: "  Send 2,000 USDC to vendor-a (0x1111…1111) on Base"
          .split("\n")
          .flatMap((line, i) => (i > 0 && r.holds[i - 1]?.summary ? [line, `  ${r.holds[i - 1]!.summary!.text}`] : [line]))
          .join("\n"),
      );
    });

  withCommon(holds.command("show").description("show one hold: intent, reasons, approvals").argument("<id>", "hold id")).action(
    async (id: string, o: Common) => {
      const h = (await call(o, "GET", `/v1/holds/${encodeURIComponent(id)}`)) as HoldView;
      process.stdout.write(o.json ? JSON.stringify(h, null, 2) + "\n" : describe(h));
    },
  );

  withCommon(holds.command("approve").description("approve a hold as the token's operator").argument("<id>", "hold id"))
    .option("--comment <text>", "a comment recorded with the approval")
    .action(async (id: string, o: Common & { comment?: string }) => {
      const r = await call(o, "POST", `/v1/holds/${encodeURIComponent(id)}/approve`, o.comment ? { comment: o.comment } : {});
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + "\n" : outcome("approval", r));
    });

  withCommon(holds.command("deny").description("deny a hold (one denial ends it)").argument("<id>", "hold id"))
    .option("--reason <text>", "why; the agent sees it")
    .action(async (id: string, o: Common & { reason?: string }) => {
      const r = await call(o, "POST", `/v1/holds/${encodeURIComponent(id)}/deny`, o.reason ? { reason: o.reason } : {});
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + "\n" : outcome("denial", r));
    });
}
