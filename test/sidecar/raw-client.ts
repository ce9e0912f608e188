// A raw HTTP/1.1 client for listener tests: collects what the server sends, parses complete responses, notes when
// the server closes.
import { connect, type Socket } from "node:net";

export interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw client: collects what the server sends, parses complete responses, notes when the server closes. */
export class RawClient {
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

export function parseAll(buf: Buffer): Parsed[] {
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

export const post = (target: string, body: string, extra = "") =>
  `POST ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
