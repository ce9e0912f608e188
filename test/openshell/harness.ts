// Test harness acting as OpenShell: a gateway key that mints caller tokens (EdDSA, typ openshell-ext+jwt), and gRPC
// clients built by @grpc/proto-loader from our .proto files (so the server's hand-written codecs are checked against
// the published field numbers), connected over TLS with the sidecar CA as the only trust root.
import { generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { SignJWT } from "jose";

const PROTO_DIR = fileURLToPath(new URL("../../sidecar/openshell/proto/", import.meta.url));

export interface Gateway {
  issuer: string;
  kid: string;
  publicKeyPem: string;
  privateKey: KeyObject;
  token(claims: {
    aud: string;
    caller_kind?: "gateway" | "supervisor";
    sandbox_id?: string;
    exp?: number;
    iat?: number;
    typ?: string;
  }): Promise<string>;
}

export function testGateway(id = "gw-test"): Gateway {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const issuer = `openshell-gateway:${id}`;
  const kid = `k-${randomUUID().slice(0, 8)}`;
  return {
    issuer,
    kid,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    privateKey,
    async token(c) {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { caller_kind: c.caller_kind ?? "supervisor" };
      if (c.sandbox_id !== undefined) payload.sandbox_id = c.sandbox_id;
      return new SignJWT(payload)
        .setProtectedHeader({ alg: "EdDSA", kid, typ: c.typ ?? "openshell-ext+jwt" })
        .setIssuer(issuer)
        .setAudience(c.aud)
        .setSubject(c.caller_kind === "gateway" ? "gateway" : `supervisor:${c.sandbox_id ?? ""}`)
        .setIssuedAt(c.iat ?? now)
        .setExpirationTime(c.exp ?? now + 600)
        .setJti(randomUUID())
        .sign(privateKey);
    },
  };
}

const LOAD = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, bytes: Buffer };

type Ctor = new (addr: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => grpc.Client;

function serviceCtor(file: string, pkg: string[], service: string): Ctor {
  const def = protoLoader.loadSync(`${PROTO_DIR}${file}`, LOAD);
  let node: unknown = grpc.loadPackageDefinition(def);
  for (const p of [...pkg, service]) node = (node as Record<string, unknown>)[p];
  return node as Ctor;
}

export type Call = (method: string, request: object, token?: string) => Promise<Record<string, unknown>>;

export interface TestClient {
  call: Call;
  raw(path: string, bytes: Buffer, token?: string): Promise<Buffer>;
  close(): void;
}

function client(ctor: Ctor, addr: string, caPem: string, hostName: string): TestClient {
  const creds = grpc.credentials.createSsl(Buffer.from(caPem));
  const options: grpc.ClientOptions = {
    "grpc.ssl_target_name_override": hostName,
    "grpc.default_authority": hostName,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  };
  const c = new ctor(addr, creds, options) as grpc.Client & Record<string, unknown>;
  const md = (token?: string) => {
    const m = new grpc.Metadata();
    if (token) m.set("authorization", `Bearer ${token}`);
    return m;
  };
  return {
    call: (method, request, token) =>
      new Promise((resolve, reject) => {
        (c[method] as (r: object, m: grpc.Metadata, cb: (e: Error | null, v: Record<string, unknown>) => void) => void).call(
          c,
          request,
          md(token),
          (err, value) => (err ? reject(err) : resolve(value)),
        );
      }),
    raw: (path, bytes, token) =>
      new Promise((resolve, reject) => {
        c.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          md(token),
          (err: grpc.ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(value!)),
        );
      }),
    close: () => c.close(),
  };
}

export function middlewareClient(addr: string, caPem: string, hostName = "host.openshell.internal"): TestClient {
  return client(
    serviceCtor("supervisor_middleware.proto", ["openshell", "middleware", "v1"], "SupervisorMiddleware"),
    addr,
    caPem,
    hostName,
  );
}

export function interceptorClient(addr: string, caPem: string, hostName = "127.0.0.1"): TestClient {
  return client(
    serviceCtor("gateway_interceptor.proto", ["openshell", "gateway_interceptor", "v1"], "GatewayInterceptor"),
    addr,
    caPem,
    hostName,
  );
}

/** JSON → google.protobuf.Struct as proto-loader expects it (keepCase). */
export function struct(obj: Record<string, unknown>): object {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}

function value(v: unknown): object {
  // protobufjs defines the well-known types with camelCase field names
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
  return { structValue: struct(v as Record<string, unknown>) };
}

/** An EvaluateHttpRequest request as a supervisor sends it. */
export function evaluation(opts: {
  sandbox?: string;
  method?: string;
  host: string;
  port?: number;
  path?: string;
  query?: string;
  headers?: [string, string][];
  body?: string | Buffer;
  config?: Record<string, unknown>;
}): object {
  return {
    phase: "PRE_CREDENTIALS",
    context: {
      request_id: randomUUID(),
      sandbox_id: opts.sandbox ?? "sbx-1",
      originating_process: { binary: "/usr/bin/python3", pid: 4242, ancestors: ["/bin/sh"] },
      sandbox_name: "test",
      workspace: "ws",
    },
    ...(opts.config ? { config: struct(opts.config) } : {}),
    target: {
      scheme: "https",
      host: opts.host,
      port: opts.port ?? 443,
      method: opts.method ?? "GET",
      path: opts.path ?? "/",
      query: opts.query ?? "",
    },
    headers: (opts.headers ?? []).map(([name, value]) => ({ name, value })),
    body: opts.body === undefined ? Buffer.alloc(0) : Buffer.from(opts.body),
    middleware_name: "intent-sidecar/middleware",
  };
}
