import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NEMOCLAW_DEADLINE_MS, startActivationServer, type ActivationServer } from "../../sidecar/nemoclaw/index.ts";
import { activation, openshellPolicyHash, post, preparation, request, sendRaw } from "./nemoclaw-client.ts";

const COMPONENT = "intent-sidecar";
const SIDECAR_DIGEST = `sha256:${"c".repeat(64)}`;

let dir: string;
let socketPath: string;
let server: ActivationServer | undefined;
let digest: () => string | undefined;

async function start(opts: Partial<Parameters<typeof startActivationServer>[0]> = {}) {
  server = await startActivationServer({
    socketPath,
    componentId: COMPONENT,
    activePolicyDigest: () => digest(),
    ...opts,
  });
  return server;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nc-act-"));
  socketPath = path.join(dir, "nemoclaw", "activation.sock");
  digest = () => SIDECAR_DIGEST;
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("activation socket: the happy path NemoClaw walks", () => {
  it("uses NemoClaw's 30 s deadline unless told otherwise", async () => {
    expect(NEMOCLAW_DEADLINE_MS).toBe(30_000);
    expect((await start()).deadlineMs).toBe(30_000);
  });

  it("serves a 0600 socket inside a 0700 folder", async () => {
    await start();
    const stat = fs.lstatSync(socketPath);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700);
  });

  it("answers prepare with exactly four fields, then activate with exactly six", async () => {
    await start();
    const prep = preparation(COMPONENT);
    const prepared = await post(socketPath, "/v2/prepare", prep);
    expect(prepared.status).toBe(200);
    expect(prepared.headers.get("content-type")).toBe("application/json");
    expect(prepared.json).toStrictEqual({
      schemaVersion: 2,
      preparationId: prep.preparationId,
      componentId: COMPONENT,
      result: "prepared",
    });
    expect(Object.keys(prepared.json)).toEqual(["schemaVersion", "preparationId", "componentId", "result"]);

    const act = activation(COMPONENT);
    const activated = await post(socketPath, "/v1/activate", act);
    expect(activated.status).toBe(200);
    expect(activated.json).toStrictEqual({
      schemaVersion: 1,
      activationId: act.activationId,
      componentId: COMPONENT,
      sandboxId: "sandbox-123",
      policyHash: openshellPolicyHash,
      result: "activated",
    });
    expect(Object.keys(activated.json)).toEqual([
      "schemaVersion",
      "activationId",
      "componentId",
      "sandboxId",
      "policyHash",
      "result",
    ]);
    // the sidecar remembers which of its own policies was in force for that sandbox
    expect(server!.activations()).toMatchObject([
      { sandboxId: "sandbox-123", openshellPolicyHash, sidecarPolicyDigest: SIDECAR_DIGEST, gatewayName: "nemoclaw" },
    ]);
    expect(server!.prepared()[0]).toMatchObject({ name: "nemoclaw", kid: "gw-key-1", extensionTokenTtlSecs: 900 });
  });

  it("answers a client that half-closes after its request", async () => {
    await start();
    const prep = preparation(COMPONENT);
    const prepared = await post(socketPath, "/v2/prepare", prep, { halfClose: true });
    expect(prepared.json.result).toBe("prepared");
  });
});

