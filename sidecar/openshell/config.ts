// The `openshell:` block of the config file (and the --middleware-addr / --interceptor-addr flags):
//   openshell:
//     middleware_addr: 172.17.0.1:7404        # where sandbox supervisors reach us (host.openshell.internal)
//     interceptor_addr: 127.0.0.1:7403        # where the gateway reaches us
//     gateway_issuer: openshell-gateway:gw-1  # trust anchor when NemoClaw's /v2/prepare does not provide one
//     gateway_public_key: gateway-ed25519.pub.pem
//     gateway_kid: k1                         # optional
//     audience: urn:intent-sidecar:middleware # default: the NemoClaw declaration's, else this
//     interceptor_audience: urn:intent-sidecar:admission
//     sandboxes: { sbx-123: treasury-bot }    # sandbox_id -> agent principal
//     tls_cert: cert.pem                      # optional: serve these instead of leaves from the sidecar's CA
//     tls_key: key.pem
// Relative paths resolve against the config file's folder. Throws Error with a message naming the key.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export interface OpenShellConfig {
  middlewareAddr?: string;
  interceptorAddr?: string;
  gateway?: { issuer: string; kid?: string; publicKeyPem: string };
  audience?: string;
  interceptorAudience?: string;
  sandboxes: Record<string, string>;
  tls?: { certFile: string; keyFile: string };
}

const ADDR = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/u;
const KEYS = new Set([
  "middleware_addr",
  "interceptor_addr",
  "gateway_issuer",
  "gateway_public_key",
  "gateway_kid",
  "audience",
  "interceptor_audience",
  "sandboxes",
  "tls_cert",
  "tls_key",
]);

function text(raw: Record<string, unknown>, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v.length === 0) throw new Error(`openshell.${key}: must be a non-empty string`);
  return v;
}

export function parseOpenShellConfig(
  raw: unknown,
  base: string,
  flags: { middlewareAddr?: string; interceptorAddr?: string } = {},
): OpenShellConfig | undefined {
  if ((raw === undefined || raw === null) && !flags.middlewareAddr && !flags.interceptorAddr) return undefined;
  const obj = (raw ?? {}) as Record<string, unknown>;
  if (typeof obj !== "object" || Array.isArray(obj)) throw new Error("openshell: must be a mapping");
  const unknown = Object.keys(obj).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) throw new Error(`openshell: unknown key(s) ${unknown.join(", ")}`);
  const out: OpenShellConfig = { sandboxes: Object.create(null) as Record<string, string> };
  const middlewareAddr = flags.middlewareAddr ?? text(obj, "middleware_addr");
  const interceptorAddr = flags.interceptorAddr ?? text(obj, "interceptor_addr");
  for (const [k, v] of [
    ["--middleware-addr", middlewareAddr],
    ["--interceptor-addr", interceptorAddr],
  ] as const) {
    if (v !== undefined && !ADDR.test(v)) throw new Error(`${k} ${v}: must be "host:port", e.g. "127.0.0.1:7404"`);
  }
  if (middlewareAddr) out.middlewareAddr = middlewareAddr;
  if (interceptorAddr) out.interceptorAddr = interceptorAddr;
  const issuer = text(obj, "gateway_issuer");
  const keyFile = text(obj, "gateway_public_key");
  if ((issuer === undefined) !== (keyFile === undefined)) {
    throw new Error("openshell: gateway_issuer and gateway_public_key go together");
  }
  if (issuer && keyFile) {
    const path = resolve(base, keyFile);
    let pem: string;
    try {
      pem = readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`openshell.gateway_public_key: cannot read ${path}: ${(e as Error).message}`);
    }
    let type: string | undefined;
    try {
      type = createPublicKey(pem).asymmetricKeyType;
    } catch {
      type = undefined;
    }
    if (type !== "ed25519") throw new Error(`openshell.gateway_public_key: ${path} is not an Ed25519 public key (PEM)`);
    const kid = text(obj, "gateway_kid");
    out.gateway = { issuer, publicKeyPem: pem, ...(kid ? { kid } : {}) };
  }
  const audience = text(obj, "audience");
  if (audience) out.audience = audience;
  const interceptorAudience = text(obj, "interceptor_audience");
  if (interceptorAudience) out.interceptorAudience = interceptorAudience;
  const sandboxes = obj.sandboxes;
  if (sandboxes !== undefined && sandboxes !== null) {
    if (typeof sandboxes !== "object" || Array.isArray(sandboxes)) throw new Error("openshell.sandboxes: must map sandbox ids to agents");
    for (const [id, agent] of Object.entries(sandboxes as Record<string, unknown>)) {
      if (typeof agent !== "string" || agent.length === 0) throw new Error(`openshell.sandboxes.${id}: must be an agent name`);
      out.sandboxes[id] = agent;
    }
  }
  const cert = text(obj, "tls_cert");
  const key = text(obj, "tls_key");
  if ((cert === undefined) !== (key === undefined)) throw new Error("openshell: tls_cert and tls_key go together");
  if (cert && key) out.tls = { certFile: resolve(base, cert), keyFile: resolve(base, key) };
  return out;
}
