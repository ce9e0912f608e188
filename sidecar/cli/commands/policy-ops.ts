// `intent-sidecar policy reload | list | data update`: day-two operations on a running sidecar's policy through the
// operator API (POST /v1/policy/reload, GET /v1/policy, PUT /v1/policy/data/{path}).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { parse as parseYAML } from "yaml";
import { ExitError } from "../exit.ts";
import { operatorCall, withOperatorOptions, type OperatorOpts } from "../operator-client.ts";
import { parseDataPath } from "../../policy/data-overlay.ts";

type Opts = OperatorOpts & { json?: boolean };

function rel(p: string, base: string): string {
  const r = path.relative(path.dirname(base), p);
  return r && !r.startsWith("..") ? r : p;
}

function short(d: string | undefined): string {
  return d ? d.replace(/^sha256:/, "").slice(0, 12) : "-";
}

/** The text form of a reload answer. */
export function formatReload(r: any): string {
  if (!r.ok) return `reload refused; the last valid policy stays active:\n${r.error ?? r.message ?? "unknown error"}\n`;
  const lines: string[] = [];
  if (!r.changed) lines.push(`policy unchanged (${r.digest})`);
  else lines.push(`policy reloaded: ${r.previous_digest ?? "-"} -> ${r.digest}`);
  const c = r.changes as { added: string[]; removed: string[]; modified: string[] } | undefined;
  if (c) {
    for (const f of c.modified) lines.push(`  modified  ${f}`);
    for (const f of c.added) lines.push(`  added     ${f}`);
    for (const f of c.removed) lines.push(`  removed   ${f}`);
  }
  return lines.join("\n") + "\n";
}

/** The text form of GET /v1/policy. */
export function formatList(s: any): string {
  const lines = [`policy   ${s.file}`, `digest   ${s.digest}`];
  if (s.files_digest !== s.digest) lines.push(`files    ${s.files_digest} (before external data)`);
  lines.push(`loaded   ${s.loaded_at}`);
  if (s.bundle) lines.push(`bundle   ${s.bundle.path} revision ${s.bundle.revision ?? "-"}${s.bundle.signed ? ` (signed${s.bundle.keyid ? `, keyid ${s.bundle.keyid}` : ""})` : ""}`);
  lines.push("");
  const rows = [["KIND", "FILE", "DIGEST", "CHANGED"], ...s.files.map((f: any) => [f.kind, rel(f.path, s.file), short(f.digest), f.changed_at])];
  for (const d of s.data) rows.push(["ext-data", d.path, short(d.digest), `${d.updated_at} by ${d.updated_by || "-"}`]);
  const w = rows[0]!.map((_: string, i: number) => Math.max(...rows.map((r: string[]) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((c: string, i: number) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join("  "));
  lines.push("");
  lines.push(s.last_error ? `last reload error (${s.last_error.at}):\n${s.last_error.message}` : "last reload error: none");
  const p = s.pending;
  if (p.files.length || p.settling) {
    lines.push(`pending${p.settling ? " (settling)" : ""}:`);
    for (const f of p.files) lines.push(`  ${f.state.padEnd(8)}  ${rel(f.path, s.file)}`);
  } else lines.push("pending: nothing");
  return lines.join("\n") + "\n";
}

function readDataFile(file: string): unknown {
  if (!existsSync(file)) throw new ExitError(2, `${file}: no such file`);
  const text = readFileSync(file, "utf8");
  try {
    return file.endsWith(".json") ? JSON.parse(text) : parseYAML(text);
  } catch (e) {
    throw new ExitError(2, `${file}: ${(e as Error).message}`);
  }
}

export function registerPolicyOps(policy: Command): void {
  withOperatorOptions(
    policy
      .command("reload")
      .description("reload the running sidecar's policy now (POST /v1/policy/reload): prints what changed, or why the new version was refused"),
  )
    .option("--json", "print the operator API's JSON")
    .action(async (o: Opts) => {
      const r = await operatorCall(o, "policy reload", "POST", "/v1/policy/reload");
      process.stdout.write(o.json ? JSON.stringify(r.body, null, 2) + "\n" : formatReload(r.body));
      if (!r.body.ok) throw new ExitError(1);
    });

  withOperatorOptions(
    policy
      .command("list")
      .description("the running sidecar's active policy (GET /v1/policy): digest, files and external data with digests and change times, last reload error, pending changes"),
  )
    .option("--json", "print the operator API's JSON")
    .action(async (o: Opts) => {
      const r = await operatorCall(o, "policy list", "GET", "/v1/policy");
      if (r.status !== 200) throw new ExitError(1, `policy list: ${r.body.message ?? r.body.error}`);
      process.stdout.write(o.json ? JSON.stringify(r.body, null, 2) + "\n" : formatList(r.body));
    });

  const data = policy.command("data").description("external data for the network rules of a running sidecar");
  withOperatorOptions(
    data
      .command("update")
      .description("replace a subtree of `data` in the running sidecar from a JSON or YAML file (PUT /v1/policy/data/{path}); audited, persisted in the data dir")
      .argument("<file>", "JSON or YAML file holding the new value")
      .option("--at <path>", "where to place it: data.a.b (default: data, the whole document)", "data"),
  )
    .option("--json", "print the operator API's JSON")
    .action(async (file: string, o: Opts & { at: string }) => {
      let segs: string[];
      try {
        segs = parseDataPath(o.at);
      } catch (e) {
        throw new ExitError(2, `--at: ${(e as Error).message}`);
      }
      const value = readDataFile(file);
      const url = "/v1/policy/data" + (segs.length ? "/" + segs.map(encodeURIComponent).join("/") : "");
      const r = await operatorCall(o, "policy data update", "PUT", url, JSON.stringify(value));
      if (o.json) process.stdout.write(JSON.stringify(r.body, null, 2) + "\n");
      if (r.status !== 200) throw new ExitError(1, `policy data update refused: ${r.body.message ?? r.body.error}`);
      if (!o.json) process.stdout.write(`${r.body.path} updated: policy ${r.body.digest_before} -> ${r.body.digest_after}\n`);
    });
}
