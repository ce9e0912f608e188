// Process attribution through /proc: many connections accepted at once (lookups that share one table scan, some
// joining it midway) must each be attributed to the process that owns the client socket.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessAttributor } from "../../proxy/attribution.ts";

const linux = process.platform === "linux";
const servers: net.Server[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const c of children.splice(0)) c.kill();
});

function listen(onSocket: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer(onSocket);
  servers.push(srv);
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve((srv.address() as net.AddressInfo).port)));
}

describe.skipIf(!linux)("process attribution", () => {
  it("attributes concurrent connections from this process and from a child process to their owners", async () => {
    const attributor = new ProcessAttributor();
    const results: Promise<{ port: number; pid: number | null; binary: string | null }>[] = [];
    let accepted = 0;
    let allAccepted!: () => void;
    const done = new Promise<void>((r) => (allAccepted = r));
    const total = 40;
    const port = await listen((s) => {
      const remotePort = s.remotePort!;
      results.push(attributor.attribute(s).then((src) => ({ port: remotePort, ...src })));
      if (++accepted === total) allAccepted();
    });
    // 20 sockets from a child process, opened in a burst
    const child = spawn(
      process.execPath,
      [
        "-e",
        `const net=require("node:net");const ports=[];let n=0;for(let i=0;i<20;i++){const s=net.connect(${port},"127.0.0.1",()=>{ports.push(s.localPort);if(++n===20)console.log(JSON.stringify(ports))})};setInterval(()=>{},1000)`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(child);
    const childPorts = new Promise<number[]>((r) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("\n")) r(JSON.parse(out) as number[]);
      });
    });
    // 20 from this process, interleaved with the child's
    const own = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<net.Socket>((r) => {
            const s: net.Socket = net.connect(port, "127.0.0.1", () => r(s));
          }),
      ),
    );
    const theirs = new Set(await childPorts);
    await done;
    const got = await Promise.all(results);
    expect(got).toHaveLength(total);
    for (const g of got) {
      if (theirs.has(g.port)) expect(g.pid).toBe(child.pid);
      else expect(g.pid).toBe(process.pid);
      expect(g.binary).toBe("node");
    }
    expect(got.filter((g) => g.pid === child.pid)).toHaveLength(20);
    for (const s of own) s.destroy();
  });

  it("gives nulls for a connection whose client socket is already gone", async () => {
    const attributor = new ProcessAttributor();
    const src = await attributor.attribute({
      remoteAddress: "127.0.0.1",
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 2,
    });
    expect(src).toEqual({ pid: null, binary: null });
  });
});
