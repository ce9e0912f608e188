// Helpers for the export tests: a daemon with an `exports` block (parsed as the config file's would be), JSONL
// reading, polling, and a fake policy whose `pii.*` actions are refused by a `pii` reason naming a detector.
import { readFileSync, existsSync } from "node:fs";
import { parseExportsConfig } from "../../sidecar/exports/config.ts";
import type { PolicyHandle } from "../../sidecar/policy-runtime.ts";
import { combineVerdicts } from "../../sidecar/policy/evaluate.ts";
import { startTestDaemon, tempDir } from "../sidecar/helpers.ts";
import type { DaemonOptions } from "../../sidecar/daemon.ts";
import type { SidecarConfig } from "../../sidecar/config.ts";

export async function startExportDaemon(
  exportsBlock: unknown,
  opts: Partial<Omit<DaemonOptions, "config">> & { config?: Partial<SidecarConfig>; dataDir?: string; base?: string } = {},
) {
  const base = opts.base ?? tempDir("isc-exports-");
  const exports = parseExportsConfig(exportsBlock, base)!;
  const { base: _b, ...rest } = opts;
  return startTestDaemon({ ...rest, config: { ...opts.config, exports } });
}

export function readJsonl(path: string): Record<string, any>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000, what = "condition"): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Allows `ok.*`; refuses `pii.*` with a `pii` reason per detector named in params.detectors (as the pii block
 * reports: the detector and the JSON path, never the value); denies anything else. */
export function piiPolicy(): PolicyHandle {
  const current = { digest: "sha256:" + "cd".repeat(32), config: {} };
  return {
    provider: {
      current: () => current,
      async evaluate(_p, intent) {
        if (intent.action.startsWith("ok.")) return [{ block: "actions", effect: "allow", reasons: [] }];
        if (intent.action.startsWith("pii.")) {
          const detectors = (intent.params as { detectors?: string[] }).detectors ?? ["us_ssn"];
          return [
            {
              block: "pii",
              effect: "deny",
              reasons: detectors.map((d) => ({ block: "pii", rule: d, message: `${d} found at params.args.note` })),
            },
          ];
        }
        return [{ block: "actions", effect: "abstain", reasons: [] }];
      },
      combine: combineVerdicts,
    },
    lastError: () => null,
    reload: async () => ({ ok: true, digest: current.digest }),
    onReload: () => {},
    close: async () => {},
  } as PolicyHandle;
}

/** A loopback HTTP receiver that records each POST (headers and raw body) and answers `fail` for the first
 * `failFirst` requests. */
export interface Receiver {
  url: string;
  port: number;
  requests: { path: string; headers: Record<string, string | string[] | undefined>; body: Buffer }[];
  close(): Promise<void>;
}

export async function startReceiver(
  opts: { port?: number; failFirst?: number; fail?: { status: number; body: string } } = {},
): Promise<Receiver> {
  const { createServer } = await import("node:http");
  const requests: Receiver["requests"] = [];
  let seen = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (seen++ < (opts.failFirst ?? 0)) {
        const f = opts.fail ?? { status: 503, body: '{"text":"Server is busy","code":9}' };
        res.writeHead(f.status, { "content-type": "application/json" }).end(f.body);
        return;
      }
      requests.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "application/json" }).end(req.url?.startsWith("/v1/logs") ? "{}" : '{"text":"Success","code":0}');
    });
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A free loopback port (nothing listens on it afterwards). */
export async function freePort(): Promise<number> {
  const r = await startReceiver();
  await r.close();
  return r.port;
}

/** The events of HEC requests (one JSON object per line, as the sink sends them). */
export function hecEvents(r: Receiver): Record<string, any>[] {
  return r.requests.flatMap((q) =>
    q.body
      .toString("utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>),
  );
}
