// `intent-sidecar nemoclaw check`: runs, on the installed declaration, the checks NemoClaw runs before onboarding
// and activation (file modes and owners, safe parent folders, CA files, the live socket), so a failure shows up
// here with a sentence instead of inside NemoClaw as a bare reason class.
import fs from "node:fs";
import path from "node:path";
import { socketAnswers } from "./socket-probe.ts";
import { X509Certificate } from "node:crypto";
import { NemoClawContractError } from "./contract.ts";
import { buildDeclaration, readDeclaration } from "./declaration.ts";
import { probeService } from "./service-probe.ts";

export interface CheckResult {
  check: string;
  ok: boolean;
  message: string;
}

const uid = () => (typeof process.getuid === "function" ? process.getuid() : -1);

/** Every folder from the filesystem root down to `target`'s parent must be owned by us or root and not writable
 * by group or others (NemoClaw's rule for sockets and CA files). Returns the first offender. */
function unsafeParent(target: string): string | null {
  let current = path.dirname(target);
  const chain: string[] = [];
  while (current !== path.dirname(current)) {
    chain.push(current);
    current = path.dirname(current);
  }
  chain.push(current);
  for (const dir of chain.reverse()) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(dir);
    } catch {
      return null; // a missing folder means a missing file, which the caller reports
    }
    if (stat.isSymbolicLink() || !stat.isDirectory()) return `${dir} (not a folder)`;
    if ((stat.uid !== uid() && stat.uid !== 0) || (stat.mode & 0o022) !== 0) return dir;
  }
  return null;
}

function checkDeclarationFile(file: string): CheckResult {
  const check = "declaration file";
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return { check, ok: false, message: `${file} does not exist; run \`intent-sidecar nemoclaw install\`` };
  }
  if (stat.isSymbolicLink()) return { check, ok: false, message: `${file} is a symbolic link` };
  if (!stat.isFile()) return { check, ok: false, message: `${file} is not a regular file` };
  if (stat.uid !== uid()) return { check, ok: false, message: `${file} belongs to another user` };
  if ((stat.mode & 0o7777) !== 0o600) {
    return { check, ok: false, message: `${file} has mode ${(stat.mode & 0o7777).toString(8)}; NemoClaw needs 600` };
  }
  return { check, ok: true, message: `${file} (mode 600)` };
}

function checkCa(field: string, file: string): CheckResult {
  const check = `${field} CA file`;
  const bad = unsafeParent(file);
  if (bad) return { check, ok: false, message: `${file} is below ${bad}, which is unsafe (group/other-writable)` };
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return {
      check,
      ok: false,
      message: `${file} does not exist; create it with: intent-sidecar ca export --data-dir DIR (or start the sidecar once)`,
    };
  }
  if (!stat.isFile()) return { check, ok: false, message: `${file} is not a regular file (or is a symlink)` };
  if ((stat.uid !== uid() && stat.uid !== 0) || (stat.mode & 0o022) !== 0 || stat.nlink !== 1) {
    return { check, ok: false, message: `${file} must be owned by you or root, not group/other-writable, one link` };
  }
  const pem = fs.readFileSync(file, "utf8");
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/gu) ?? [];
  if (blocks.length === 0 || pem.replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/gu, "").trim()) {
    return { check, ok: false, message: `${file} must hold PEM certificates only (no keys, no other blocks)` };
  }
  for (const block of blocks) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      return { check, ok: false, message: `${file} holds a certificate that does not parse` };
    }
    const now = Date.now();
    if (!cert.ca) return { check, ok: false, message: `${file}: ${cert.subject} is not a CA certificate` };
    if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) <= now) {
      return {
        check,
        ok: false,
        message: `${file}: ${cert.subject} is not currently valid (${cert.validFrom} - ${cert.validTo})`,
      };
    }
  }
  return { check, ok: true, message: `${file} (${blocks.length} CA certificate${blocks.length > 1 ? "s" : ""})` };
}

async function checkSocket(socketPath: string): Promise<CheckResult> {
  const check = "activation socket";
  const bad = unsafeParent(socketPath);
  if (bad)
    return { check, ok: false, message: `${socketPath} is below ${bad}, which is unsafe (group/other-writable)` };
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return { check, ok: false, message: `${socketPath} does not exist; start the sidecar with this data directory` };
  }
  if (!stat.isSocket()) return { check, ok: false, message: `${socketPath} is not a socket` };
  if (stat.uid !== uid() || (stat.mode & 0o077) !== 0) {
    return { check, ok: false, message: `${socketPath} must be yours with mode 600` };
  }
  const live = await socketAnswers(socketPath);
  if (!live) return { check, ok: false, message: `${socketPath} exists but nothing answers; is the sidecar running?` };
  return { check, ok: true, message: `${socketPath} (mode 600, answering)` };
}

