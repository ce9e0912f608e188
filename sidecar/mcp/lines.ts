// MCP's stdio framing (one JSON-RPC message per line) as an SDK `Transport` over any pair of streams: the proxy's own
// stdin/stdout (the client side) and a wrapped server's stdout/stdin (the upstream side). The SDK's stdio transports
// drop a line they cannot read after reporting it to `onerror`; the proxy must answer it instead (JSON-RPC -32700 for
// text that is not JSON, -32600 for JSON that is not a JSON-RPC message), and keep going.
import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ErrorCode,
  JSONRPCMessageSchema,
  type JSONRPCMessage,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";

/** Longest line accepted (a message beyond this is answered -32600 and dropped). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** A line that was not a JSON-RPC message; `id` when it carried a usable one (the relay fails that request). */
  oninvalid?: (id: RequestId | undefined, error: string) => void;

  private buf = "";
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly label: string,
  ) {}

  async start(): Promise<void> {
    this.input.setEncoding("utf8");
    this.input.on("data", (chunk: string) => this.onData(chunk));
    this.input.on("end", () => void this.close());
    this.input.on("error", (e) => this.onerror?.(e));
    this.output.on("error", (e) => this.onerror?.(e));
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl < 0) {
        if (this.buf.length > MAX_LINE_BYTES) {
          this.buf = "";
          this.reject(undefined, ErrorCode.InvalidRequest, `message longer than ${MAX_LINE_BYTES} bytes`);
        }
        return;
      }
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() !== "") this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      this.reject(undefined, ErrorCode.ParseError, `Parse error: ${(e as Error).message}`);
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      const raw = value as { id?: unknown } | null;
      const id =
        raw && typeof raw === "object" && (typeof raw.id === "string" || typeof raw.id === "number")
          ? raw.id
          : undefined;
      // a broken answer or error is reported but never answered (two peers would otherwise answer each other forever)
      const answer = !!raw && typeof raw === "object" && ("result" in raw || "error" in raw);
      this.reject(id, ErrorCode.InvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message", !answer);
      return;
    }
    try {
      this.onmessage?.(parsed.data);
    } catch (e) {
      this.onerror?.(e as Error);
    }
  }

  /** Answers what could not be read with a JSON-RPC error to the side that sent it, and tells the relay. */
  private reject(id: RequestId | undefined, code: number, message: string, reply = true): void {
    this.onerror?.(new Error(`${this.label}: ${message}`));
    this.oninvalid?.(id, message);
    if (reply)
      void this.send({ jsonrpc: "2.0", id: id ?? null, error: { code, message } } as unknown as JSONRPCMessage).catch(
        () => {},
      );
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.label} is closed`));
    return new Promise((resolve, reject) => {
      this.output.write(JSON.stringify(message) + "\n", (e) => (e ? reject(e) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.pause();
    this.onclose?.();
  }
}
