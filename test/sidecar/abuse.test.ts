// Bounded under abuse (docs/threat-model.md): header timeouts enforced by timer while other clients are served,
// per-listener connection caps that refuse the excess at once, and the operator listener answering while the agent
// and proxy listeners are flooded. Real sockets on loopback; every loop is bounded and every test stops by itself.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { createAgentServer } from "../../sidecar/api/agent-server.ts";
import { TokenAuth } from "../../sidecar/api/auth.ts";
import { fitCaps, FD_RESERVE, openFileLimit } from "../../sidecar/api/http-server.ts";
import type { Pipeline } from "../../sidecar/pipeline.ts";
import { post, RawClient, sleep } from "./raw-client.ts";
import { http as request, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../sidecar/config.ts";

const open: Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** A connection that notes when the server closes it. */
function hold(addr: string): { socket: Socket; closedAt: Promise<number> } {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const socket = connect(port, host);
  socket.on("error", () => {});
  socket.resume(); // read (and drop) what the server sends, so its FIN is seen
  open.push(socket);
  const closedAt = new Promise<number>((r) => socket.once("close", () => r(Date.now())));
  return { socket, closedAt };
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await p;
  return [v, Date.now() - t0];
}

describe("slowloris on the agent listener", () => {
  let server: http.Server;
  let addr: string;
  beforeAll(async () => {
    const pipeline = { decideText: async (t: string) => ({ status: 200, body: { t } }) } as unknown as Pipeline;
    server = createAgentServer(
      new Hono(),
      { pipeline, auth: new TokenAuth({}), bodyLimitBytes: 1024 },
      { limits: { headersTimeoutMs: 3_000, maxConnections: 64 } }, // the default check interval, 1 s
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("a client trickling header bytes one per second is cut within the header timeout; others are served meanwhile", async () => {
    const t0 = Date.now();
    const lorises = Array.from({ length: 20 }, () => hold(addr));
    const head = "POST /v1/intents HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + "a".repeat(100);
    let i = 0;
    const tick = () => {
      for (const l of lorises) if (!l.socket.destroyed) l.socket.write(head[i % head.length]!);
      i++;
    };
    tick(); // the first byte at once (the header clock starts with it), then one per second
    const trickle = setInterval(tick, 1_000);
    try {
      // meanwhile a normal client is answered, again and again, promptly
      const port = Number(addr.split(":")[1]);
      const latencies: number[] = [];
      while (Date.now() - t0 < 3_500) {
        const c = new RawClient(port);
        const [[r], ms] = await timed(
          (c.send(post("/v1/intents", "{}")), c.responses(1)),
        );
        expect(r!.status).toBe(200);
        latencies.push(ms);
        c.socket.destroy();
        await sleep(200);
      }
      expect(Math.max(...latencies)).toBeLessThan(500);
      const cut = await Promise.all(lorises.map((l) => l.closedAt));
      for (const at of cut) {
        expect(at - t0).toBeGreaterThanOrEqual(2_500);
        expect(at - t0).toBeLessThan(3_000 + 1_000 + 700); // the timeout plus one check interval, plus slack
      }
    } finally {
      clearInterval(trickle);
    }
  }, 15_000);

  it("a connection that never sends a byte is cut by the same timer", async () => {
    const t0 = Date.now();
    const silent = hold(addr);
    const at = await silent.closedAt;
    expect(at - t0).toBeLessThan(4_700);
  }, 10_000);
});

describe("connection caps on a daemon", () => {
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  const caps = { agent: 20, proxy: 20, operator: 8 };
  beforeAll(async () => {
    d = await startTestDaemon({ config: { maxConnections: caps, operatorTokens: { op: "op-token" } } });
  });
  afterAll(async () => {
    await d.close();
    removeDir(d.dataDir);
  });

  it("agent and proxy floods over their caps: the excess is closed at once, the operator API answers within 1 s", async () => {
    const N = 40;
    const agentConns = Array.from({ length: N }, () => hold(d.agentAddr));
    const proxyConns = Array.from({ length: N }, () => hold(d.proxyAddr));
    await sleep(300);
    const t0 = Date.now();
    // the operator listener is not affected by either flood
    const [who, ms] = await timed(request(`http://${d.operatorAddr}/v1/whoami`, { token: "op-token" }));
    expect(who.status).toBe(200);
    expect(ms).toBeLessThan(1_000);
    // connections beyond a cap were closed as soon as they were accepted (nothing queues)
    const closedBy = async (conns: { closedAt: Promise<number> }[]) =>
      (await Promise.all(conns.map((c) => Promise.race([c.closedAt, sleep(500).then(() => 0)])))).filter((x) => x > 0)
        .length;
    expect(await closedBy(agentConns)).toBe(N - caps.agent);
    expect(await closedBy(proxyConns)).toBe(N - caps.proxy);
    expect(Date.now() - t0).toBeLessThan(2_000);
    // a new agent client is refused while the cap is full ...
    const extra = hold(d.agentAddr);
    expect(await Promise.race([extra.closedAt.then(() => "closed"), sleep(1_000).then(() => "open")])).toBe("closed");
    // ... and served once the flood lets go
    for (const c of [...agentConns, ...proxyConns]) c.socket.destroy();
    await sleep(200);
    const [health, ms2] = await timed(request(`${d.url}/healthz`));
    expect(health.status).toBe(200);
    expect(ms2).toBeLessThan(1_000);
  }, 20_000);

  it("the operator listener's own cap refuses its excess but keeps serving the connections it holds", async () => {
    const conns = Array.from({ length: caps.operator + 4 }, () => hold(d.operatorAddr));
    await sleep(300);
    const closed = (
      await Promise.all(conns.map((c) => Promise.race([c.closedAt, sleep(300).then(() => 0)])))
    ).filter((x) => x > 0).length;
    // at least the 4 over the cap (a kept-alive connection of an earlier test may hold a slot too)
    expect(closed).toBeGreaterThanOrEqual(4);
    expect(conns.length - closed).toBeLessThanOrEqual(caps.operator);
    // one of the held connections still gets an answer
    const held = conns.find((c) => !c.socket.destroyed)!;
    const answer = new Promise<string>((r) => held.socket.on("data", (b: Buffer) => r(b.toString("latin1"))));
    held.socket.write("GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer op-token\r\n\r\n");
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
  }, 10_000);
});

describe("caps fit the open-file limit", () => {
  it("keeps configured caps that fit, lowers agent and proxy (never the operator's) when they do not", () => {
    const caps = { agent: 1024, proxy: 1024, operator: 64 };
    expect(fitCaps(caps, 20_000)).toEqual({ caps, lowered: false });
    expect(fitCaps(caps, undefined)).toEqual({ caps, lowered: false });
    const { caps: low, lowered } = fitCaps(caps, 1024);
    expect(lowered).toBe(true);
    expect(low.operator).toBe(64);
    expect(low.agent + 2 * low.proxy + low.operator + FD_RESERVE).toBeLessThanOrEqual(1024);
    expect(low.agent).toBeGreaterThan(200);
  });

  it("max_connections in the config file, defaults 1024/1024/64", () => {
    const dir = tempDir();
    try {
      const file = join(dir, "c.yaml");
      writeFileSync(file, "max_connections:\n  agent: 10\n");
      expect(loadConfig({ config: file }, {}).maxConnections).toEqual({ agent: 10, proxy: 1024, operator: 64 });
      expect(loadConfig({}, {}).maxConnections).toEqual({ agent: 1024, proxy: 1024, operator: 64 });
      writeFileSync(file, "max_connections:\n  agents: 10\n");
      expect(() => loadConfig({ config: file }, {})).toThrow(/unknown key/);
    } finally {
      removeDir(dir);
    }
  });

  it("reads this process's limit", () => {
    if (process.platform === "linux") expect(openFileLimit()).toBeGreaterThan(0);
  });
});
