// `intent-sidecar ca export|env`: the proxy's local CA for sandboxes. `export` prints the CA certificate (PEM);
// `env` prints the variables a sandboxed process needs to send its traffic through the proxy and trust its CA.
// Both create the CA in the data directory when it does not exist yet, so a sandbox can be prepared before start.
import type { Command } from "commander";
import { CertificateAuthority, CaError } from "../../../proxy/ca.ts";
import { ExitError } from "../exit.ts";
import { configFromOpts, type DirOpts } from "../config-opts.ts";

function settings(opts: DirOpts): { dataDir: string; proxyAddr: string } {
  const cfg = configFromOpts(opts);
  return { dataDir: cfg.dataDir, proxyAddr: cfg.proxyAddr };
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
export function sandboxEnv(proxyAddr: string, caCertPath: string): [string, string][] {
  const proxyUrl = `http://${proxyAddr}`;
  return [
    ["HTTPS_PROXY", proxyUrl],
    ["HTTP_PROXY", proxyUrl],
    ["https_proxy", proxyUrl],
    ["http_proxy", proxyUrl],
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
    .description("print the environment a sandbox needs: HTTPS_PROXY and the CA bundle variables (eval-able)")
    .option("--data-dir <dir>", "state directory (default ./.intent-sidecar)")
    .option("--config <file>", "config file (for data_dir and proxy_addr)")
    .option(
      "--proxy-addr <host:port>",
      "proxy address to point at (default: the configured proxy_addr, 127.0.0.1:7401)",
    )
    .option("--format <format>", "shell (export lines, default), dotenv (KEY=value) or json", "shell")
    .action(async (opts: DirOpts & { proxyAddr?: string; format: string }) => {
      if (!["shell", "dotenv", "json"].includes(opts.format)) {
        throw new ExitError(2, `intent-sidecar: --format must be shell, dotenv or json, not "${opts.format}"`);
      }
      if (opts.proxyAddr !== undefined && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(opts.proxyAddr)) {
        throw new ExitError(2, `intent-sidecar: --proxy-addr must be "host:port", e.g. "127.0.0.1:7401"`);
      }
      const s = settings(opts);
      const authority = await openCa(s.dataDir);
      const vars = sandboxEnv(opts.proxyAddr ?? s.proxyAddr, authority.files!.certPath);
      if (opts.format === "json") process.stdout.write(JSON.stringify(Object.fromEntries(vars), null, 2) + "\n");
      else if (opts.format === "dotenv") process.stdout.write(vars.map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
      else process.stdout.write(vars.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n") + "\n");
    });
}
