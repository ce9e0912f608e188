// `intent-sidecar ca export|env`: the proxy's local CA for sandboxes. `export` prints the CA certificate (PEM);
// `env` prints the variables a sandboxed process needs to send its traffic through the proxy and trust its CA.
// Both create the CA in the data directory when it does not exist yet, so a sandbox can be prepared before start.
// `env` also sets NO_PROXY / no_proxy to the sidecar's own listeners (loopback and the configured agent and operator
// hosts): an agent behind HTTP_PROXY must reach the agent API directly, not through the proxy (which refuses it).
import type { Command } from "commander";
import { CertificateAuthority, CaError } from "../../../proxy/ca.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

function settings(opts: DirOpts): { dataDir: string; proxyAddr: string; apiAddrs: string[] } {
  const cfg = configFromOpts(opts);
  return { dataDir: cfg.dataDir, proxyAddr: cfg.proxyAddr, apiAddrs: [cfg.agentAddr, cfg.operatorAddr] };
}

/** NO_PROXY entries for the sidecar's own API listeners: loopback in every spelling plus the hosts of `apiAddrs`
 * ("host:port"). Hosts without ports, which curl, Python, Go and undici all read; an IPv6 host is given bare (curl,
 * Python) and in brackets (undici and Go compare the URL's bracketed form). Wildcard listen addresses (0.0.0.0, ::)
 * are not destinations and are left out. */
export function noProxyHosts(apiAddrs: string[]): string[] {
  const hosts = ["127.0.0.1", "localhost", "::1"];
  for (const a of apiAddrs) {
    const host = a.slice(0, a.lastIndexOf(":")).replace(/^\[|\]$/g, "").toLowerCase();
    if (host && host !== "0.0.0.0" && host !== "::") hosts.push(host);
  }
  const out: string[] = [];
  for (const h of hosts) for (const v of h.includes(":") ? [h, `[${h}]`] : [h]) if (!out.includes(v)) out.push(v);
  return out;
}

async function openCa(dataDir: string): Promise<CertificateAuthority> {
  try {
    return await CertificateAuthority.loadOrCreate(dataDir);
  } catch (e) {
    if (e instanceof CaError) throw new ExitError(2, `intent-sidecar: ${e.message}`);
    throw new ExitError(2, `intent-sidecar: cannot create the proxy CA in ${dataDir}: ${(e as Error).message}`);
  }
}

/** The environment for a sandboxed process, in order. */
export function sandboxEnv(proxyAddr: string, caCertPath: string, apiAddrs: string[] = []): [string, string][] {
  const proxyUrl = `http://${proxyAddr}`;
  const noProxy = noProxyHosts(apiAddrs).join(",");
  return [
    ["HTTPS_PROXY", proxyUrl],
    ["HTTP_PROXY", proxyUrl],
    ["https_proxy", proxyUrl],
    ["http_proxy", proxyUrl],
    ["NO_PROXY", noProxy],
    ["no_proxy", noProxy],
    ["NODE_EXTRA_CA_CERTS", caCertPath],
    ["SSL_CERT_FILE", caCertPath],
    ["REQUESTS_CA_BUNDLE", caCertPath],
    ["CURL_CA_BUNDLE", caCertPath],
  ];
}

const shellQuote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

export function registerCa(program: Command): void {
  const ca = program.command("ca").description("the proxy's local certificate authority (for sandboxes)");
  ca.command("export")
    .description("print the proxy CA certificate (PEM), creating the CA on first use")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir)")
    .action(async (opts: DirOpts) => {
      const authority = await openCa(settings(opts).dataDir);
      process.stdout.write(authority.certPem);
    });
  ca.command("env")
    .description(
      "print the environment a sandbox needs: HTTPS_PROXY, NO_PROXY (the sidecar's own APIs) and the CA bundle variables (eval-able)",
    )
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir, proxy_addr, and agent_addr/operator_addr for NO_PROXY)")
    .option(
      "--proxy-addr <host:port>",
      "proxy address to point at (default: the configured proxy_addr, 127.0.0.1:7401)",
    )
    .option("--agent-addr <host:port>", "the agent API's address, kept out of the proxy (NO_PROXY); default: configured")
    .option("--operator-addr <host:port>", "the operator API's address for NO_PROXY (default: the configured one)")
    .option("--format <format>", "shell (export lines, default), dotenv (KEY=value) or json", "shell")
    .action(async (opts: DirOpts & { proxyAddr?: string; agentAddr?: string; operatorAddr?: string; format: string }) => {
      if (!["shell", "dotenv", "json"].includes(opts.format)) {
        throw new ExitError(2, `intent-sidecar: --format must be shell, dotenv or json, not "${opts.format}"`);
      }
      for (const [flag, v, eg] of [
        ["--proxy-addr", opts.proxyAddr, "127.0.0.1:7401"],
        ["--agent-addr", opts.agentAddr, "127.0.0.1:7400"],
        ["--operator-addr", opts.operatorAddr, "127.0.0.1:7402"],
      ] as const) {
        if (v !== undefined && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(v)) {
          throw new ExitError(2, `intent-sidecar: ${flag} must be "host:port", e.g. "${eg}"`);
        }
      }
      const s = settings(opts);
      const authority = await openCa(s.dataDir);
      const vars = sandboxEnv(opts.proxyAddr ?? s.proxyAddr, authority.files!.certPath, [
        opts.agentAddr ?? s.apiAddrs[0]!,
        opts.operatorAddr ?? s.apiAddrs[1]!,
      ]);
      if (opts.format === "json") process.stdout.write(JSON.stringify(Object.fromEntries(vars), null, 2) + "\n");
      else if (opts.format === "dotenv") process.stdout.write(vars.map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
      else process.stdout.write(vars.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n") + "\n");
    });
}
