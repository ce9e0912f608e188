// Secure defaults for `intent-sidecar start`: with no agent (or operator) tokens configured and no `--dev`, the first
// start generates one (32 random bytes, base64url) into `<data-dir>/agent-token` / `<data-dir>/operator-token`
// (mode 0600); later starts reuse them. The token named `agent` is the agent's, `operator` the operator's. A token
// file is created atomically (temp file + link), so two starts racing on a new data dir end up with the same token.
import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SidecarConfig } from "./config.ts";
import { privateDir } from "./datadir.ts";

export const AGENT_TOKEN_FILE = "agent-token";
export const OPERATOR_TOKEN_FILE = "operator-token";
export const GENERATED_AGENT = "agent";
export const GENERATED_OPERATOR = "operator";

export interface TokenFiles {
  /** Set when the agent token came from (or was written to) this file. */
  agentTokenFile?: string;
  operatorTokenFile?: string;
  /** The files this start created (first start). */
  created: string[];
}

/** A new token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Reads the token in `file`, creating it (0600) with a new token when it does not exist. */
export function readOrCreateToken(file: string): { token: string; created: boolean } {
  const read = () => {
    const token = readFileSync(file, "utf8").trim();
    if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) {
      throw new Error(`${file} does not hold a token (expected one line of base64url); delete it to generate a new one`);
    }
    chmodSync(file, 0o600);
    return token;
  };
  try {
    return { token: read(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const token = newToken();
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, token + "\n", { mode: 0o600, flag: "wx" });
  try {
    chmodSync(tmp, 0o600);
    linkSync(tmp, file); // fails with EEXIST if another start won the race: use its token
    return { token, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return { token: read(), created: false };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The config with generated tokens filled in where none are configured (nothing in dev mode: `start --dev`). */
export function provisionTokens(config: SidecarConfig, opts: { dev?: boolean } = {}): { config: SidecarConfig; files: TokenFiles } {
  const files: TokenFiles = { created: [] };
  if (opts.dev) return { config, files };
  const needAgent = Object.keys(config.agentTokens).length === 0;
  const needOperator = Object.keys(config.operatorTokens).length === 0;
  if (!needAgent && !needOperator) return { config, files };
  privateDir(config.dataDir);
  const out = { ...config };
  if (needAgent) {
    const file = join(config.dataDir, AGENT_TOKEN_FILE);
    const r = readOrCreateToken(file);
    out.agentTokens = { [GENERATED_AGENT]: r.token };
    files.agentTokenFile = file;
    if (r.created) files.created.push(file);
  }
  if (needOperator) {
    const file = join(config.dataDir, OPERATOR_TOKEN_FILE);
    const r = readOrCreateToken(file);
    out.operatorTokens = { [GENERATED_OPERATOR]: r.token };
    files.operatorTokenFile = file;
    if (r.created) files.created.push(file);
  }
  return { config: out, files };
}
