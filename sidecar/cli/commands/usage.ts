// `intent-sidecar usage`: cost totals per agent, team and tenant and each budget's state, from the operator API's
// GET /v1/usage (found and authenticated like `holds`: --url, --token / --token-file). A readable table by default,
// --json for the API's answer as it is. Exit codes: 0 ok; 2 usage, I/O or auth problems (a bad filter included).
import type { Command } from "commander";
import { ExitError } from "../exit.ts";
import { operatorCall, withOperatorOptions, type OperatorOpts } from "../operator-client.ts";
import { table } from "./holds.ts";

interface UsageOpts extends OperatorOpts {
  scope?: string;
  key?: string;
  currency?: string;
  window?: string;
  since?: string;
  json?: boolean;
}

interface UsageReport {
  costs?: { window: string; since: string; until: string; totals: { scope: string; key: string; currency: string; total: string }[] };
  budgets?: {
    id: string;
    scope: string;
    per: string;
    limit: string;
    currency: string;
    on_exceed: string;
    window: { start: string; end: string };
    streams: { key: string; counted_alone?: boolean; total: string; remaining: string; used: number; exceeded: boolean; alerted: number[] }[];
  }[];
}

const pct = (f: number) => `${Math.round(f * 1000) / 10}%`;

/** The report as text: totals, then one row per budget and scope key with spend in its current window. */
export function renderUsage(r: UsageReport): string {
  const out: string[] = [];
  const c = r.costs;
  if (!c) return "this sidecar reports no costs (an older version)\n";
  out.push(`costs since ${c.since} (window ${c.window})`);
  out.push(
    c.totals.length === 0
      ? "no costs in this window\n"
      : table(
          ["SCOPE", "KEY", "TOTAL"],
          c.totals.map((t) => [t.scope, t.key, `${t.total} ${t.currency}`]),
        ),
  );
  const budgets = r.budgets ?? [];
  if (budgets.length === 0) {
    out.push("no budgets in the policy\n");
    return out.join("\n");
  }
  const rows: string[][] = [];
  for (const b of budgets) {
    const window = `${b.per} from ${b.window.start.replace(/:00\.000Z$/, "Z")}`;
    if (b.streams.length === 0) rows.push([b.id, b.scope, "-", window, `0 / ${b.limit} ${b.currency}`, "0%", "-", b.on_exceed]);
    for (const s of b.streams) {
      rows.push([
        b.id,
        b.scope,
        s.counted_alone ? `${s.key} (alone)` : s.key,
        window,
        `${s.total} / ${b.limit} ${b.currency}`,
        `${pct(s.used)}${s.exceeded ? " EXCEEDED" : ""}`,
        s.alerted.length ? s.alerted.map(pct).join(",") : "-",
        b.on_exceed,
      ]);
    }
  }
  out.push(table(["BUDGET", "SCOPE", "KEY", "WINDOW", "SPENT", "USED", "ALERTED", "BEYOND"], rows));
  return out.join("\n");
}

export function registerUsage(program: Command): void {
  withOperatorOptions(
    program
      .command("usage")
      .description("cost totals per agent, team and tenant and each budget's state (operator API GET /v1/usage)"),
  )
    .option("--scope <scope>", "agent | team | tenant (default: all three)")
    .option("--key <glob>", "only these keys: an agent name, tenant/team or tenant (globs, e.g. 'acme/*')")
    .option("--currency <code>", "only this currency, e.g. USD")
    .option("--window <window>", "day | week | month (the current UTC window) or a duration such as 24h (default: month)")
    .option("--since <time>", "totals since an ISO 8601 time instead of a window")
    .option("--json", "print the operator API's JSON")
    .action(async (o: UsageOpts) => {
      if (o.scope && !["agent", "team", "tenant"].includes(o.scope)) {
        throw new ExitError(2, `usage: --scope must be agent, team or tenant (got "${o.scope}")`);
      }
      if (o.window && o.since) throw new ExitError(2, "usage: give either --window or --since, not both");
      const q = new URLSearchParams();
      for (const k of ["scope", "key", "currency", "window", "since"] as const) if (o[k]) q.set(k, o[k]!);
      const r = await operatorCall(o, "usage", "GET", `/v1/usage${q.size ? `?${q}` : ""}`);
      if (r.status !== 200) throw new ExitError(2, `usage: ${r.body?.message ?? r.body?.error ?? `HTTP ${r.status}`}`);
      process.stdout.write(o.json ? JSON.stringify(r.body, null, 2) + "\n" : renderUsage(r.body as UsageReport));
    });
}
