// Test helpers: an in-process daemon on 127.0.0.1 port 0 with a temp data dir, and a tiny JSON HTTP client.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type SidecarConfig } from "../../sidecar/config.ts";
import { startDaemon, type Daemon, type DaemonOptions } from "../../sidecar/daemon.ts";
import { silentLogger } from "../../sidecar/log.ts";

export function tempDir(prefix = "isc-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function startTestDaemon(
  opts: Partial<Omit<DaemonOptions, "config">> & { config?: Partial<SidecarConfig>; dataDir?: string } = {},
): Promise<Daemon & { url: string; dataDir: string }> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = {
    ...loadConfig({ dataDir, agentAddr: "127.0.0.1:0", proxyAddr: "127.0.0.1:0", operatorAddr: "127.0.0.1:0" }, {}),
    ...opts.config,
  };
  const { config: _c, dataDir: _d, ...rest } = opts;
  const d = await startDaemon({ log: silentLogger(), ...rest, config });
  return Object.assign(d, { url: `http://${d.agentAddr}`, dataDir });
}

export async function http(
  url: string,
  init: {
    method?: string;
    body?: unknown;
    raw?: string | Uint8Array;
    token?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | Uint8Array | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const res = await fetch(url, {
    method: init.method ?? (body !== undefined ? "POST" : "GET"),
    headers,
    body: body as BodyInit | undefined,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