describe("activation socket: rejections are exact answers, never acknowledgements", () => {
  it("rejects an activation for a gateway that was never prepared", async () => {
    await start();
    const act = activation(COMPONENT);
    const res = await post(socketPath, "/v1/activate", act);
    expect(res.status).toBe(200);
    expect(res.json).toStrictEqual({
      schemaVersion: 1,
      activationId: act.activationId,
      componentId: COMPONENT,
      sandboxId: "sandbox-123",
      policyHash: openshellPolicyHash,
      result: "rejected",
    });
    expect(server!.activations()).toEqual([]);
  });

  it("rejects preparation and activation addressed to another component", async () => {
    await start();
    const prep = await post(socketPath, "/v2/prepare", preparation("someone-else"));
    expect(prep.json).toMatchObject({ componentId: "someone-else", result: "rejected" });
    await post(socketPath, "/v2/prepare", preparation(COMPONENT));
    const act = await post(socketPath, "/v1/activate", activation("someone-else"));
    expect(act.json).toMatchObject({ componentId: "someone-else", result: "rejected" });
  });

  it("rejects both calls while no valid sidecar policy is loaded", async () => {
    await start();
    digest = () => {
      throw new Error("policy failed to load");
    };
    expect((await post(socketPath, "/v2/prepare", preparation(COMPONENT))).json.result).toBe("rejected");
    digest = () => SIDECAR_DIGEST;
    expect((await post(socketPath, "/v2/prepare", preparation(COMPONENT))).json.result).toBe("prepared");
    digest = () => undefined;
    expect((await post(socketPath, "/v1/activate", activation(COMPONENT))).json.result).toBe("rejected");
  });

  it("rejects a gateway key that is not Ed25519 and connection settings that differ from the declaration", async () => {
    await start({
      expected: {
        interceptor: {
          endpoint: "https://127.0.0.1:7403",
          caCertificatePath: "/home/u/ca.pem",
          audience: "urn:intent-sidecar:admission",
        },
      },
    });
    const rsa = (await import("node:crypto")).generateKeyPairSync("rsa", { modulusLength: 1024 });
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
    const base = preparation(COMPONENT);
    const badKey = await post(socketPath, "/v2/prepare", { ...base, gateway: { ...base.gateway, publicKeyPem: pem } });
    expect(badKey.json.result).toBe("rejected");
    const other = await post(
      socketPath,
      "/v2/prepare",
      preparation(COMPONENT, { interceptor: { ...base.interceptor, audience: "urn:other" } }),
    );
    expect(other.json.result).toBe("rejected");
    expect((await post(socketPath, "/v2/prepare", preparation(COMPONENT))).json.result).toBe("prepared");
  });

  it("rejects a policy source other than the sandbox's", async () => {
    await start();
    await post(socketPath, "/v2/prepare", preparation(COMPONENT));
    const res = await post(
      socketPath,
      "/v1/activate",
      activation(COMPONENT, { policy: { source: "user", hash: openshellPolicyHash, activeVersion: 1 } }),
    );
    expect(res.json.result).toBe("rejected");
  });
});

