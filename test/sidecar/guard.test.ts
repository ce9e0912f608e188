// The loopback listeners' request guard (sidecar/api/guard.ts): which Host, Origin and content types pass.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, isLocalHost, listenerHosts, type GuardOptions } from "../../sidecar/api/guard.ts";
import { http, removeDir, startTestDaemon } from "./helpers.ts";

const agent: GuardOptions = { listener: "agent API", origin: "refuse", requireJson: false };
const dev: GuardOptions = { ...agent, requireJson: true };
const operator: GuardOptions = { listener: "operator API", origin: "same-origin", requireJson: false };

describe("guard", () => {
  it("accepts loopback Host names only", () => {
    for (const h of ["localhost", "LOCALHOST:7400", "127.0.0.1", "127.0.0.1:7400", "127.255.0.9:1", "[::1]", "[::1]:7400"]) {
      expect(isLocalHost(h), h).toBe(true);
    }
    for (const h of [
      "evil.example",
      "127.0.0.1.evil.example",
      "localhost.evil.example",
      "sub.localhost",
      "10.0.0.5:7400",
      "0.0.0.0",
      "[::]",
      "[::ffff:127.0.0.1]",
      "127.0.0.1:7400:1",
      "",
      "localhost@evil",
    ]) {
      expect(isLocalHost(h), h).toBe(false);
    }
    expect(isLocalHost("10.0.0.5:7400", listenerHosts("10.0.0.5:7400"))).toBe(true);
    expect(listenerHosts("0.0.0.0:7400")).toEqual([]);
    expect(listenerHosts("[::]:7400")).toEqual([]);
  });

  it("refuses any Origin on the agent API; only http://<Host> on the operator API", () => {
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1:7400"]) {
      expect(checkRequest({ method: "POST", host: "127.0.0.1:7400", origin }, agent)?.error).toBe("origin_refused");
    }
    expect(checkRequest({ method: "POST", host: "127.0.0.1:7402", origin: "http://127.0.0.1:7402" }, operator)).toBeUndefined();
    expect(checkRequest({ method: "POST", host: "localhost:7402", origin: "http://LOCALHOST:7402" }, operator)).toBeUndefined();
    for (const origin of ["http://127.0.0.1:7400", "https://127.0.0.1:7402", "http://evil.example", "null"]) {
      expect(checkRequest({ method: "POST", host: "127.0.0.1:7402", origin }, operator)?.error, origin).toBe("origin_refused");
    }
    // no Origin (programs, same-origin GETs) passes
    expect(checkRequest({ method: "GET", host: "127.0.0.1:7402" }, operator)).toBeUndefined();
  });

  it("dev mode: POSTs must be application/json", () => {
    expect(checkRequest({ method: "POST", host: "localhost", contentType: "application/json" }, dev)).toBeUndefined();
    expect(checkRequest({ method: "POST", host: "localhost", contentType: "Application/JSON; charset=UTF-8" }, dev)).toBeUndefined();
    expect(checkRequest({ method: "GET", host: "localhost" }, dev)).toBeUndefined();
    for (const ct of [undefined, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx"]) {
      const r = checkRequest({ method: "POST", host: "localhost", contentType: ct }, dev);
      expect(r?.status, String(ct)).toBe(415);
    }
    // token mode does not require it (a token already needs a preflight from a page)
    expect(checkRequest({ method: "POST", host: "localhost", contentType: "text/plain" }, agent)).toBeUndefined();
  });
});

describe("guard on an in-process daemon without tokens", () => {
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("refuses a text/plain POST and an Origin, accepts JSON", async () => {
    const body = JSON.stringify({ agent: "bot", action: "report.daily", params: {} });
    const plain = await http(`${d.url}/v1/intents`, { raw: body, headers: { "content-type": "text/plain" } });
    expect(plain.status).toBe(415);
    expect(plain.body.error).toBe("unsupported_media_type");
    const page = await http(`${d.url}/v1/intents`, { raw: body, headers: { origin: "https://evil.example" } });
    expect(page.status).toBe(403);
    const ok = await http(`${d.url}/v1/intents`, { raw: body });
    expect(ok.status).toBe(200);
  });
});
