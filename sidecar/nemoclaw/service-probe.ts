// `nemoclaw check`: calls Describe on the two gRPC services the declaration names, over TLS with the declared CA
// file as the only trust root and the host name OpenShell dials (127.0.0.1 for the interceptor,
// host.openshell.internal for the middleware), and compares the announced name and audience with the declaration.
// The middleware is dialled through the bridge name from inside sandboxes; from the host the probe connects to
// 127.0.0.1:<port> unless told where (`--middleware-addr`), still verifying the certificate for the bridge name.
import fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { decodeManifestIdentity } from "../openshell/wire.ts";

export interface ProbeTarget {
  service: "openshell.middleware.v1.SupervisorMiddleware" | "openshell.gateway_interceptor.v1.GatewayInterceptor";
  /** host:port to connect to. */
  connect: string;
  /** The TLS name to verify. */
  serverName: string;
  caFile: string;
  name?: string;
  audience: string;
  timeoutMs?: number;
}

/** Null when the service answered as declared, else a sentence. */
export async function probeService(t: ProbeTarget): Promise<string | null> {
  let ca: Buffer;
  try {
    ca = fs.readFileSync(t.caFile);
  } catch (e) {
    return `cannot read the CA file ${t.caFile}: ${(e as Error).message}`;
  }
  const client = new grpc.Client(t.connect, grpc.credentials.createSsl(ca), {
    "grpc.ssl_target_name_override": t.serverName,
    "grpc.default_authority": t.serverName,
  });
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        `/${t.service}/Describe`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new grpc.Metadata(),
        { deadline: Date.now() + (t.timeoutMs ?? 3000) },
        (err: grpc.ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(value!)),
      );
    });
    const m = decodeManifestIdentity(bytes);
    if (m.expectedAudience !== t.audience) {
      return `${t.connect} announces audience ${JSON.stringify(m.expectedAudience)}, the declaration says ${JSON.stringify(t.audience)}`;
    }
    if (t.name !== undefined && m.name !== t.name) {
      return `${t.connect} announces name ${JSON.stringify(m.name)}, the declaration says ${JSON.stringify(t.name)}`;
    }
    return null;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return `${t.connect} (TLS name ${t.serverName}) did not answer Describe: ${err.details ?? err.message}`;
  } finally {
    client.close();
  }
}
