// Daemon configuration: defaults < config file (`--config FILE`, YAML) < environment < command-line flags.
// Relative paths in the config file resolve against the config file's directory.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import {
  AUDIENCE_EXECUTOR,
  AUDIENCE_PROXY,
  DEFAULT_ISSUER,
  DEFAULT_TTL_SECONDS,
  MAX_TTL_SECONDS,
} from "../protocol/index.ts";
import { parsePrincipals, type Principal } from "./principals.ts";
import { parseOpenShellConfig, type OpenShellConfig } from "./openshell/config.ts";
import { parseExportsConfig, type ExportsConfig } from "./exports/config.ts";

/** The package root (where package.json and policy-examples/ live), independent of the working directory. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_POLICY_FILE = resolve(PACKAGE_ROOT, "policy-examples/reference/policy.yaml");

export interface SidecarConfig {
  agentAddr: string;
  proxyAddr: string;
  operatorAddr: string;
  dataDir: string;
  policyFile: string;
  /** `iss` of attestations. */
  issuer: string;
  ttlSeconds: number;
  audiences: { executor: string; proxy: string };
  /** name → token. Empty: dev mode (agent taken from the body). */
  agentTokens: Record<string, string>;
  operatorTokens: Record<string, string>;
  /** name → token for executors (redeem, receipts); never valid for declaring or reading intents. */
  executorTokens?: Record<string, string>;
  /** agent name → its tenant (and team), set by the operator: what `scope: tenant|team` soft limits key on and what
   * an intent's `context.tenant` / `context.team` must not contradict. Absent or empty: no agent has a principal. */
  principals?: Record<string, Principal>;
  bodyLimitBytes: number;
  sandboxId?: string;
  /** SQLite synchronous mode in WAL. */
  synchronous: "NORMAL" | "FULL";
  /** Open connections per listener; one more is closed at once (sidecar/api/http-server.ts). Default 1024/1024/64;
   * the daemon lowers agent and proxy to fit the open-file limit. */
  maxConnections?: { agent: number; proxy: number; operator: number };
  /** OpenShell supervisor middleware and gateway interceptor (sidecar/openshell/config.ts). */
  openshell?: OpenShellConfig;
  /** OCSF exports to the SIEM: JSONL file, Splunk HEC, OTLP logs (sidecar/exports/config.ts). */
  exports?: ExportsConfig;
  /** Fleet mode (docs/fleet.md): the PostgreSQL URL of the shared store (`store: postgres://…` in the config file or
   * INTENT_SIDECAR_DATABASE_URL). Absent: the embedded SQLite store alone. Never logged with its password. */
  databaseUrl?: string;
}

export class ConfigError extends Error {
  readonly code = "config_invalid";
}

export interface ConfigFlags {
  config?: string;
  policy?: string;
  dataDir?: string;
  agentAddr?: string;
  proxyAddr?: string;
  operatorAddr?: string;
  middlewareAddr?: string;
  interceptorAddr?: string;
}

const addr = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'must be "host:port", e.g. "127.0.0.1:7400"');
const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^[0-9]+(s|m|h)?$/, 'must be seconds or "<n>s|m|h"'),
]);
const tokens = z.union([z.record(z.string(), z.string().min(1)), z.array(z.string()), z.string()]);

