// A small operator API client for the CLI commands that talk to a running sidecar (`policy reload|list|data
// update`), found and authenticated as `holds` does: --url / INTENT_SIDECAR_OPERATOR_URL (default
// http://127.0.0.1:7402); --token / INTENT_SIDECAR_OPERATOR_TOKEN, else --token-file /
// INTENT_SIDECAR_OPERATOR_TOKEN_FILE / ./.intent-sidecar/operator-token. Exit 2 for usage, I/O and auth problems.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { ExitError } from "./exit.ts";

export interface OperatorOpts {
  url?: string;
  token?: string;
  tokenFile?: string;
}

export const DEFAULT_OPERATOR_URL = "http://127.0.0.1:7402";

export function withOperatorOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", `operator API base URL (env INTENT_SIDECAR_OPERATOR_URL, default ${DEFAULT_OPERATOR_URL})`)
    .option("--token <token>", "operator token (env INTENT_SIDECAR_OPERATOR_TOKEN)")
    .option("--token-file <file>", "file holding the operator token (env INTENT_SIDECAR_OPERATOR_TOKEN_FILE; default ./.intent-sidecar/operator-token if it exists)");
}

/** The operator token in --token-file / INTENT_SIDECAR_OPERATOR_TOKEN_FILE, or in the default data dir's generated
 * file (`what` names the command in errors). */
export function tokenFromFile(flag: string | undefined, what: string): string | undefined {
  const named = flag ?? process.env.INTENT_SIDECAR_OPERATOR_TOKEN_FILE;
  const file = resolve(named || ".intent-sidecar/operator-token");
  if (!named && !existsSync(file)) return undefined;
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch (e) {
    throw new ExitError(2, `${what}: cannot read the operator token file ${file}: ${(e as Error).message}`);
  }
}

/** Calls the operator API. Returns {status, body} for answers the caller interprets (2xx and 4xx other than 401). */
export async function operatorCall(
  opts: OperatorOpts,
  what: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: any }> {
  const base = (opts.url ?? process.env.INTENT_SIDECAR_OPERATOR_URL ?? DEFAULT_OPERATOR_URL).replace(/\/+$/, "");
  const token = opts.token ?? (process.env.INTENT_SIDECAR_OPERATOR_TOKEN || tokenFromFile(opts.tokenFile, what));
  if (!token) throw new ExitError(2, `${what}: an operator token is required: pass --token or --token-file, or set INTENT_SIDECAR_OPERATOR_TOKEN`);
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new ExitError(2, `${what}: cannot reach the operator API at ${base} (${cause?.code ?? cause?.message ?? (e as Error).message}); is the sidecar running? (--url)`);
  }
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ExitError(2, `${what}: ${base}${path} answered HTTP ${res.status} with a non-JSON body; is --url the operator listener?`);
  }
  if (res.status === 401) throw new ExitError(2, `${what}: the operator token was refused (401); check --token / INTENT_SIDECAR_OPERATOR_TOKEN`);
  if (res.status === 404 && parsed?.error === "not_found" && /no route/.test(String(parsed.message)))
    throw new ExitError(2, `${what}: this sidecar has no ${method} ${path} route (an older version, or no policy manager)`);
  if (res.status >= 500) throw new ExitError(2, `${what}: ${parsed?.message ?? `HTTP ${res.status}`}`);
  return { status: res.status, body: parsed };
}
