// OpenShell supervisor middleware benchmark: p50/p99 of EvaluateHttpRequest (caller token cached after the first
// call, real Rego network rules compiled by the sidecar, an allowed GET) against a bare gRPC echo of the same bytes
// on the same server, TLS and client. Calls alternate in blocks between the two so machine noise hits both alike.
//   npx tsx --conditions=intent-sidecar-source bench/openshell.ts [--quick]
// Target (issue "Enforce at the sandbox boundary", done criteria): EvaluateHttpRequest p50 ≤ 1 ms.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { SignJWT } from "jose";
import { CertificateAuthority } from "../proxy/ca.ts";
import { createProxyVerifier } from "../proxy/attestation.ts";
import { pinnedKeys } from "../executor-gate/jwks.ts";
import { compileNetwork } from "../sidecar/policy/network.ts";
import { CallerVerifier, startOpenShellServices } from "../sidecar/openshell/index.ts";

const quick = process.argv.includes("--quick");
const BLOCKS = quick ? 4 : 20;
const PER_BLOCK = quick ? 100 : 250;
const WARMUP = quick ? 200 : 1000;
const AUD = "urn:intent-sidecar:middleware";

const network = await compileNetwork({
  package: "bench.network",
  modules: [
    {
      path: "bench.rego",
      source: `package bench.network
default allow := false
allow if {
  input.request.method == "GET"
  input.request.host in {"api.example.com", "api.github.com"}
  startswith(input.request.path, "/v1/")
}
deny_reason contains msg if {
  input.request.host == "pastebin.com"
  msg := "paste sites are blocked"
}
`,
    },
  ],
  data: {},
  require_attestation: ["payments.example.com"],
  allow_addresses: [],
  resolve: {},
});

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const issuer = "openshell-gateway:bench";
const ca = await CertificateAuthority.ephemeral();
const services = await startOpenShellServices({
  middleware: { addr: "127.0.0.1:0", name: "intent-sidecar/middleware", audience: AUD, tls: { ca: { authority: ca, host: "host.openshell.internal" } } },
  callers: new CallerVerifier({ anchors: () => [{ issuer, publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString() }] }),
  env: {
    policy: () => network.proxy,
    attestations: createProxyVerifier({ keys: pinnedKeys([]) }),
    principal: (id) => ({ sandboxId: id, agent: null, gateway: null, activated: false }),
    now: () => new Date(),
  },
  governedHosts: () => network.spec.require_attestation,
  extraServices: (server) =>
    server.addService(
      {
        Echo: {
          path: "/bench.Echo/Echo",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) },
    ),
});

const token = await new SignJWT({ caller_kind: "supervisor", sandbox_id: "sbx-bench" })
  .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "openshell-ext+jwt" })
  .setIssuer(issuer)
  .setAudience(AUD)
  .setSubject("supervisor:sbx-bench")
  .setIssuedAt()
  .setExpirationTime("1h")
  .setJti(randomUUID())
  .sign(privateKey);

const def = protoLoader.loadSync(fileURLToPath(new URL("../sidecar/openshell/proto/supervisor_middleware.proto", import.meta.url)), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const evaluate = def["openshell.middleware.v1.SupervisorMiddleware"] as unknown as Record<
  string,
  { requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => { decision: string } }
>;
const request = evaluate.EvaluateHttpRequest!.requestSerialize({
  phase: "PRE_CREDENTIALS",
  context: { request_id: randomUUID(), sandbox_id: "sbx-bench", originating_process: { binary: "/usr/bin/python3", pid: 42 } },
  target: { scheme: "https", host: "api.github.com", port: 443, method: "GET", path: "/v1/repos/a/b", query: "per_page=10" },
  headers: [
    { name: "accept", value: "application/json" },
    { name: "user-agent", value: "bench/1.0" },
  ],
  middleware_name: "intent-sidecar/middleware",
});

const client = new grpc.Client(services.middlewareAddr!, grpc.credentials.createSsl(Buffer.from(ca.certPem)), {
  "grpc.ssl_target_name_override": "host.openshell.internal",
  "grpc.default_authority": "host.openshell.internal",
});
const md = new grpc.Metadata();
md.set("authorization", `Bearer ${token}`);
const call = (path: string): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, request, md, (err: grpc.ServiceError | null, v?: Buffer) =>
      err ? reject(err) : resolve(v!),
    ),
  );
const EVAL = "/openshell.middleware.v1.SupervisorMiddleware/EvaluateHttpRequest";
const ECHO = "/bench.Echo/Echo";

const first = evaluate.EvaluateHttpRequest!.responseDeserialize(await call(EVAL));
if (first.decision !== "ALLOW") throw new Error(`expected ALLOW, got ${JSON.stringify(first)}`);
for (let i = 0; i < WARMUP; i++) {
  await call(EVAL);
  await call(ECHO);
}
const times: Record<string, number[]> = { [EVAL]: [], [ECHO]: [] };
for (let b = 0; b < BLOCKS; b++) {
  for (const path of b % 2 === 0 ? [EVAL, ECHO] : [ECHO, EVAL]) {
    for (let i = 0; i < PER_BLOCK; i++) {
      const t0 = process.hrtime.bigint();
      await call(path);
      times[path]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const row = (name: string, xs: number[]) => ({ name, n: xs.length, p50_ms: +pct(xs, 50).toFixed(3), p99_ms: +pct(xs, 99).toFixed(3) });
const ev = row("EvaluateHttpRequest (cached caller token, Rego allow)", times[EVAL]!);
const echo = row("bare gRPC echo (same server, same bytes)", times[ECHO]!);
console.table([ev, echo]);
console.log(
  JSON.stringify({
    bench: "openshell",
    evaluate_p50_ms: ev.p50_ms,
    evaluate_p99_ms: ev.p99_ms,
    echo_p50_ms: echo.p50_ms,
    echo_p99_ms: echo.p99_ms,
    added_p50_ms: +(ev.p50_ms - echo.p50_ms).toFixed(3),
    target_p50_ms: 1,
    pass: ev.p50_ms <= 1,
  }),
);
client.close();
await services.close();
