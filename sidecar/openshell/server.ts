// The two gRPC services OpenShell calls, each on its own TLS listener:
//   - SupervisorMiddleware (openshell.middleware.v1) on --middleware-addr, dialled by sandbox supervisors as
//     https://host.openshell.internal:<port>;
//   - GatewayInterceptor (openshell.gateway_interceptor.v1) on the interceptor address, dialled by the gateway as
//     https://127.0.0.1:<port>.
// Messages are decoded by wire.ts inside the handlers (the transport passes bytes through), so a malformed message
// is answered INVALID_ARGUMENT and an oversized one RESOURCE_EXHAUSTED by the transport; the server stays up.
// Server certificates: leaves issued by the sidecar's CA (proxy/ca.ts, `ca export`), re-issued before they expire,
// or files the operator configured (re-read when they change).
import * as grpc from "@grpc/grpc-js";

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaCertificateUpdateListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;
import type { CertificateAuthority } from "../../proxy/ca.ts";
import { bearer, CallerRejected, type CallerClaims, type CallerVerifier } from "./caller-auth.ts";
import { evaluateHttpRequest, MAX_PAYLOAD_BYTES, validateConfig, type MiddlewareDecision, type MiddlewareEnv } from "./middleware.ts";
import { validateSandboxPolicy } from "./interceptor.ts";
import {
  decodeEmpty,
  decodeHttpRequestEvaluation,
  decodeInterceptorEvaluation,
  decodeValidateConfigRequest,
  encodeHttpRequestResult,
  encodeInterceptorManifest,
  encodeInterceptorResult,
  encodeManifest,
  encodeProviderProfiles,
  encodeValidateConfigResponse,
  InterceptorPhase,
  Operation,
  Phase,
  StatusCode,
  WireError,
} from "./wire.ts";

export const MIDDLEWARE_SERVICE = "openshell.middleware.v1.SupervisorMiddleware";
export const INTERCEPTOR_SERVICE = "openshell.gateway_interceptor.v1.GatewayInterceptor";
export const SERVICE_VERSION = "intent-sidecar/0.2";
/** What Describe announces; the supervisor's default is 500 ms. */
export const MIDDLEWARE_TIMEOUT_MS = 200;
/** Our own deadline for one evaluation (under the announced timeout, so we answer DENY before the caller gives up). */
export const EVALUATION_DEADLINE_MS = 150;
/** Messages up to the body limit plus room for headers, target and framing. */
export const MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES + 256 * 1024;
export const INTERCEPTOR_BINDINGS = [
  { bindingId: "intent-sidecar.create-sandbox", rpc: "openshell.v1.OpenShell/CreateSandbox", phases: [InterceptorPhase.VALIDATE] },
  { bindingId: "intent-sidecar.update-config", rpc: "openshell.v1.OpenShell/UpdateConfig", phases: [InterceptorPhase.VALIDATE] },
];

export interface TlsSource {
  /** Issue the leaf from the sidecar's CA for this host name (or IP). */
  ca?: { authority: CertificateAuthority; host: string };
  /** Or files the operator manages (re-read every `refreshMs`). */
  files?: { certFile: string; keyFile: string };
}

export interface OpenShellServicesOptions {
  middleware?: { addr: string; name: string; audience: string; tls: TlsSource };
  interceptor?: { addr: string; name: string; audience: string; middlewareName: string; tls: TlsSource };
  callers: CallerVerifier;
  env: Omit<MiddlewareEnv, "deadlineMs"> & { deadlineMs?: number };
  /** Host globs of the active sidecar policy's `require_attestation`. */
  governedHosts: () => readonly string[] | null;
  onDecision?: (d: MiddlewareDecision) => void;
  onInterceptor?: (e: { allowed: boolean; method: string; reason: string }) => void;
  /** Test hook: replaces the evaluation (the benchmark's echo baseline uses the same server). */
  extraServices?: (server: grpc.Server) => void;
}

export interface OpenShellServices {
  middlewareAddr: string | null;
  interceptorAddr: string | null;
  close(): Promise<void>;
}

const passthrough = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  responseDeserialize: (b: Buffer) => b,
};

function method(service: string, name: string): grpc.MethodDefinition<Buffer, Uint8Array> {
  return { path: `/${service}/${name}`, requestStream: false, responseStream: false, ...passthrough } as grpc.MethodDefinition<
    Buffer,
    Uint8Array
  >;
}

