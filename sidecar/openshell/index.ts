// OpenShell integration: the supervisor middleware and the gateway interceptor, composed for the daemon.
// Started only when an address is configured (--middleware-addr / --interceptor-addr or the config file's
// `openshell:` block). Trust anchors: the config file's gateway key plus every gateway NemoClaw prepared.
import { join } from "node:path";
import type { KeyRing } from "../attest/index.ts";
import type { Logger } from "../log.ts";
import type { Db } from "../store/index.ts";
import { appendAuditData } from "../store/audit.ts";
import type { NetworkBlock } from "../policy/network.ts";
import type { SidecarConfig } from "../config.ts";
import type { ActivationServer } from "../nemoclaw/index.ts";
import {
  DEFAULT_COMPONENT_ID,
  DEFAULT_INTERCEPTOR_AUDIENCE,
  DEFAULT_MIDDLEWARE_AUDIENCE,
  DEFAULT_MIDDLEWARE_NAME,
  defaultDeclarationPath,
  readDeclaration,
} from "../nemoclaw/declaration.ts";
import type { DeclarationV2 } from "../nemoclaw/contract.ts";
import { CertificateAuthority } from "../../proxy/ca.ts";
import { createProxyVerifier, keySourceFromJwks } from "../../proxy/attestation.ts";
import { sqliteReplayStore } from "../../executor-gate/replay/sqlite.ts";
import { CallerVerifier, type GatewayAnchor } from "./caller-auth.ts";
import { startOpenShellServices, type OpenShellServices, type TlsSource } from "./server.ts";
import type { SandboxPrincipal } from "./middleware.ts";
import type { OpenShellConfig } from "./config.ts";

export { startOpenShellServices, type OpenShellServices } from "./server.ts";
export { CallerVerifier, type GatewayAnchor } from "./caller-auth.ts";
export { parseOpenShellConfig, type OpenShellConfig } from "./config.ts";
export { REASON_CODES, INTENT_ID_HEADER, type ReasonCode } from "./middleware.ts";

/** The host name supervisors dial (NemoClaw rewrites it to the Docker bridge address): the middleware leaf's name. */
export const MIDDLEWARE_TLS_HOST = "host.openshell.internal";
/** The gateway dials the interceptor on the host loopback. */
export const INTERCEPTOR_TLS_HOST = "127.0.0.1";

export interface StartOpenShellOptions {
  config: SidecarConfig & { openshell?: OpenShellConfig };
  db: Db;
  keys: KeyRing;
  log: Logger;
  /** The active policy (its network block), read per request. */
  policy: () => { network?: NetworkBlock } | undefined;
  nemoclaw: () => ActivationServer | null;
  declarationPath?: string;
}

export function sandboxPrincipal(
  sandboxId: string,
  sandboxes: Record<string, string>,
  nemoclaw: ActivationServer | null,
): SandboxPrincipal {
  const activation = nemoclaw?.activations().findLast((a) => a.sandboxId === sandboxId);
  return {
    sandboxId,
    agent: Object.hasOwn(sandboxes, sandboxId) ? sandboxes[sandboxId]! : null,
    gateway: activation?.gatewayName ?? null,
    activated: activation !== undefined,
  };
}

/** Starts the configured OpenShell services; null when none is configured. */
export async function startOpenShell(opts: StartOpenShellOptions): Promise<OpenShellServices | null> {
  const os = opts.config.openshell;
  if (!os || (!os.middlewareAddr && !os.interceptorAddr)) return null;
  let declaration: DeclarationV2 | null = null;
  try {
    declaration = readDeclaration(
      opts.declarationPath ?? process.env.INTENT_SIDECAR_NEMOCLAW_DECLARATION ?? defaultDeclarationPath(),
    );
  } catch {
    declaration = null;
  }
  const middlewareName = declaration?.middleware?.name ?? DEFAULT_MIDDLEWARE_NAME;
  const tlsFor = async (host: string): Promise<TlsSource> =>
    os.tls
      ? { files: os.tls }
      : { ca: { authority: await CertificateAuthority.loadOrCreate(opts.config.dataDir), host } };
  const anchors = (): GatewayAnchor[] => {
    const list: GatewayAnchor[] = os.gateway ? [os.gateway] : [];
    for (const g of opts.nemoclaw()?.prepared() ?? []) list.push({ issuer: g.issuer, kid: g.kid, publicKeyPem: g.publicKeyPem });
    return list;
  };
  // the proxy's single-use store (same file, own handle): an attestation redeemed here cannot be used at the proxy
  const replay = sqliteReplayStore(join(opts.config.dataDir, "proxy-replay.sqlite"), {
    synchronous: opts.config.synchronous,
  });
  const network = () => opts.policy()?.network;
  try {
    const services = await startOpenShellServices({
      ...(os.middlewareAddr
        ? {
            middleware: {
              addr: os.middlewareAddr,
              name: middlewareName,
              audience: os.audience ?? declaration?.middleware?.audience ?? DEFAULT_MIDDLEWARE_AUDIENCE,
              tls: await tlsFor(MIDDLEWARE_TLS_HOST),
            },
          }
        : {}),
      ...(os.interceptorAddr
        ? {
            interceptor: {
              addr: os.interceptorAddr,
              name: declaration?.componentId ?? DEFAULT_COMPONENT_ID,
              audience: os.interceptorAudience ?? declaration?.interceptor?.audience ?? DEFAULT_INTERCEPTOR_AUDIENCE,
              middlewareName,
              tls: await tlsFor(INTERCEPTOR_TLS_HOST),
            },
          }
        : {}),
      callers: new CallerVerifier({ anchors }),
      env: {
        policy: () => network()?.proxy ?? null,
        attestations: createProxyVerifier({
          keys: keySourceFromJwks(() => opts.keys.jwks()),
          issuer: opts.config.issuer,
          audience: opts.config.audiences.proxy,
          replay,
        }),
        principal: (id) => sandboxPrincipal(id, os.sandboxes, opts.nemoclaw()),
        now: () => new Date(),
      },
      governedHosts: () => {
        const n = network();
        return n ? n.spec.require_attestation : opts.policy() ? [] : null;
      },
      onDecision: (d) => {
        if (d.allowed) return;
        appendAuditData(opts.db, "openshell.denied", { ...d });
      },
      onInterceptor: (e) => {
        if (!e.allowed) appendAuditData(opts.db, "openshell.sandbox_rejected", { ...e });
      },
    });
    const close = services.close.bind(services);
    services.close = async () => {
      await close();
      replay.close();
    };
    if (services.middlewareAddr) opts.log.info({ addr: services.middlewareAddr, name: middlewareName }, "serving the OpenShell supervisor middleware");
    if (services.interceptorAddr) opts.log.info({ addr: services.interceptorAddr }, "serving the OpenShell gateway interceptor");
    return services;
  } catch (err) {
    replay.close();
    throw err;
  }
}
