// A small HTTP/1.1 server on node:net for the agent listener. node:http spends ~55 µs of event-loop CPU per request
// on its stream machinery (IncomingMessage, ServerResponse, corked writev); a decision is ~300 µs all told, so the
// hot path gets its own server: one parse of the bytes, the handler, one write of the answer. Requests on one
// connection are answered in order, one at a time; bytes that arrive meanwhile wait in the parser (pipelining).
// Everything the parser finds malformed is answered with a JSON error and the connection is closed.
import { Server, type Socket } from "node:net";
import { HttpError } from "./errors.ts";
import { RequestParser, type ParserLimits, type RequestHead } from "./parser.ts";
import { INTERNAL_ERROR, jsonResponse, serializeResponse, type Http1Response } from "./response.ts";

export interface Http1Request {
  method: string;
  /** As sent: "/path?query". */
  target: string;
  version: "1.0" | "1.1";
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  body: Buffer;
  /** Aborted when the client goes away before the answer is written (created on first use). */
  readonly signal: AbortSignal;
}

export type Http1Handler = (req: Http1Request) => Http1Response | Promise<Http1Response>;

export interface Http1ServerOptions extends Partial<ParserLimits> {
  /** Idle time allowed between requests on a kept-alive connection. */
  keepAliveTimeoutMs?: number;
  /** Time allowed to receive one whole request once its first byte is in. */
  requestTimeoutMs?: number;
  /** Runs before the handler on every request; an answer it returns is sent instead (sidecar/http1/guard.ts). */
  guard?: (req: Http1Request) => Http1Response | undefined;
}

const DEFAULTS = {
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
  keepAliveTimeoutMs: 5_000,
  requestTimeoutMs: 60_000,
};

function errorResponse(e: HttpError): Http1Response {
  return { ...jsonResponse(e.status, { error: e.code, message: e.message }), close: true };
}

/** A net.Server speaking HTTP/1.1 to `handler`; `listen`, `address` and `close` are net.Server's. */
export class Http1Server extends Server {
  readonly options: typeof DEFAULTS;
  readonly guard: ((req: Http1Request) => Http1Response | undefined) | undefined;
  private readonly live = new Set<Connection>();
  private closing = false;

  constructor(
    readonly handler: Http1Handler,
    options: Http1ServerOptions = {},
  ) {
    super({ allowHalfOpen: true, noDelay: true });
    const { guard, ...limits } = options;
    this.options = { ...DEFAULTS, ...limits };
    this.guard = guard;
    this.on("connection", (socket: Socket) => {
      const c = new Connection(socket, this);
      this.live.add(c);
      socket.once("close", () => this.live.delete(c));
    });
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Stops accepting; connections in the middle of a request finish it with `connection: close`. */
  override close(cb?: (err?: Error) => void): this {
    this.closing = true;
    return super.close(cb);
  }

  /** Closes connections that are not in the middle of a request. */
  closeIdleConnections(): void {
    for (const c of this.live) if (c.idle) c.socket.destroy();
  }

  closeAllConnections(): void {
    for (const c of this.live) c.socket.destroy();
  }
}

class Connection {
  private readonly parser: RequestParser;
  /** A request is with the handler; later bytes wait in the parser. */
  private busy = false;
  /** The peer sent FIN: answer what is complete, then close. */
  private peerEnded = false;
  private done = false;
  private continueSent = false;
  /** The client is not reading its answers: read no further requests until it does. */
  private waitingForDrain = false;
  private requestStartedAt = 0;
  private closed = false;
  private abort: AbortController | undefined;

