// A client that talks to the activation socket the way NemoClaw's transport does
// (src/lib/onboard/external-component/activation.ts): one POST with Content-Length, then a strict parse of the
// answer (HTTP/1.1 200 only, unique headers, no Transfer-Encoding, exact Content-Length, EOF after the body).
import net from "node:net";
import { generateKeyPairSync, randomUUID } from "node:crypto";

export interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
  raw: string;
}

/** Sends raw bytes and collects everything until the server closes. `halfClose` ends our side after writing,
 * like NemoClaw's first transport did; the later one keeps it open. */
export function sendRaw(
  socketPath: string,
  bytes: string | Buffer,
  opts: { halfClose?: boolean } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    socket.once("connect", () => {
      if (opts.halfClose) socket.end(bytes);
      else socket.write(bytes);
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {
      /* EPIPE when the server refuses an oversized body early; the answer is already buffered */
    });
    socket.once("close", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(parseAnswer(raw));
      } catch (err) {
        reject(err);
      }
    });
  });
}

export function parseAnswer(raw: string): RawAnswer {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no complete response head: ${JSON.stringify(raw.slice(0, 200))}`);
  const lines = raw.slice(0, end).split("\r\n");
  const status = /^HTTP\/1\.1 (\d{3})(?: [^\r\n]*)?$/u.exec(lines.shift() ?? "");
  if (!status) throw new Error("bad status line");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$/u.exec(line);
    if (!m) throw new Error(`bad header line ${line}`);
    const name = m[1]!.toLowerCase();
    if (headers.has(name)) throw new Error(`duplicate header ${name}`);
    headers.set(name, m[2]!.trim());
  }
  if (headers.has("transfer-encoding")) throw new Error("transfer-encoding in response");
  const length = Number(headers.get("content-length"));
  const body = raw.slice(end + 4);
  if (!Number.isSafeInteger(length) || Buffer.byteLength(body) !== length) throw new Error("content-length mismatch");
  return { status: Number(status[1]), headers, body, raw };
}

export function request(path: string, body: string, extraHeaders = ""): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extraHeaders}\r\n${body}`
  );
}

export async function post(socketPath: string, path: string, payload: unknown, opts: { halfClose?: boolean } = {}) {
  const answer = await sendRaw(socketPath, request(path, JSON.stringify(payload)), opts);
  return { ...answer, json: JSON.parse(answer.body) as Record<string, unknown> };
}

export const gatewayKeyPem = generateKeyPairSync("ed25519")
  .publicKey.export({ type: "spki", format: "pem" })
  .toString();

export function preparation(componentId: string, overrides: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    preparationId: randomUUID(),
    componentId,
    gateway: {
      name: "nemoclaw",
      id: "gw-0123",
      issuer: "https://openshell.gateway/nemoclaw",
      publicKeyPem: gatewayKeyPem,
      kid: "gw-key-1",
      extensionTokenTtlSecs: 900,
    },
    network: { gatewayIp: "172.18.0.1", subnet: "172.18.0.0/16" },
    interceptor: {
      endpoint: "https://127.0.0.1:7403",
      caCertificatePath: "/home/u/ca.pem",
      audience: "urn:intent-sidecar:admission",
    },
    middleware: {
      name: "intent-sidecar/middleware",
      endpoint: "https://host.openshell.internal:7404",
      caCertificatePath: "/home/u/ca.pem",
      audience: "urn:intent-sidecar:middleware",
    },
    ...overrides,
  };
}

export const openshellPolicyHash = `sha256:${"a".repeat(64)}`;

export function activation(componentId: string, overrides: Record<string, unknown> = {}) {
  return {
    schemaVersion: 1,
    activationId: randomUUID(),
    componentId,
    gateway: { name: "nemoclaw" },
    sandbox: {
      id: "sandbox-123",
      identityFingerprint: `sha256:${"b".repeat(64)}`,
      lifecycleGeneration: "generation-1",
    },
    policy: { source: "sandbox", hash: openshellPolicyHash, activeVersion: 7 },
    ...overrides,
  };
}
