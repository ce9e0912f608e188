// The agent listener's HTTP/1.1 server over real sockets: framing, pipelining, 100-continue, chunked bodies, the
// refusals that keep request boundaries unambiguous, timeouts and shutdown.
import { afterEach, describe, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Http1Server, type Http1Handler, type Http1ServerOptions } from "../../sidecar/http1/server.ts";
import { fetchAdapter } from "../../sidecar/http1/fetch-adapter.ts";

const servers: Http1Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** Answers with what it saw: method, target, body, and a few headers. */
const echo: Http1Handler = (req) => ({
  status: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    method: req.method,
    target: req.target,
    body: req.body.toString(),
    te: req.headers.get("x-n") ?? null,
  }),
});

async function start(handler: Http1Handler = echo, options: Http1ServerOptions = {}): Promise<number> {
  const s = new Http1Server(handler, { maxBodyBytes: 1000, maxHeaderBytes: 2000, ...options });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return (s.address() as AddressInfo).port;
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw client: collects what the server sends, parses complete responses, notes when the server closes. */
class RawClient {
  readonly socket: Socket;
  private data = Buffer.alloc(0);
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (c) => {
      this.data = Buffer.concat([this.data, c]);
      this.wake();
    });
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  send(text: string | Buffer) {
    this.socket.write(text);
  }

  get text(): string {
    return this.data.toString("latin1");
  }

  /** Waits for `n` complete responses (interim 1xx responses are returned too). */
  async responses(n: number): Promise<Parsed[]> {
    for (;;) {
      const out = parseAll(this.data);
      if (out.length >= n) return out.slice(0, n);
      if (this.closed) throw new Error(`connection closed after ${out.length} responses: ${this.text}`);
      await this.changed();
    }
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await this.changed();
  }
}

function parseAll(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", at);
    if (end < 0) return out;
    const lines = buf.toString("latin1", at, end).split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = status < 200 || status === 204 || status === 304 ? 0 : Number(headers["content-length"] ?? 0);
    if (buf.length < end + 4 + len) return out;
    out.push({ status, headers, body: buf.toString("utf8", end + 4, end + 4 + len) });
    at = end + 4 + len;
  }
}