  constructor(
    readonly socket: Socket,
    private readonly server: Http1Server,
  ) {
    const o = server.options;
    this.parser = new RequestParser({ maxHeaderBytes: o.maxHeaderBytes, maxBodyBytes: o.maxBodyBytes });
    socket.setTimeout(o.keepAliveTimeoutMs);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("timeout", () => this.onTimeout());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.done = true;
      this.closed = true;
      this.abort?.abort();
    });
  }

  get idle(): boolean {
    return !this.busy && !this.parser.inRequest;
  }

  signal(): AbortSignal {
    this.abort ??= new AbortController();
    if (this.closed || this.peerEnded) this.abort.abort(); // gone before the handler asked
    return this.abort.signal;
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    if (!this.parser.inRequest) this.requestStartedAt = Date.now();
    this.parser.push(chunk);
    if (this.busy) {
      // pipelined bytes wait; stop reading if they pile up (the answer in progress resumes reading)
      if (this.parser.buffered > this.server.options.maxHeaderBytes + this.server.options.maxBodyBytes)
        this.socket.pause();
      return;
    }
    this.serve();
  }

  /** The peer sent FIN. A handler still working is told (a long poll stops waiting: its client is gone, or at
   * least will send nothing more); its answer is still written, for clients that half-close after a request. */
  private onEnd(): void {
    this.peerEnded = true;
    if (this.busy) this.abort?.abort();
    else if (!this.waitingForDrain) this.finish(); // else: the pipelined requests still get their answers
  }

  private onTimeout(): void {
    if (this.done || !this.parser.inRequest) {
      if (!this.busy) this.socket.destroy(); // idle, or answered and waiting for a peer that never closes
      return; // a handler is working (a long poll): not idle
    }
    if (!this.busy) this.fail(new HttpError(408, "request_timeout", "the request did not arrive in time"));
  }

  /** Answers every complete request in the buffer, in order, while handlers answer synchronously. */
  private serve(): void {
    while (!this.busy && !this.done && !this.waitingForDrain) {
      let parsed;
      try {
        parsed = this.parser.next();
      } catch (e) {
        this.fail(e instanceof HttpError ? e : new HttpError(400, "bad_request", "malformed request"));
        return;
      }
      if (parsed === undefined) {
        this.awaitRest();
        return;
      }
      this.continueSent = false;
      const { head, body } = parsed;
      this.busy = true;
      let out: Http1Response | Promise<Http1Response>;
      try {
        const req = new Request1(head, body, this);
        out = this.server.guard?.(req) ?? this.server.handler(req);
      } catch {
        out = INTERNAL_ERROR;
      }
      if (out instanceof Promise) {
        out.then(
          (res) => this.answerLater(head, res),
          () => this.answerLater(head, INTERNAL_ERROR),
        );
        return;
      }
      this.respond(head, out);
    }
  }

  /** An asynchronous answer: write it, then go on with requests that arrived meanwhile. */
  private answerLater(head: RequestHead, res: Http1Response): void {
    this.respond(head, res);
    this.serve();
  }

  /** Part of a request is in: send 100 Continue if asked, and enforce the time allowed for the whole request. */
  private awaitRest(): void {
    if (this.peerEnded) {
      this.finish();
      return;
    }
    if (!this.parser.inRequest) return;
    if (Date.now() - this.requestStartedAt > this.server.options.requestTimeoutMs) {
      this.fail(new HttpError(408, "request_timeout", "the request did not arrive in time"));
      return;
    }
    const head = this.parser.head;
    if (head?.expectContinue && !this.continueSent) {
      this.continueSent = true;
      this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    }
  }

  private respond(head: RequestHead, res: Http1Response): void {
    this.busy = false;
    if (this.done) return;
    let close =
      !head.keepAlive || res.close === true || this.server.isClosing || (this.peerEnded && this.parser.buffered === 0);
    let bytes: string | Buffer;
    try {
      bytes = serializeResponse(res, head.method === "HEAD", close);
    } catch {
      close = true; // a handler's answer that cannot be serialized: answer 500 and end the connection
      bytes = serializeResponse(INTERNAL_ERROR, head.method === "HEAD", true);
    }
    if (close) {
      this.done = true;
      this.socket.end(bytes);
      return;
    }
    if (!this.socket.write(bytes)) {
      // answers pile up unread (a client pipelining without reading): stop reading requests until they drain
      this.waitingForDrain = true;
      this.socket.pause();
      this.socket.once("drain", () => {
        this.waitingForDrain = false;
        this.socket.resume();
        this.serve();
      });
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.parser.buffered > 0) this.requestStartedAt = Date.now(); // a pipelined request's clock starts now
  }

  private fail(e: HttpError): void {
    if (this.done) return;
    this.done = true;
    // The rest of the request is unread: keep reading (and dropping) it for a moment so the client gets this answer
    // instead of a reset, then cut the connection.
    this.socket.end(serializeResponse(errorResponse(e), false, true));
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  /** The peer is done sending: whatever is left cannot become a request. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.socket.end();
  }
}

/** The handler's view of one request; the abort signal is made only if a handler asks for it. */
class Request1 implements Http1Request {
  readonly method: string;
  readonly target: string;
  readonly version: "1.0" | "1.1";
  readonly headers: Map<string, string>;

  constructor(
    head: RequestHead,
    readonly body: Buffer,
    private readonly connection: Connection,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.version = head.version;
    this.headers = head.headers;
  }

  get signal(): AbortSignal {
    return this.connection.signal();
  }
}