type Unary = grpc.handleUnaryCall<Buffer, Uint8Array>;

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/** Wraps a handler: a WireError becomes INVALID_ARGUMENT, a refused caller UNAUTHENTICATED, anything else INTERNAL. */
function unary(fn: (call: grpc.ServerUnaryCall<Buffer, Uint8Array>) => Promise<Uint8Array>): Unary {
  return (call, callback) => {
    fn(call).then(
      (out) => callback(null, out),
      (err: unknown) => {
        if (err instanceof WireError) callback(grpcError(grpc.status.INVALID_ARGUMENT, err.message));
        else if (err instanceof CallerRejected) callback(grpcError(grpc.status.UNAUTHENTICATED, `${err.code}: ${err.message}`));
        else callback(grpcError(grpc.status.INTERNAL, "internal error"));
      },
    );
  };
}

/** One provider for both CA and identity updates (grpc-js's factory names its two parameters the other way
 * round from its constructor; giving the same object for both keeps it right either way). */
class LeafProvider implements CertificateProvider {
  private ca: Buffer | null = null;
  private identity: { certificate: Buffer; privateKey: Buffer } | null = null;
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly idListeners = new Set<IdentityCertificateUpdateListener>();
  update(ca: Buffer, certificate: Buffer, privateKey: Buffer): void {
    this.ca = ca;
    this.identity = { certificate, privateKey };
    for (const l of this.caListeners) l({ caCertificate: ca });
    for (const l of this.idListeners) l(this.identity);
  }
  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    // delivered after grpc-js has registered its watcher (a synchronous update would be lost)
    const ca = this.ca;
    if (ca) queueMicrotask(() => this.caListeners.has(l) && l({ caCertificate: ca }));
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.add(l);
    const identity = this.identity;
    if (identity) queueMicrotask(() => this.idListeners.has(l) && l(identity));
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l);
  }
}

const RENEW_CHECK_MS = 6 * 3600_000;
const RENEW_BEFORE_MS = 7 * 24 * 3600_000;

async function credentials(tls: TlsSource, timers: NodeJS.Timeout[]): Promise<grpc.ServerCredentials> {
  const provider = new LeafProvider();
  if (tls.files) {
    const { readFileSync } = await import("node:fs");
    const load = () => {
      const cert = readFileSync(tls.files!.certFile);
      provider.update(cert, cert, readFileSync(tls.files!.keyFile));
    };
    load();
    const t = setInterval(() => {
      try {
        load();
      } catch {
        /* keep the last good pair */
      }
    }, 600_000);
    t.unref();
    timers.push(t);
  } else if (tls.ca) {
    const { authority, host } = tls.ca;
    let notAfter = 0;
    const issue = async () => {
      const leaf = await authority.issueLeafPem(host);
      provider.update(Buffer.from(authority.certPem), Buffer.from(leaf.certPem), Buffer.from(leaf.keyPem));
      notAfter = leaf.notAfter;
    };
    await issue();
    const t = setInterval(() => {
      if (notAfter - Date.now() < RENEW_BEFORE_MS) void issue().catch(() => undefined);
    }, RENEW_CHECK_MS);
    t.unref();
    timers.push(t);
  } else {
    throw new Error("a TLS source is required (the CA or certificate files)");
  }
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<string> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, creds, (err, port) => {
      if (err) reject(err);
      else resolve(`${addr.slice(0, addr.lastIndexOf(":"))}:${port}`);
    });
  });
}

function newServer(): grpc.Server {
  return new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    // OpenShell runs at most 32 evaluations per supervisor at once; leave room for several supervisors
    "grpc.max_concurrent_streams": 256,
    "grpc.keepalive_permit_without_calls": 1,
  });
}

function auth(call: grpc.ServerUnaryCall<Buffer, Uint8Array>): string | undefined {
  return bearer(call.metadata.get("authorization"));
}

