// The proxy listener bounded under abuse: its header timeout is enforced by a timer (a client trickling header bytes
// is cut within it, not up to 30 s later), and connections over its cap are closed as soon as they are accepted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CertificateAuthority, startProxy, type ProxyServer } from "../../proxy/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("proxy listener limits", () => {
  let dir: string;
  let proxy: ProxyServer;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "isc-proxy-limits-"));
    proxy = await startProxy({
      port: 0,
      ca: await CertificateAuthority.loadOrCreate(dir),
      policy: () => null,
      attribution: false,
      limits: { headersTimeoutMs: 2_000, maxConnections: 5 },
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): { socket: Socket; closedAt: Promise<number> } {
    const socket = connect(proxy.port, proxy.host);
    socket.on("error", () => {});
    socket.resume();
    sockets.push(socket);
    return { socket, closedAt: new Promise((r) => socket.once("close", () => r(Date.now()))) };
  }

  it("cuts a client trickling a CONNECT head one byte per second within the header timeout", async () => {
    const t0 = Date.now();
    const loris = open();
    const head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Slow: " + "a".repeat(50);
    let i = 0;
    loris.socket.write(head[i++]!);
    const timer = setInterval(() => loris.socket.write(head[i++ % head.length]!), 1_000);
    try {
      const at = await loris.closedAt;
      expect(at - t0).toBeGreaterThanOrEqual(1_500);
      expect(at - t0).toBeLessThan(2_000 + 1_000 + 700);
    } finally {
      clearInterval(timer);
    }
  }, 10_000);

  it("closes connections over its cap at once", async () => {
    const conns = Array.from({ length: 8 }, () => open());
    await sleep(400);
    const closed = (await Promise.all(conns.map((c) => Promise.race([c.closedAt, sleep(300).then(() => 0)])))).filter(
      (x) => x > 0,
    ).length;
    expect(closed).toBe(3);
    for (const c of conns) c.socket.destroy();
  }, 10_000);
});