const fileSchema = z
  .object({
    agent_addr: addr.optional(),
    proxy_addr: addr.optional(),
    operator_addr: addr.optional(),
    data_dir: z.string().optional(),
    policy: z.string().optional(),
    sidecar_id: z.string().min(1).optional(),
    ttl: duration.optional(),
    audiences: z
      .object({ executor: z.string().min(1).optional(), proxy: z.string().min(1).optional() })
      .strict()
      .optional(),
    agent_tokens: tokens.optional(),
    operator_tokens: tokens.optional(),
    executor_tokens: tokens.optional(),
    // validated by parsePrincipals (messages name the path, e.g. principals.treasury-bot.tenant)
    principals: z.unknown().optional(),
    body_limit: z.union([z.number().int().positive(), z.string().regex(/^[0-9]+(k|kb|KiB|m|mb|MiB)?$/)]).optional(),
    sandbox_id: z.string().optional(),
    sqlite_synchronous: z.enum(["NORMAL", "FULL"]).optional(),
    openshell: z.unknown().optional(), // validated by parseOpenShellConfig
    exports: z.unknown().optional(), // validated by parseExportsConfig (messages name the path, e.g. exports.splunk_hec.url)
    store: z.string().min(1).optional(), // "sqlite" (default) or a postgres:// URL; checked by storeUrl
    max_connections: z
      .object({
        agent: z.number().int().positive().optional(),
        proxy: z.number().int().positive().optional(),
        operator: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

function seconds(v: number | string): number {
  if (typeof v === "number") return v;
  const m = /^([0-9]+)(s|m|h)?$/.exec(v)!;
  return Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1);
}

function bytes(v: number | string): number {
  if (typeof v === "number") return v;
  const m = /^([0-9]+)(k|kb|KiB|m|mb|MiB)?$/.exec(v)!;
  const unit = m[2]?.toLowerCase().startsWith("k") ? 1024 : m[2]?.toLowerCase().startsWith("m") ? 1024 * 1024 : 1;
  return Number(m[1]) * unit;
}

/** Parses `name=token,name=token` (env form), a list of such strings, or a name → token map. */
export function parseTokens(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null || v === "") return {};
  if (typeof v === "object" && !Array.isArray(v)) return { ...(v as Record<string, string>) };
  const parts = Array.isArray(v) ? v : String(v).split(",");
  const out: Record<string, string> = {};
  for (const raw of parts) {
    const p = String(raw).trim();
    if (!p) continue;
    const eq = p.indexOf("=");
    if (eq <= 0 || eq === p.length - 1) throw new ConfigError(`${where}: "${p.split("=")[0]}=…" must be name=token`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  let file: z.infer<typeof fileSchema> = {};
  let base = process.cwd();
  if (flags.config) {
    const path = resolve(flags.config);
    base = dirname(path);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = parseYaml(text) ?? {};
    } catch (e) {
      throw new ConfigError(`${path}: not valid YAML: ${(e as Error).message}`);
    }
    const r = fileSchema.safeParse(raw);
    if (!r.success) {
      const msg = r.error.issues
        .map(
          (i) =>
            `${i.path.join(".") || "(file)"}: ${i.code === "unrecognized_keys" ? `unknown key(s) ${i.keys.join(", ")}` : i.message}`,
        )
        .join("; ");
      throw new ConfigError(`${path}: ${msg}`);
    }
    file = r.data;
  }
  const ttlSeconds = file.ttl !== undefined ? seconds(file.ttl) : DEFAULT_TTL_SECONDS;
  if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new ConfigError(`ttl: ${ttlSeconds}s is out of range; use 1s to ${MAX_TTL_SECONDS}s`);
  }
  let principals: Record<string, Principal>;
  try {
    principals = parsePrincipals(file.principals);
  } catch (e) {
    throw new ConfigError(`${flags.config ? `${resolve(flags.config)}: ` : ""}${(e as Error).message}`);
  }
  const envAgent = parseTokens(env.INTENT_SIDECAR_AGENT_TOKENS, "INTENT_SIDECAR_AGENT_TOKENS");
  const envOperator = parseTokens(env.INTENT_SIDECAR_OPERATOR_TOKENS, "INTENT_SIDECAR_OPERATOR_TOKENS");
  const envExecutor = parseTokens(env.INTENT_SIDECAR_EXECUTOR_TOKENS, "INTENT_SIDECAR_EXECUTOR_TOKENS");
  const cfg: SidecarConfig = {
    agentAddr: flags.agentAddr ?? file.agent_addr ?? "127.0.0.1:7400",
    proxyAddr: flags.proxyAddr ?? file.proxy_addr ?? "127.0.0.1:7401",
    operatorAddr: flags.operatorAddr ?? file.operator_addr ?? "127.0.0.1:7402",
    dataDir: flags.dataDir
      ? resolve(flags.dataDir)
      : file.data_dir
        ? resolve(base, file.data_dir)
        : resolve(".intent-sidecar"),
    policyFile: flags.policy ? resolve(flags.policy) : file.policy ? resolve(base, file.policy) : DEFAULT_POLICY_FILE,
    issuer: file.sidecar_id ?? DEFAULT_ISSUER,
    ttlSeconds,
    audiences: {
      executor: file.audiences?.executor ?? AUDIENCE_EXECUTOR,
      proxy: file.audiences?.proxy ?? AUDIENCE_PROXY,
    },
    agentTokens: { ...parseTokens(file.agent_tokens, "agent_tokens"), ...envAgent },
    operatorTokens: { ...parseTokens(file.operator_tokens, "operator_tokens"), ...envOperator },
    executorTokens: { ...parseTokens(file.executor_tokens, "executor_tokens"), ...envExecutor },
    principals,
    bodyLimitBytes: file.body_limit !== undefined ? bytes(file.body_limit) : 256 * 1024,
    synchronous: file.sqlite_synchronous ?? "NORMAL",
    maxConnections: {
      agent: file.max_connections?.agent ?? 1024,
      proxy: file.max_connections?.proxy ?? 1024,
      operator: file.max_connections?.operator ?? 64,
    },
  };
  for (const [k, v] of [
    ["--agent-addr", cfg.agentAddr],
    ["--proxy-addr", cfg.proxyAddr],
    ["--operator-addr", cfg.operatorAddr],
  ]) {
    if (!addr.safeParse(v).success) throw new ConfigError(`${k} ${v}: must be "host:port", e.g. "127.0.0.1:7400"`);
  }
  if (file.sandbox_id !== undefined) cfg.sandboxId = file.sandbox_id;
  const databaseUrl = storeUrl(env.INTENT_SIDECAR_DATABASE_URL || file.store, env.INTENT_SIDECAR_DATABASE_URL ? "INTENT_SIDECAR_DATABASE_URL" : "store");
  if (databaseUrl) cfg.databaseUrl = databaseUrl;
  try {
    const openshell = parseOpenShellConfig(file.openshell, base, flags);
    if (openshell) cfg.openshell = openshell;
  } catch (e) {
    throw new ConfigError(`${flags.config ? `${resolve(flags.config)}: ` : ""}${(e as Error).message}`);
  }
  try {
    const exports = parseExportsConfig(file.exports, base);
    if (exports) cfg.exports = exports;
  } catch (e) {
    throw new ConfigError(`${flags.config ? `${resolve(flags.config)}: ` : ""}${(e as Error).message}`);
  }
  // one token, one role: an executor token equal to an agent or operator token would blur the roles
  const others = new Set([...Object.values(cfg.agentTokens), ...Object.values(cfg.operatorTokens)]);
  const shared = Object.entries(cfg.executorTokens ?? {}).filter(([, t]) => others.has(t));
  if (shared.length > 0)
    throw new ConfigError(`executor token(s) ${shared.map(([n]) => n).join(", ")}: equal to an agent or operator token`);
  return cfg;
}

/** `store:` / INTENT_SIDECAR_DATABASE_URL: "sqlite" (or absent) → undefined; a postgres:// URL → itself. */
export function storeUrl(v: string | undefined, where: string): string | undefined {
  if (v === undefined || v === "" || v === "sqlite") return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`${where}: must be "sqlite" or a PostgreSQL URL such as postgres://user@db.internal:5432/intent_sidecar`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:")
    throw new ConfigError(`${where}: unsupported store ${u.protocol.replace(/:$/, "")}; use "sqlite" or a postgres:// URL`);
  if (!u.hostname && !u.searchParams.get("host")) throw new ConfigError(`${where}: the PostgreSQL URL needs a host`);
  return v;
}

/** The URL without its password, for logs and /healthz. */
export function redactedStoreUrl(v: string): string {
  try {
    const u = new URL(v);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparseable)";
  }
}

export function splitAddr(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(":");
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(a.slice(i + 1)) };
}