export async function startOpenShellServices(opts: OpenShellServicesOptions): Promise<OpenShellServices> {
  const timers: NodeJS.Timeout[] = [];
  const servers: grpc.Server[] = [];
  const env: MiddlewareEnv = { ...opts.env, deadlineMs: opts.env.deadlineMs ?? EVALUATION_DEADLINE_MS };
  let middlewareAddr: string | null = null;
  let interceptorAddr: string | null = null;
  try {
    if (opts.middleware) {
      const m = opts.middleware;
      const manifest = encodeManifest({
        name: m.name,
        serviceVersion: SERVICE_VERSION,
        bindings: [
          { operation: Operation.HTTP_REQUEST, phase: Phase.PRE_CREDENTIALS, maxPayloadBytes: MAX_PAYLOAD_BYTES, timeout: `${MIDDLEWARE_TIMEOUT_MS}ms` },
        ],
        expectedAudience: m.audience,
      });
      const server = newServer();
      server.addService(
        {
          Describe: method(MIDDLEWARE_SERVICE, "Describe"),
          ValidateConfig: method(MIDDLEWARE_SERVICE, "ValidateConfig"),
          EvaluateHttpRequest: method(MIDDLEWARE_SERVICE, "EvaluateHttpRequest"),
        },
        {
          // Describe reveals nothing secret and lets `nemoclaw check` probe the listener without a gateway token
          Describe: unary((call) => {
            decodeEmpty(call.request);
            return Promise.resolve(manifest);
          }),
          ValidateConfig: unary(async (call) => {
            const req = decodeValidateConfigRequest(call.request);
            await opts.callers.verify(auth(call), m.audience, ["gateway", "supervisor"]);
            const errors = validateConfig(req.config);
            return encodeValidateConfigResponse({ valid: errors.length === 0, errors });
          }),
          EvaluateHttpRequest: unary(async (call) => {
            const ev = decodeHttpRequestEvaluation(call.request);
            let caller: CallerClaims | CallerRejected;
            try {
              caller = await opts.callers.verify(auth(call), m.audience, ["supervisor"]);
            } catch (err) {
              if (!(err instanceof CallerRejected)) throw err;
              caller = err;
            }
            const { result, decision } = await evaluateHttpRequest(env, ev, caller);
            try {
              opts.onDecision?.(decision);
            } catch {
              /* recording never changes the answer */
            }
            return encodeHttpRequestResult(result);
          }),
        },
      );
      opts.extraServices?.(server);
      servers.push(server);
      middlewareAddr = await bind(server, m.addr, await credentials(m.tls, timers));
    }
    if (opts.interceptor) {
      const ic = opts.interceptor;
      const manifest = encodeInterceptorManifest({
        name: ic.name,
        serviceVersion: SERVICE_VERSION,
        bindings: INTERCEPTOR_BINDINGS,
        expectedAudience: ic.audience,
      });
      const server = newServer();
      server.addService(
        {
          Describe: method(INTERCEPTOR_SERVICE, "Describe"),
          SnapshotProviderProfiles: method(INTERCEPTOR_SERVICE, "SnapshotProviderProfiles"),
          Evaluate: method(INTERCEPTOR_SERVICE, "Evaluate"),
        },
        {
          Describe: unary((call) => {
            decodeEmpty(call.request);
            return Promise.resolve(manifest);
          }),
          SnapshotProviderProfiles: unary(async (call) => {
            decodeEmpty(call.request);
            await opts.callers.verify(auth(call), ic.audience, ["gateway"]);
            return encodeProviderProfiles();
          }),
          Evaluate: unary(async (call) => {
            const ev = decodeInterceptorEvaluation(call.request);
            await opts.callers.verify(auth(call), ic.audience, ["gateway"]);
            let allowed = true;
            let reason = "";
            let statusCode: number = StatusCode.OK;
            if (ev.phase === "validate") {
              const governed = opts.governedHosts();
              if (governed === null) {
                allowed = false;
                reason = "intent-sidecar: no sidecar policy is loaded; sandboxes cannot be admitted";
                statusCode = StatusCode.FAILED_PRECONDITION;
              } else {
                const v = validateSandboxPolicy({ proposed: ev.proposedOperation, governed, middlewareName: ic.middlewareName });
                allowed = v.allowed;
                reason = v.reason;
                statusCode = v.allowed ? StatusCode.OK : StatusCode.PERMISSION_DENIED;
              }
            } else if (ev.phase === null) {
              allowed = false;
              reason = "intent-sidecar: the evaluation names no phase";
              statusCode = StatusCode.INVALID_ARGUMENT;
            }
            try {
              opts.onInterceptor?.({ allowed, method: ev.method, reason });
            } catch {
              /* recording never changes the answer */
            }
            return encodeInterceptorResult({
              allowed,
              reason,
              statusCode,
              logAnnotations: { "intent_sidecar.binding": ev.bindingId },
            });
          }),
        },
      );
      servers.push(server);
      interceptorAddr = await bind(server, ic.addr, await credentials(ic.tls, timers));
    }
  } catch (err) {
    for (const t of timers) clearInterval(t);
    for (const s of servers) s.forceShutdown();
    throw err;
  }
  let closed = false;
  return {
    middlewareAddr,
    interceptorAddr,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              const force = setTimeout(() => {
                s.forceShutdown();
                resolve();
              }, 2000);
              force.unref();
              s.tryShutdown(() => {
                clearTimeout(force);
                resolve();
              });
            }),
        ),
      );
    },
  };
}
