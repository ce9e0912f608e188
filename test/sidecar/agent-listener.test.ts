// The agent listener (sidecar/api/agent-server.ts: node:http, the direct POST /v1/intents handler, hono for the rest)
// over real sockets: framing, pipelining, 100-continue, chunked bodies, the refusals that keep request boundaries
// unambiguous (JSON, connection closed, nothing behind them served), timeouts, backpressure and shutdown.
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "node:net";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { createAgentServer, MAX_PIPELINED, MAX_QUEUED, type AgentServerOptions } from "../../sidecar/api/agent-server.ts";
import { TokenAuth } from "../../sidecar/api/auth.ts";
import type { Pipeline } from "../../sidecar/pipeline.ts";
import { parseAll, post, RawClient, sleep } from "./raw-client.ts";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

interface Hooks {
  /** Called for every request that reaches a route (hono or the fast path). */
  onRoute?: (what: string) => void;
  decide?: (text: string) => Promise<{ status: number; body: unknown }>;
  app?: (app: Hono) => void;
}

/** A hono app that answers with what it saw, and a pipeline whose decideText echoes the body. */
async function start(hooks: Hooks = {}, options: AgentServerOptions = {}, bodyLimitBytes = 1000): Promise<number> {
  const app = new Hono();
  hooks.app?.(app);
  app.all("*", async (c) => {
    hooks.onRoute?.(`${c.req.method} ${c.req.path}`);
    if (c.req.path === "/slow") await sleep(50);
    const url = new URL(c.req.url);
    return c.json({
      method: c.req.method,
      target: url.pathname + url.search,
      body: await c.req.text(),
      x: c.req.header("x-a") ?? null,
    });
  });
  const pipeline = {
    decideText: async (text: string) => {
      hooks.onRoute?.("decide");
      return hooks.decide ? hooks.decide(text) : { status: 200, body: { fast: true, body: text } };
    },
  } as unknown as Pipeline;
  const s = createAgentServer(app, { pipeline, auth: new TokenAuth({}), bodyLimitBytes }, {
    ...options,
    limits: { maxHeaderBytes: 2000, ...options.limits },
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return (s.address() as AddressInfo).port;
}

describe("agent listener (node:http)", () => {
  it("answers pipelined requests in order on one kept-alive connection, even when the first is slower", async () => {
    const c = new RawClient(await start());
    c.send(post("/slow", "one") + post("/v1/intents", "two") + "GET /third HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const [a, b, g] = await c.responses(3);
    expect(JSON.parse(a!.body)).toMatchObject({ target: "/slow", body: "one" });
    expect(JSON.parse(b!.body)).toEqual({ fast: true, body: "two" });
    expect(JSON.parse(g!.body)).toMatchObject({ method: "GET", target: "/third", body: "" });
    expect(g!.headers.connection).toBe("keep-alive");
    expect(c.closed).toBe(false);
    c.socket.destroy();
  });

  it("reassembles a request that arrives one byte at a time", async () => {
    const c = new RawClient(await start());
    c.socket.setNoDelay(true);
    for (const ch of post("/v1/intents", '{"a":1}')) c.send(ch);
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body)).toEqual({ fast: true, body: '{"a":1}' });
    c.socket.destroy();
  });

  it("assembles a body sent in hundreds of small pieces, followed by a pipelined request, byte for byte", async () => {
    const c = new RawClient(await start({}, {}, 100_000));
    const body = Array.from({ length: 60_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const wire = post("/big", body) + "GET /next HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for (let i = 0; i < wire.length; i += 97) {
      c.send(wire.slice(i, i + 97));
      if (i % 9700 === 0) await new Promise((r) => setImmediate(r)); // let some pieces arrive separately
    }
    const [big, next] = await c.responses(2);
    expect(JSON.parse(big!.body).body).toBe(body);
    expect(JSON.parse(next!.body).target).toBe("/next");
    c.socket.destroy();
  });

  it("sends 100 Continue when asked, before the body is sent; refuses an announced body over the limit instead", async () => {
    const port = await start();
    const c = new RawClient(port);
    c.send("POST /v1/intents HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const [interim] = await c.responses(1);
    expect(interim!.status).toBe(100);
    c.send("hello");
    const [, final] = await c.responses(2);
    expect(final!.status).toBe(200);
    expect(JSON.parse(final!.body).body).toBe("hello");
    c.socket.destroy();

    const big = new RawClient(port);
    big.send("POST /v1/intents HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    const [r] = await big.responses(1);
    expect(r!.status).toBe(413);
    await big.untilClosed();
  });

  it("decodes a chunked body with extensions and trailers, split across writes", async () => {
    const c = new RawClient(await start());
    const wire =
      "POST /c HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5;ext=1\r\nhello\r\n" +
      "1\r\n \r\n" +
      "5\r\nworld\r\n" +
      "0\r\nX-Trailer: yes\r\n\r\n";
    for (let i = 0; i < wire.length; i += 7) c.send(wire.slice(i, i + 7));
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body).body).toBe("hello world");
    c.socket.destroy();
  });

  const H = "Host: localhost\r\n";
  const refusals: [string, string, number, string][] = [
    [
      "both Transfer-Encoding and Content-Length",
      `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc`,
      400,
      "bad_request",
    ],
    [
      "two different Content-Lengths",
      `POST /x HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
      400,
      "bad_request",
    ],
    ["a Content-Length that is not a number", `POST /x HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 400, "bad_request"],
    ["an obs-fold continuation line", `GET /x HTTP/1.1\r\n${H}X-A: 1\r\n folded\r\n\r\n`, 400, "bad_request"],
    ["a bare LF inside a field", `GET /x HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`, 400, "bad_request"],
    [
      "a transfer coding other than chunked",
      `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      501,
      "not_implemented",
    ],
    ["Transfer-Encoding in HTTP/1.0", "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"],
    ["HTTP/2.0 in the request line", `GET /x HTTP/2.0\r\n${H}\r\n`, 505, "http_version_not_supported"],
    ["HTTP/1.2 in the request line", `GET /x HTTP/1.2\r\n${H}\r\n`, 505, "http_version_not_supported"],
    ["HTTP/1.1 without Host", "GET /x HTTP/1.1\r\n\r\n", 400, "bad_request"],
    ["two Host fields", `GET /x HTTP/1.1\r\n${H}Host: evil.example\r\n\r\n`, 400, "bad_request"],
    ["an absolute-form target", `GET http://evil.example/x HTTP/1.1\r\n${H}\r\n`, 400, "bad_request"],
    ["a header section over the limit", `GET /x HTTP/1.1\r\n${H}X-Big: ${"a".repeat(3000)}\r\n\r\n`, 431, "headers_too_large"],
    [
      "a Content-Length over the body limit (answered before the body)",
      `POST /v1/intents HTTP/1.1\r\n${H}Content-Length: 5000\r\n\r\n`,
      413,
      "body_too_large",
    ],
    [
      "a chunked body over the limit",
      `POST /v1/intents HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${"3e8\r\n" + "a".repeat(1000) + "\r\n"}1\r\nb\r\n0\r\n\r\n`,
      413,
      "body_too_large",
    ],
    ["an Expect other than 100-continue", `GET /x HTTP/1.1\r\n${H}Expect: magic\r\n\r\n`, 417, "expectation_failed"],
    ["TRACE", `TRACE /x HTTP/1.1\r\n${H}\r\n`, 405, "method_not_allowed"],
    ["TRACK (a method llhttp does not know)", `TRACK /x HTTP/1.1\r\n${H}\r\n`, 400, "bad_request"],
    ["CONNECT", `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, 405, "method_not_allowed"],
    ["a foreign Host (guard)", `GET /x HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 403, "host_refused"],
    ["an Origin (guard)", `POST /v1/intents HTTP/1.1\r\n${H}Origin: https://evil.example\r\nContent-Length: 2\r\n\r\n{}`, 403, "origin_refused"],
  ];
  it.each(refusals)("refuses %s with a JSON error and closes the connection", async (_name, wire, status, code) => {
    const called: string[] = [];
    const c = new RawClient(
      await start({ onRoute: (w) => called.push(w) }, { guard: { listener: "agent API", origin: "refuse", requireJson: false } }),
    );
    c.send(wire + post("/after", "must not be served"));
    const [r] = await c.responses(1);
    expect(r!.status).toBe(status);
    expect(r!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r!.body).error).toBe(code);
    expect(r!.headers.connection).toBe("close");
    await c.untilClosed();
    expect(called).toEqual([]);
    expect(parseAll(Buffer.from(c.text, "latin1"))).toHaveLength(1);
  });

  it("dev mode guard: a text/plain POST is 415", async () => {
    const c = new RawClient(await start({}, { guard: { listener: "agent API", origin: "refuse", requireJson: true } }));
    c.send(post("/v1/intents", "{}", "Content-Type: text/plain\r\n"));
    const [r] = await c.responses(1);
    expect(r!.status).toBe(415);
    expect(JSON.parse(r!.body).error).toBe("unsupported_media_type");
  });

  it("stops reading requests from a client that does not read its answers, and serves the rest once it does", async () => {
    let calls = 0;
    const big = "x".repeat(256 * 1024);
    const port = await start({
      app: (app) =>
        app.get("/big", (c) => {
          calls++;
          return c.text(big);
        }),
    });
    const s = connect(port, "127.0.0.1");
    await new Promise((r) => s.once("connect", r));
    s.pause(); // read nothing
    const n = 200;
    const one = "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // in writes of 10 requests, as a client would stream them
    for (let i = 0; i < n; i += 10) {
      s.write(one.repeat(10));
      await sleep(5);
    }
    await sleep(300);
    const servedWhileUnread = calls;
    expect(servedWhileUnread).toBeLessThan(n); // 200 × 256 KiB unread would be 50 MiB buffered in the server
    let received = 0;
    s.on("data", (c: Buffer) => (received += c.length));
    s.resume();
    while (calls < n) await sleep(10);
    while (received < n * big.length) await sleep(10);
    expect(calls).toBe(n);
    s.destroy();
  });

  it("requests pipelined in one write: 32 handled at a time, the rest wait in order until the client reads; over 288 waiting, cut", async () => {
    let calls = 0;
    const port = await start({
      app: (app) =>
        app.get("/big/:n", (c) => {
          calls++;
          return c.text(c.req.param("n") + "x".repeat(64 * 1024));
        }),
    });
    const s = connect(port, "127.0.0.1");
    await new Promise((r) => s.once("connect", r));
    s.pause(); // read nothing
    const n = 200; // one write, so node reads them all at once
    s.write(Array.from({ length: n }, (_, i) => `GET /big/${i} HTTP/1.1\r\nHost: localhost\r\n\r\n`).join(""));
    await sleep(300);
    // node alone would have run all 200 at once; here the next waits until the socket drains (the kernel's loopback
    // buffers take a few MB of answers before it stops draining)
    expect(calls).toBeLessThan(n);
    let text = "";
    s.setEncoding("latin1");
    s.on("data", (c: string) => (text += c));
    s.resume();
    while (calls < n || text.length < n * 64 * 1024) await sleep(10);
    const order = [...text.matchAll(/\r\n\r\n(\d+)x/g)].map((m) => Number(m[1]));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    s.destroy();

    const flood = new RawClient(port);
    await new Promise((r) => flood.socket.once("connect", r));
    flood.socket.pause();
    flood.send("GET /big/0 HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(MAX_PIPELINED + MAX_QUEUED + 50));
    flood.socket.resume();
    await flood.untilClosed();
  });

  it("closes after an HTTP/1.0 request without keep-alive, and answers HEAD without a body", async () => {
    const c = new RawClient(await start());
    c.send("HEAD /h HTTP/1.0\r\n\r\n");
    await c.untilClosed();
    expect(c.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.text).toMatch(/\r\nConnection: close\r\n/i);
    expect(c.text.endsWith("\r\n\r\n")).toBe(true); // no body bytes after the header section
  });

  it("answers a request whose sender half-closed, then closes", async () => {
    const c = new RawClient(await start({ decide: async (t) => (await sleep(20), { status: 200, body: { t } }) }));
    c.socket.end(post("/v1/intents", "x"));
    await c.untilClosed();
    const [r] = parseAll(Buffer.from(c.text, "latin1"));
    expect(JSON.parse(r!.body)).toEqual({ t: "x" });
  });

  it("a decision that fails is 500 JSON (nothing approved), and the connection keeps serving", async () => {
    let n = 0;
    const c = new RawClient(
      await start({
        decide: async (text) => {
          if (n++ === 0) throw new Error("boom");
          return { status: 200, body: { text } };
        },
      }),
    );
    c.send(post("/v1/intents", "a") + post("/v1/intents", "b"));
    const [a, ok] = await c.responses(2);
    expect([a!.status, ok!.status]).toEqual([500, 200]);
    expect(JSON.parse(a!.body).error).toBe("internal_error");
    expect(a!.body).not.toContain("boom");
    c.socket.destroy();
  });

  it("closes idle kept-alive connections after the keep-alive timeout, and answers 408 to a stalled request", async () => {
    const port = await start({}, { limits: { keepAliveTimeoutMs: 150, headersTimeoutMs: 400, checkIntervalMs: 100 } });
    const idle = new RawClient(port);
    idle.send("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await idle.responses(1);
    const t0 = Date.now();
    await idle.untilClosed();
    expect(Date.now() - t0).toBeLessThan(2000);

    const stalled = new RawClient(port);
    stalled.send("GET /a HTTP/1.1\r\nHost: localhost\r\n");
    await stalled.untilClosed();
    const [r] = parseAll(Buffer.from(stalled.text, "latin1"));
    expect(r!.status).toBe(408);
    expect(JSON.parse(r!.body).error).toBe("request_timeout");

    // a body that stops midway: the whole-request timeout
    const port2 = await start({}, { limits: { requestTimeoutMs: 400, checkIntervalMs: 100 } });
    const slowBody = new RawClient(port2);
    slowBody.send("POST /v1/intents HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc");
    await slowBody.untilClosed();
    expect(parseAll(Buffer.from(slowBody.text, "latin1"))[0]?.status).toBe(408);
  });

  it("a long poll learns that its client went away", async () => {
    let aborted: Promise<boolean> | undefined;
    const c = new RawClient(
      await start({
        app: (app) =>
          app.get("/wait", async (c) => {
            const signal = c.req.raw.signal;
            aborted = new Promise((r) => signal.addEventListener("abort", () => r(true)));
            await aborted;
            return c.json({});
          }),
      }),
    );
    c.send("GET /wait HTTP/1.1\r\nHost: localhost\r\n\r\n");
    while (!aborted) await sleep(5);
    c.socket.destroy();
    expect(await aborted).toBe(true);
  });

  it("hono routes see the method, path and query, headers and the body", async () => {
    const c = new RawClient(await start());
    c.send(post("/p?q=1", "hi", "X-A: 1\r\n"));
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body)).toEqual({ method: "POST", target: "/p?q=1", body: "hi", x: "1" });
    c.socket.destroy();
  });

  it("on close, idle connections are dropped and a request in progress is answered, then its connection closed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const port = await start({ app: (app) => app.get("/busy", async (c) => (await gate, c.json({ busy: true }))) });
    const server = servers[0]!;
    const idle = new RawClient(port);
    idle.send("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await idle.responses(1);
    const busy = new RawClient(port);
    busy.send("GET /busy HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await sleep(30);
    const closed = new Promise((r) => server.close(r));
    server.closeIdleConnections();
    await idle.untilClosed();
    expect(busy.closed).toBe(false);
    release();
    const [r] = await busy.responses(1);
    expect(JSON.parse(r!.body)).toEqual({ busy: true });
    expect(r!.headers.connection).toBe("close");
    await busy.untilClosed();
    await closed;
    servers.length = 0;
  });
});