const post = (target: string, body: string, extra = "") =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe("HTTP/1.1 server", () => {
  it("answers pipelined requests in order on one kept-alive connection, even when the first is slower", async () => {
    const port = await start(async (req) => {
      if (req.target === "/slow") await new Promise((r) => setTimeout(r, 50));
      return echo(req);
    });
    const c = new RawClient(port);
    c.send(post("/slow", "one") + post("/fast", "two") + "GET /third HTTP/1.1\r\nHost: x\r\n\r\n");
    const [a, b, g] = await c.responses(3);
    expect(JSON.parse(a!.body)).toMatchObject({ target: "/slow", body: "one" });
    expect(JSON.parse(b!.body)).toMatchObject({ target: "/fast", body: "two" });
    expect(JSON.parse(g!.body)).toMatchObject({ method: "GET", target: "/third", body: "" });
    expect(g!.headers.connection).toBe("keep-alive");
    expect(c.closed).toBe(false);
    c.socket.destroy();
  });

  it("reassembles a request that arrives one byte at a time", async () => {
    const c = new RawClient(await start());
    for (const ch of post("/v1/intents", '{"a":1}')) c.send(ch);
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body)).toMatchObject({ target: "/v1/intents", body: '{"a":1}' });
    c.socket.destroy();
  });

  it("assembles a body sent in hundreds of small pieces, followed by a pipelined request, byte for byte", async () => {
    const c = new RawClient(await start(echo, { maxBodyBytes: 100_000 }));
    const body = Array.from({ length: 60_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const wire = post("/big", body) + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    for (let i = 0; i < wire.length; i += 97) {
      c.send(wire.slice(i, i + 97));
      if (i % 9700 === 0) await new Promise((r) => setImmediate(r)); // let some pieces arrive separately
    }
    const [big, next] = await c.responses(2);
    expect(JSON.parse(big!.body).body).toBe(body);
    expect(JSON.parse(next!.body).target).toBe("/next");
    c.socket.destroy();
  });

  it("sends 100 Continue when asked, before the body is sent", async () => {
    const c = new RawClient(await start());
    c.send("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const [interim] = await c.responses(1);
    expect(interim!.status).toBe(100);
    c.send("hello");
    const [, final] = await c.responses(2);
    expect(final!.status).toBe(200);
    expect(JSON.parse(final!.body).body).toBe("hello");
    c.socket.destroy();
  });

  it("decodes a chunked body with extensions and trailers, split across writes", async () => {
    const c = new RawClient(await start());
    const wire =
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5;ext=1\r\nhello\r\n" +
      "1\r\n \r\n" +
      "5\r\nworld\r\n" +
      "0\r\nX-Trailer: yes\r\n\r\n";
    for (let i = 0; i < wire.length; i += 7) c.send(wire.slice(i, i + 7));
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body).body).toBe("hello world");
    c.socket.destroy();
  });

  const refusals: [string, string, number, string][] = [
    [
      "both Transfer-Encoding and Content-Length",
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
      400,
      "bad_request",
    ],
    [
      "two different Content-Lengths",
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      400,
      "bad_request",
    ],
    [
      "a Content-Length that is not a number",
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
      400,
      "bad_request",
    ],
    ["an obs-fold continuation line", "GET /x HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400, "bad_request"],
    ["a bare LF inside a field", "GET /x HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n", 400, "bad_request"],
    [
      "a transfer coding other than chunked",
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      501,
      "not_implemented",
    ],
    ["HTTP/2.0 in the request line", "GET /x HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"],
    ["HTTP/1.1 without Host", "GET /x HTTP/1.1\r\n\r\n", 400, "bad_request"],
    ["an absolute-form target", "GET http://evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"],
    [
      "a header section over the limit",
      `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(3000)}\r\n\r\n`,
      431,
      "headers_too_large",
    ],
    [
      "a Content-Length over the body limit (answered before the body)",
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
      413,
      "body_too_large",
    ],
    [
      "a chunked body over the limit",
      `POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${"3e8\r\n" + "a".repeat(1000) + "\r\n"}1\r\nb\r\n`,
      413,
      "body_too_large",
    ],
    [
      "an Expect other than 100-continue",
      "GET /x HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n",
      417,
      "expectation_failed",
    ],
  ];
  it.each(refusals)("refuses %s with a JSON error and closes the connection", async (_name, wire, status, code) => {
    let called = 0;
    const c = new RawClient(
      await start((req) => {
        called++;
        return echo(req);
      }),
    );
    c.send(wire + post("/after", "must not be served"));
    const [r] = await c.responses(1);
    expect(r!.status).toBe(status);
    expect(r!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r!.body).error).toBe(code);
    expect(r!.headers.connection).toBe("close");
    await c.untilClosed();
    expect(called).toBe(0);
    expect(parseAll(Buffer.from(c.text, "latin1"))).toHaveLength(1);
  });

  it("stops reading requests from a client that does not read its answers, and serves the rest once it does", async () => {
    let calls = 0;
    const big = "x".repeat(256 * 1024);
    const port = await start((req) => {
      calls++;
      return { status: 200, headers: { "content-type": "text/plain" }, body: req.target === "/big" ? big : "ok" };
    });
    const s = connect(port, "127.0.0.1");
    await new Promise((r) => s.once("connect", r));
    s.pause(); // read nothing
    const n = 200;
    s.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(n));
    await new Promise((r) => setTimeout(r, 300));
    const servedWhileUnread = calls;
    expect(servedWhileUnread).toBeLessThan(n); // 200 × 256 KiB unread would be 50 MiB buffered in the server
    let received = 0;
    s.on("data", (c: Buffer) => (received += c.length));
    s.resume();
    while (calls < n) await new Promise((r) => setTimeout(r, 10));
    while (received < n * big.length) await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBe(n);
    s.destroy();
  });

  it("closes after an HTTP/1.0 request without keep-alive, and answers HEAD without a body", async () => {
    const c = new RawClient(await start());
    c.send("HEAD /h HTTP/1.0\r\n\r\n");
    await c.untilClosed();
    expect(c.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.text).toMatch(/\r\nconnection: close\r\n/);
    expect(Number(/\r\ncontent-length: (\d+)\r\n/.exec(c.text)?.[1])).toBeGreaterThan(0);
    expect(c.text.endsWith("\r\n\r\n")).toBe(true); // no body bytes after the header section
  });

  it("answers a request whose sender half-closed, then closes", async () => {
    const c = new RawClient(
      await start(async (req) => {
        await new Promise((r) => setTimeout(r, 20));
        return echo(req);
      }),
    );
    c.socket.end(post("/half", "x"));
    await c.untilClosed();
    const [r] = parseAll(Buffer.from(c.text, "latin1"));
    expect(JSON.parse(r!.body).target).toBe("/half");
    expect(r!.headers.connection).toBe("close");
  });

  it("a handler that throws or rejects gets 500 JSON, and the connection keeps serving", async () => {
    const c = new RawClient(
      await start((req) => {
        if (req.target === "/throw") throw new Error("boom");
        if (req.target === "/reject") return Promise.reject(new Error("boom"));
        return echo(req);
      }),
    );
    c.send(
      "GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /reject HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const [a, b, ok] = await c.responses(3);
    expect([a!.status, b!.status, ok!.status]).toEqual([500, 500, 200]);
    expect(JSON.parse(a!.body).error).toBe("internal_error");
    expect(a!.body).not.toContain("boom");
    c.socket.destroy();
  });

  it("closes idle kept-alive connections after the keep-alive timeout, and answers 408 to a stalled request", async () => {
    const port = await start(echo, { keepAliveTimeoutMs: 150 });
    const idle = new RawClient(port);
    idle.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.responses(1);
    await idle.untilClosed();

    const stalled = new RawClient(port);
    stalled.send("GET /a HTTP/1.1\r\nHost: x\r\n");
    await stalled.untilClosed();
    const [r] = parseAll(Buffer.from(stalled.text, "latin1"));
    expect(r!.status).toBe(408);
  });

  it("tells a handler when its client went away", async () => {
    let aborted: Promise<boolean> | undefined;
    const c = new RawClient(
      await start((req) => {
        aborted = new Promise((r) => req.signal.addEventListener("abort", () => r(true)));
        return new Promise(() => {}); // never answers, like a long poll
      }),
    );
    c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!aborted) await new Promise((r) => setTimeout(r, 5));
    c.socket.destroy();
    expect(await aborted).toBe(true);
  });

  it("a handler that asks after its client half-closed sees an aborted signal, and its answer is still delivered", async () => {
    const c = new RawClient(
      await start(async (req) => {
        await new Promise((r) => setTimeout(r, 30)); // the FIN arrives meanwhile
        return { status: 200, headers: { "content-type": "text/plain" }, body: `aborted=${req.signal.aborted}` };
      }),
    );
    c.socket.end("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.untilClosed();
    expect(c.text).toMatch(/\r\n\r\naborted=true$/);
  });

  it("through the fetch adapter: a WHATWG Request with method, path, headers and body; TRACE refused with 405", async () => {
    const seen: string[] = [];
    const c = new RawClient(
      await start(
        fetchAdapter(async (r) => {
          seen.push(
            `${r.method} ${new URL(r.url).pathname}${new URL(r.url).search} ${r.headers.get("x-a")} ${await r.text()}`,
          );
          return new Response("done", { status: 201, headers: { "x-b": "2" } });
        }),
      ),
    );
    c.send(post("/p?q=1", "hi", "X-A: 1\r\n") + "TRACE /t HTTP/1.1\r\nHost: x\r\n\r\n");
    const [created, trace] = await c.responses(2);
    expect(created!.status).toBe(201);
    expect(created!.headers["x-b"]).toBe("2");
    expect(created!.body).toBe("done");
    expect(trace!.status).toBe(405);
    expect(JSON.parse(trace!.body).error).toBe("method_not_allowed");
    expect(seen).toEqual(["POST /p?q=1 1 hi"]);
    c.socket.destroy();
  });

  it("on close, idle connections are dropped and a request in progress is answered with connection: close", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const port = await start(async (req) => {
      if (req.target === "/busy") await gate;
      return echo(req);
    });
    const server = servers[0]!;
    const idle = new RawClient(port);
    idle.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.responses(1);
    const busy = new RawClient(port);
    busy.send("GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((r) => setTimeout(r, 30));
    const closed = new Promise((r) => server.close(r));
    server.closeIdleConnections();
    await idle.untilClosed();
    expect(busy.closed).toBe(false);
    release();
    const [r] = await busy.responses(1);
    expect(r!.headers.connection).toBe("close");
    await busy.untilClosed();
    await closed;
    servers.length = 0;
  });
});