/** Runs every check; never throws for a failed check. */
export interface CheckOptions {
  /** Where to reach the middleware from here (default 127.0.0.1:<declared port>; the TLS name stays
   * host.openshell.internal). */
  middlewareAddr?: string;
  /** Skip the gRPC probes (the services are not started by this daemon). */
  skipServices?: boolean;
}

export async function checkInstallation(declarationPath: string, opts: CheckOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [checkDeclarationFile(declarationPath)];
  if (!results[0]!.ok && !fs.existsSync(declarationPath)) return results;
  let declaration;
  try {
    declaration = readDeclaration(declarationPath);
  } catch (err) {
    results.push({ check: "declaration content", ok: false, message: (err as Error).message });
    return results;
  }
  if (!declaration) {
    results.push({ check: "declaration content", ok: false, message: "not a schemaVersion 2 declaration" });
    return results;
  }
  try {
    // Rebuilding from the declared values runs every field check; the result must be the same object.
    const rebuilt = buildDeclaration({
      componentId: declaration.componentId,
      activationSocketPath: declaration.activationSocketPath,
      caCertificatePath: declaration.interceptor?.caCertificatePath,
      interceptorEndpoint: declaration.interceptor?.endpoint,
      interceptorAudience: declaration.interceptor?.audience,
      middlewareName: declaration.middleware?.name,
      middlewareEndpoint: declaration.middleware?.endpoint,
      middlewareAudience: declaration.middleware?.audience,
      middlewareCaCertificatePath: declaration.middleware?.caCertificatePath,
      providerProfileSource: declaration.providerProfileSource !== undefined,
    });
    if (JSON.stringify(rebuilt) !== JSON.stringify(declaration)) {
      results.push({
        check: "declaration content",
        ok: false,
        message: "unexpected or misplaced fields for schemaVersion 2",
      });
    } else {
      results.push({ check: "declaration content", ok: true, message: `component "${declaration.componentId}"` });
    }
  } catch (err) {
    const message = err instanceof NemoClawContractError ? `${err.message} [${err.code}]` : (err as Error).message;
    results.push({ check: "declaration content", ok: false, message });
    return results;
  }
  results.push(checkCa("interceptor", declaration.interceptor.caCertificatePath));
  if (declaration.middleware.caCertificatePath !== declaration.interceptor.caCertificatePath) {
    results.push(checkCa("middleware", declaration.middleware.caCertificatePath));
  }
  results.push(await checkSocket(declaration.activationSocketPath));
  if (!opts.skipServices) {
    // the gRPC services OpenShell will call: Describe over TLS, verified with the declared CA
    const port = (endpoint: string) => endpoint.slice(endpoint.lastIndexOf(":") + 1);
    const interceptor = await probeService({
      service: "openshell.gateway_interceptor.v1.GatewayInterceptor",
      connect: `127.0.0.1:${port(declaration.interceptor.endpoint)}`,
      serverName: "127.0.0.1",
      caFile: declaration.interceptor.caCertificatePath,
      name: declaration.componentId,
      audience: declaration.interceptor.audience,
    });
    results.push({
      check: "interceptor service",
      ok: interceptor === null,
      message:
        interceptor === null
          ? `${declaration.interceptor.endpoint} answers Describe (audience ${declaration.interceptor.audience})`
          : `${interceptor}; start the sidecar with --interceptor-addr 127.0.0.1:${port(declaration.interceptor.endpoint)}`,
    });
    const middlewareAt = opts.middlewareAddr ?? `127.0.0.1:${port(declaration.middleware.endpoint)}`;
    const middleware = await probeService({
      service: "openshell.middleware.v1.SupervisorMiddleware",
      connect: middlewareAt,
      serverName: "host.openshell.internal",
      caFile: declaration.middleware.caCertificatePath,
      name: declaration.middleware.name,
      audience: declaration.middleware.audience,
    });
    results.push({
      check: "middleware service",
      ok: middleware === null,
      message:
        middleware === null
          ? `${declaration.middleware.endpoint} answers Describe at ${middlewareAt} (audience ${declaration.middleware.audience})`
          : `${middleware}; start the sidecar with --middleware-addr <bridge address>:${port(declaration.middleware.endpoint)} (and pass the same address to check --middleware-addr)`,
    });
  }
  return results;
}
