// The `exports` block of the sidecar config file: which SIEM sinks receive the OCSF events.
//   exports:
//     ocsf_jsonl: /var/log/intent-sidecar/ocsf.jsonl          # or {path, max_bytes: 100MiB, keep: 5}
//     splunk_hec: {url: https://splunk:8088, token_file: /etc/isc/hec-token, batch: 100}
//     otlp: {endpoint: http://127.0.0.1:4318}
// Relative paths resolve against the config file's directory. Every mistake is refused with the key path.
import { resolve } from "node:path";
import { z } from "zod";

export interface RetryConfig {
  /** Delivery attempts of one event before it is set aside as dead (counted, kept in the outbox for a week). */
  maxAttempts: number;
  initialMs: number;
  maxMs: number;
  /** How often queued events are sent (they are also sent shortly after they are queued). */
  flushMs: number;
  /** Events per delivery (one file append, one HEC POST, one OTLP request). */
  batch: number;
  timeoutMs: number;
}

export interface JsonlSinkConfig extends RetryConfig {
  path: string;
  maxBytes: number;
  keep: number;
}

export interface HecSinkConfig extends RetryConfig {
  url: string;
  tokenFile: string;
  sourcetype: string;
  source?: string;
  index?: string;
  host?: string;
}

export interface OtlpSinkConfig extends RetryConfig {
  /** The collector's base URL (`/v1/logs` is appended) or its full logs URL. */
  endpoint: string;
  headers: Record<string, string>;
  serviceName: string;
}

export interface ExportsConfig {
  ocsfJsonl?: JsonlSinkConfig;
  splunkHec?: HecSinkConfig;
  otlp?: OtlpSinkConfig;
}

const SIZE = /^([0-9]+)\s*(B|KiB|MiB|GiB|k|kb|m|mb|g|gb)?$/i;
const size = z.union([
  z.number().int().positive(),
  z.string().regex(SIZE, 'must be bytes or "<n>KiB|MiB|GiB", e.g. "100MiB"'),
]);

function bytes(v: number | string): number {
  if (typeof v === "number") return v;
  const m = SIZE.exec(v)!;
  const u = (m[2] ?? "b").toLowerCase()[0];
  return Number(m[1]) * (u === "k" ? 1024 : u === "m" ? 1024 ** 2 : u === "g" ? 1024 ** 3 : 1);
}

const retryFields = {
  batch: z.number().int().min(1).max(10_000).optional(),
  flush_ms: z.number().int().min(10).max(600_000).optional(),
  timeout_ms: z.number().int().min(100).max(600_000).optional(),
  max_attempts: z.number().int().min(1).max(1000).optional(),
  retry_initial_ms: z.number().int().min(10).max(3_600_000).optional(),
  retry_max_ms: z.number().int().min(10).max(86_400_000).optional(),
};

const httpUrl = z.string().refine((u) => {
  try {
    return ["http:", "https:"].includes(new URL(u).protocol);
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL, e.g. "https://splunk.example.com:8088"');

const jsonlObject = z
  .object({ path: z.string().min(1), max_bytes: size.optional(), keep: z.number().int().min(0).max(1000).optional(), ...retryFields })
  .strict();

const schema = z
  .object({
    ocsf_jsonl: z.union([z.string().min(1), jsonlObject], { error: "must be a file path or {path, max_bytes, keep}" }).optional(),
    splunk_hec: z
      .object({
        url: httpUrl,
        token_file: z.string().min(1, "must name the file holding the HEC token"),
        sourcetype: z.string().min(1).optional(),
        source: z.string().min(1).optional(),
        index: z.string().min(1).optional(),
        host: z.string().min(1).optional(),
        ...retryFields,
      })
      .strict()
      .optional(),
    otlp: z
      .object({
        endpoint: httpUrl,
        headers: z.record(z.string(), z.string()).optional(),
        service_name: z.string().min(1).optional(),
        ...retryFields,
      })
      .strict()
      .optional(),
  })
  .strict();

function isLoopback(u: string): boolean {
  const h = new URL(u).hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\./.test(h);
}

function retry(v: z.infer<typeof jsonlObject> | Partial<Record<keyof typeof retryFields, number>>, d: RetryConfig): RetryConfig {
  return {
    batch: v.batch ?? d.batch,
    flushMs: v.flush_ms ?? d.flushMs,
    timeoutMs: v.timeout_ms ?? d.timeoutMs,
    maxAttempts: v.max_attempts ?? d.maxAttempts,
    initialMs: v.retry_initial_ms ?? d.initialMs,
    maxMs: v.retry_max_ms ?? d.maxMs,
  };
}

const FILE_DEFAULTS: RetryConfig = { batch: 500, flushMs: 200, timeoutMs: 10_000, maxAttempts: 100, initialMs: 200, maxMs: 60_000 };
const NET_DEFAULTS: RetryConfig = { batch: 100, flushMs: 1000, timeoutMs: 10_000, maxAttempts: 50, initialMs: 1000, maxMs: 300_000 };

/** Parses the block (undefined: no exports). `base` is the config file's directory. Throws Error("exports.…: …"). */
export function parseExportsConfig(raw: unknown, base: string): ExportsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = schema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues
      .map((i) => `exports${i.path.length ? "." + i.path.join(".") : ""}: ${i.code === "unrecognized_keys" ? `unknown key(s) ${i.keys.join(", ")}` : i.message}`)
      .join("; ");
    throw new Error(msg);
  }
  const v = r.data;
  const out: ExportsConfig = {};
  if (v.ocsf_jsonl !== undefined) {
    const j = typeof v.ocsf_jsonl === "string" ? { path: v.ocsf_jsonl } : v.ocsf_jsonl;
    out.ocsfJsonl = {
      ...retry(j, FILE_DEFAULTS),
      path: resolve(base, j.path),
      maxBytes: j.max_bytes !== undefined ? bytes(j.max_bytes) : 100 * 1024 ** 2,
      keep: j.keep ?? 5,
    };
    if (out.ocsfJsonl.maxBytes < 4096) throw new Error("exports.ocsf_jsonl.max_bytes: must be at least 4096 bytes");
  }
  if (v.splunk_hec) {
    const h = v.splunk_hec;
    if (new URL(h.url).protocol === "http:" && !isLoopback(h.url)) {
      throw new Error(`exports.splunk_hec.url: ${h.url} is plain http to another host; use https:// (the HEC token would cross the network in clear)`);
    }
    out.splunkHec = {
      ...retry(h, NET_DEFAULTS),
      url: h.url,
      tokenFile: resolve(base, h.token_file),
      sourcetype: h.sourcetype ?? "ocsf",
      ...(h.source ? { source: h.source } : {}),
      ...(h.index ? { index: h.index } : {}),
      ...(h.host ? { host: h.host } : {}),
    };
  }
  if (v.otlp) {
    out.otlp = {
      ...retry(v.otlp, NET_DEFAULTS),
      endpoint: v.otlp.endpoint,
      headers: v.otlp.headers ?? {},
      serviceName: v.otlp.service_name ?? "intent-sidecar",
    };
  }
  for (const [k, s] of [["ocsf_jsonl", out.ocsfJsonl], ["splunk_hec", out.splunkHec], ["otlp", out.otlp]] as const) {
    if (s && s.initialMs > s.maxMs) throw new Error(`exports.${k}.retry_initial_ms: must not exceed retry_max_ms (${s.maxMs})`);
  }
  return Object.keys(out).length ? out : undefined;
}