describe("activation socket: malformed and oversized requests", () => {
  beforeEach(async () => {
    await start({ maxBodyBytes: 4096 });
  });

  const cases: [string, () => string, number, string][] = [
    ["invalid JSON", () => request("/v1/activate", "{"), 400, "invalid_json"],
    ["a JSON array", () => request("/v1/activate", "[]"), 400, "invalid_json"],
    [
      "a duplicate JSON key",
      () =>
        request(
          "/v1/activate",
          JSON.stringify(activation(COMPONENT)).replace('"componentId":', '"componentId":"other","componentId":'),
        ),
      400,
      "invalid_json",
    ],
    [
      "the wrong activation schema",
      () => request("/v1/activate", JSON.stringify(activation(COMPONENT, { schemaVersion: 2 }))),
      400,
      "unsupported_schema",
    ],
    [
      "the wrong preparation schema",
      () => request("/v2/prepare", JSON.stringify(preparation(COMPONENT, { schemaVersion: 1 }))),
      400,
      "unsupported_schema",
    ],
    [
      "an activation id that is not a UUID",
      () => request("/v1/activate", JSON.stringify(activation(COMPONENT, { activationId: "x" }))),
      400,
      "invalid_activation_id",
    ],
    [
      "a policy hash that is not sha256",
      () =>
        request(
          "/v1/activate",
          JSON.stringify(activation(COMPONENT, { policy: { source: "sandbox", hash: "md5:1", activeVersion: 1 } })),
        ),
      400,
      "invalid_policy",
    ],
    [
      "chunked framing",
      () =>
        "POST /v1/activate HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      400,
      "ambiguous_framing",
    ],
    [
      "no Content-Length",
      () => "POST /v1/activate HTTP/1.1\r\nContent-Type: application/json\r\n\r\n",
      411,
      "length_required",
    ],
    ["duplicate headers", () => request("/v1/activate", "{}", "Content-Length: 2\r\n"), 400, "duplicate_header"],
    ["bytes after the body", () => request("/v1/activate", "{}") + "GET / HTTP/1.1\r\n\r\n", 400, "ambiguous_framing"],
    ["HTTP/1.0", () => "POST /v1/activate HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request_line"],
    [
      "a non-JSON content type",
      () => request("/v1/activate", "{}").replace("application/json", "text/plain"),
      415,
      "unsupported_media_type",
    ],
    ["an unknown path", () => request("/v1/other", "{}"), 404, "not_found"],
    [
      "GET",
      () => "GET /v1/activate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n",
      405,
      "method_not_allowed",
    ],
  ];
  it.each(cases)("answers %s with a complete error response", async (_name, bytes, status, code) => {
    const res = await sendRaw(socketPath, bytes());
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body)).toMatchObject({ error: code });
    expect(server!.activations()).toEqual([]);
  });

  it("refuses an oversized body from its Content-Length, before reading it", async () => {
    const head = "POST /v1/activate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n";
    const res = await sendRaw(socketPath, head + "x".repeat(1000));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ error: "body_too_large" });
  });

  it("refuses a body that is not UTF-8", async () => {
    const body = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]); // {"\xff":1}
    const head = `POST /v1/activate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const res = await sendRaw(socketPath, Buffer.concat([Buffer.from(head), body]));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: "invalid_json" });
  });

  it("refuses oversized headers", async () => {
    const res = await sendRaw(socketPath, `POST /v1/activate HTTP/1.1\r\nX-Pad: ${"p".repeat(20_000)}\r\n`);
    expect(res.status).toBe(431);
  });
});

describe("activation socket: deadline and lifecycle", () => {
  it("closes a client that does not finish its request within the deadline", async () => {
    await start({ deadlineMs: 200 });
    const socket = net.createConnection({ path: socketPath });
    const received: Buffer[] = [];
    socket.on("data", (c: Buffer) => received.push(c));
    socket.once("connect", () => socket.write("POST /v1/activate HTTP/1.1\r\nContent-Length: 100\r\n"));
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    expect(Buffer.concat(received).length).toBe(0); // closed, never acknowledged
    // the server is still serving after dropping the slow client
    expect((await post(socketPath, "/v2/prepare", preparation(COMPONENT))).json.result).toBe("prepared");
  });

  it("closes a handler that cannot answer within the deadline, without an answer", async () => {
    await start({ deadlineMs: 200, activePolicyDigest: () => new Promise<string>(() => {}) });
    await expect(sendRaw(socketPath, request("/v2/prepare", JSON.stringify(preparation(COMPONENT))))).rejects.toThrow(
      /no complete response/,
    );
  });

  it("replaces a stale socket file but refuses to steal a live one", async () => {
    const first = await start();
    await expect(
      startActivationServer({ socketPath, componentId: COMPONENT, activePolicyDigest: () => SIDECAR_DIGEST }),
    ).rejects.toMatchObject({ code: "socket_in_use" });
    await first.close();
    expect(fs.existsSync(socketPath)).toBe(false);
    // a crashed daemon leaves its socket file behind
    spawnSync(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, "SIGKILL"))`,
    ]);
    expect(fs.lstatSync(socketPath).isSocket()).toBe(true);
    await start();
    expect((await post(socketPath, "/v2/prepare", preparation(COMPONENT))).json.result).toBe("prepared");
  });

  it("refuses a socket folder that others can write", async () => {
    const open = path.join(dir, "open");
    fs.mkdirSync(open, { mode: 0o777 });
    fs.chmodSync(open, 0o777);
    await expect(
      startActivationServer({
        socketPath: path.join(open, "a.sock"),
        componentId: COMPONENT,
        activePolicyDigest: () => SIDECAR_DIGEST,
      }),
    ).rejects.toMatchObject({ code: "socket_parent_unsafe" });
  });
});
