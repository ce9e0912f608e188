// Process attribution (Linux): which process owns the client end of a proxy connection. The client's socket is the
// row of /proc/net/tcp{,6} whose local address is the connection's remote end and whose remote address is the proxy;
// its inode is found among /proc/<pid>/fd links. Done once per connection; callers cache the promise on the socket.
// Recently seen pids are searched first, since a sandbox's clients usually open many connections.
import { promises as fs, readdirSync, readlinkSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { ipv6Groups } from "./address.ts";

export interface SourceProcess {
  pid: number | null;
  binary: string | null;
}

const UNKNOWN: SourceProcess = { pid: null, binary: null };
const RECENT_MAX = 32;

/** /proc/net/tcp hex form of an address:port (IPv4 as one little-endian word, IPv6 as four). */
function procHex(addr: string, port: number, v6: boolean): string {
  const p = port.toString(16).toUpperCase().padStart(4, "0");
  if (!v6) {
    const o = addr.split(".").map(Number);
    const word = ((o[3]! << 24) | (o[2]! << 16) | (o[1]! << 8) | o[0]!) >>> 0;
    return word.toString(16).toUpperCase().padStart(8, "0") + ":" + p;
  }
  const bytes = ipv6Bytes(addr);
  let out = "";
  for (let w = 0; w < 4; w++) {
    for (let b = 3; b >= 0; b--) out += bytes[w * 4 + b]!.toString(16).toUpperCase().padStart(2, "0");
  }
  return out + ":" + p;
}

/** The 16 bytes of an IPv6 address, read by the proxy's one IPv6 parser (address.ts). */
function ipv6Bytes(addr: string): number[] {
  const groups = ipv6Groups(addr);
  if (groups === null) throw new Error(`not an IPv6 address: ${addr}`);
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** Candidate (local, remote) hex pairs for the client's socket as it appears in /proc/net/tcp or tcp6. */
function clientRows(clientAddr: string, clientPort: number, proxyAddr: string, proxyPort: number) {
  const rows: { file: string; local: string; remote: string }[] = [];
  const strip = (a: string) => (a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a);
  const c = strip(clientAddr);
  const p = strip(proxyAddr);
  if (isIP(c) === 4 && isIP(p) === 4) {
    rows.push({ file: "/proc/net/tcp", local: procHex(c, clientPort, false), remote: procHex(p, proxyPort, false) });
    // a dual-stack client socket shows IPv4 peers as IPv4-mapped IPv6
    rows.push({
      file: "/proc/net/tcp6",
      local: procHex("::ffff:" + c, clientPort, true),
      remote: procHex("::ffff:" + p, proxyPort, true),
    });
  } else if (isIP(c) === 6 && isIP(p) === 6) {
    rows.push({ file: "/proc/net/tcp6", local: procHex(c, clientPort, true), remote: procHex(p, proxyPort, true) });
  }
  return rows;
}

/** Finds client sockets in one /proc/net table, reading it page by page and stopping as soon as every socket
 * looked for is found. Reading the table walks the kernel's whole TCP hash (milliseconds on big hosts, ~0.3 ms per
 * 4 KiB page here), so stopping at the match halves the cost on average, and lookups that arrive while a pass is
 * running join it. A socket not found by the end of a pass it joined midway is looked for again in a fresh pass
 * (the part of the table it missed may hold it); one not found in a pass it saw from the start is not in the table. */
interface Waiter {
  needle: string;
  resolve: (inode: string | null) => void;
  /** Joined after the pass had read past the table's start. */
  late: boolean;
}

class ProcTableScanner {
  private running: Waiter[] | null = null;
  private queued: Waiter[] = [];
  constructor(private readonly file: string) {}

  find(needle: string): Promise<string | null> {
    return new Promise((resolve) => {
      if (this.running) this.running.push({ needle, resolve, late: true });
      else {
        this.running = [{ needle, resolve, late: false }];
        void this.pass();
      }
    });
  }

  private async pass(): Promise<void> {
    const waiters = this.running!;
    let fh: fs.FileHandle | null = null;
    try {
      fh = await fs.open(this.file, "r");
      const buf = Buffer.allocUnsafe(64 * 1024);
      let carry = "";
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const text = carry + buf.toString("latin1", 0, bytesRead);
        const cut = text.lastIndexOf("\n") + 1;
        carry = text.slice(cut);
        const lines = text.slice(0, cut);
        for (let i = waiters.length - 1; i >= 0; i--) {
          const inode = inodeAt(lines, waiters[i]!.needle);
          if (inode !== null) {
            waiters[i]!.resolve(inode);
            waiters.splice(i, 1);
          }
        }
        if (waiters.length === 0) break;
      }
      if (carry) {
        for (let i = waiters.length - 1; i >= 0; i--) {
          const inode = inodeAt(carry, waiters[i]!.needle);
          if (inode !== null) {
            waiters[i]!.resolve(inode);
            waiters.splice(i, 1);
          }
        }
      }
    } catch {
      // unreadable table: everyone still waiting gets "unknown"
      for (const w of waiters) w.late = false;
    } finally {
      await fh?.close().catch(() => undefined);
    }
    for (const w of waiters) {
      if (w.late) this.queued.push({ ...w, late: false });
      else w.resolve(null);
    }
    if (this.queued.length) {
      this.running = this.queued;
      this.queued = [];
      void this.pass();
    } else this.running = null;
  }
}

/** The inode on the table line holding `needle` (" local remote "), null when absent. */
function inodeAt(text: string, needle: string): string | null {
  const at = text.indexOf(needle);
  if (at < 0) return null;
  const end = text.indexOf("\n", at);
  const f = text
    .slice(at, end < 0 ? undefined : end)
    .trim()
    .split(/\s+/);
  // fields after the match: st tx:rx tr:when retrnsmt uid timeout inode
  const inode = f[8];
  return inode && inode !== "0" ? inode : null;
}

const tables = new Map<string, ProcTableScanner>();

async function findInode(rows: ReturnType<typeof clientRows>): Promise<string | null> {
  for (const w of rows) {
    let scanner = tables.get(w.file);
    if (!scanner) tables.set(w.file, (scanner = new ProcTableScanner(w.file)));
    const inode = await scanner.find(` ${w.local} ${w.remote} `);
    if (inode) return inode;
  }
  return null;
}

export class ProcessAttributor {
  private readonly recent: number[] = [];
  /** fd numbers of recently seen pids at their last scan. */
  private readonly fdsSeen = new Map<number, Set<string>>();
  readonly enabled: boolean;

  constructor(opts: { enabled?: boolean } = {}) {
    this.enabled = opts.enabled ?? process.platform === "linux";
  }

  /** The process owning the client end of a TCP connection the proxy accepted; nulls when the OS does not tell. */
  async attribute(sock: {
    remoteAddress?: string;
    remotePort?: number;
    localAddress?: string;
    localPort?: number;
  }): Promise<SourceProcess> {
    if (!this.enabled) return UNKNOWN;
    const { remoteAddress, remotePort, localAddress, localPort } = sock;
    if (!remoteAddress || !remotePort || !localAddress || !localPort) return UNKNOWN;
    try {
      const inode = await findInode(clientRows(remoteAddress, remotePort, localAddress, localPort));
      if (!inode) return UNKNOWN;
      const pid = this.findPid(`socket:[${inode}]`);
      if (pid === null) return UNKNOWN;
      let binary: string | null = null;
      try {
        binary = path.basename(await fs.readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, "");
      } catch {
        binary = null;
      }
      return { pid, binary };
    } catch {
      return UNKNOWN;
    }
  }

  /** Scans fd tables for the socket link: recently seen pids first, then every process. */
  private findPid(link: string): number | null {
    const ownsSocket = (pid: number): boolean => {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        return false;
      }
      // A new socket usually has an fd number the last scan of this process did not see: look at those first
      // (every fd is still checked, in the worst case).
      const seen = this.fdsSeen.get(pid);
      if (this.recent.includes(pid) || pid === process.pid) this.fdsSeen.set(pid, new Set(fds));
      if (seen) {
        const fresh: string[] = [];
        const old: string[] = [];
        for (const fd of fds) (seen.has(fd) ? old : fresh).push(fd);
        fds = fresh.concat(old.reverse());
      }
      for (const fd of fds) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return true;
        } catch {
          // fd closed meanwhile
        }
      }
      return false;
    };
    for (const pid of this.recent) {
      if (ownsSocket(pid)) return this.remember(pid);
    }
    let pids: number[];
    try {
      pids = readdirSync("/proc")
        .filter((n) => /^\d+$/.test(n))
        .map(Number);
    } catch {
      return null;
    }
    for (const pid of pids) {
      if (pid === process.pid || this.recent.includes(pid)) continue;
      if (ownsSocket(pid)) return this.remember(pid);
    }
    // the client may be this very process (in-process clients, tests)
    if (!this.recent.includes(process.pid) && ownsSocket(process.pid)) return this.remember(process.pid);
    return null;
  }

  private remember(pid: number): number {
    const i = this.recent.indexOf(pid);
    if (i >= 0) this.recent.splice(i, 1);
    this.recent.unshift(pid);
    if (this.recent.length > RECENT_MAX) this.fdsSeen.delete(this.recent.pop()!);
    if (!this.fdsSeen.has(pid)) this.fdsSeen.set(pid, new Set());
    return pid;
  }
}
