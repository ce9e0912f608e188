// A deliberately small HTTP/1.1 reader and writer for the activation socket: one request per connection,
// Content-Length bodies only, no chunking, no duplicate headers, no pipelining. NemoClaw's client is just as
// strict about our responses, so we write them byte for byte ourselves instead of going through node:http
// (which adds headers and keep-alive behaviour we do not control).
import type net from "node:net";

export interface RawRequest {
  method: string;
  path: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** Why a request could not be read. `status` is the HTTP status we answer with (0: just close). */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/u;
const REQUEST_LINE = /^([A-Z]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/u;

export interface Limits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

/** Parses the head once `\r\n\r\n` has arrived. Returns the declared body length. */
function parseHead(head: string): { method: string; path: string; headers: Map<string, string>; length: number } {
  const lines = head.split("\r\n");
  const line = REQUEST_LINE.exec(lines.shift() ?? "");
  if (!line) throw new RequestError(400, "bad_request_line", "expected `<METHOD> <path> HTTP/1.1`");
  const headers = new Map<string, string>();
  for (const raw of lines) {
    const colon = raw.indexOf(":");
    const name = colon > 0 ? raw.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new RequestError(400, "bad_header", "malformed header line");
    const key = name.toLowerCase();
    if (headers.has(key)) throw new RequestError(400, "duplicate_header", `duplicate header ${key}`);
    headers.set(key, raw.slice(colon + 1).trim());
  }
  if (headers.has("transfer-encoding")) {
    throw new RequestError(400, "ambiguous_framing", "Transfer-Encoding is not accepted; send Content-Length");
  }
  const declared = headers.get("content-length");
  if (declared === undefined) throw new RequestError(411, "length_required", "Content-Length is required");
  if (!/^(?:0|[1-9]\d{0,15})$/u.test(declared)) {
    throw new RequestError(400, "bad_content_length", "Content-Length must be a decimal byte count");
  }
  return { method: line[1]!, path: line[2]!, headers, length: Number(declared) };
}

/** Reads exactly one request from `socket`. Rejects as soon as a limit is crossed, without buffering past it. */
export function readRequest(socket: net.Socket, limits: Limits): Promise<RawRequest> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let head: ReturnType<typeof parseHead> | null = null;
    let bodyStart = 0;
    const done = (err: Error | null, req?: RawRequest) => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      if (err) reject(err);
      else resolve(req!);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        if (!head) {
          const end = buffered.indexOf("\r\n\r\n");
          if (end < 0) {
            if (buffered.length > limits.maxHeaderBytes) {
              throw new RequestError(431, "headers_too_large", `request headers over ${limits.maxHeaderBytes} bytes`);
            }
            return;
          }
          if (end > limits.maxHeaderBytes) {
            throw new RequestError(431, "headers_too_large", `request headers over ${limits.maxHeaderBytes} bytes`);
          }
          head = parseHead(buffered.subarray(0, end).toString("latin1"));
          if (head.length > limits.maxBodyBytes) {
            throw new RequestError(413, "body_too_large", `request body over ${limits.maxBodyBytes} bytes`);
          }
          bodyStart = end + 4;
        }
        const have = buffered.length - bodyStart;
        if (have > head.length) {
          throw new RequestError(
            400,
            "ambiguous_framing",
            "bytes after the declared body (one request per connection)",
          );
        }
        if (have === head.length) {
          done(null, {
            method: head.method,
            path: head.path,
            headers: head.headers,
            body: buffered.subarray(bodyStart),
          });
        }
      } catch (err) {
        done(err as Error);
      }
    };
    const onEnd = () =>
      done(new RequestError(head ? 400 : 0, "truncated", "connection closed before the request was complete"));
    const onError = (err: Error) => done(new RequestError(0, "socket_error", err.message));
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
  });
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

/** Writes one complete response and closes our side. Headers are unique; framing is Content-Length only. */
export function writeResponse(
  socket: net.Socket,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  if (socket.destroyed || !socket.writable) return;
  const payload = Buffer.from(JSON.stringify(body), "utf8");
  const headers = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`,
    "Content-Type: application/json",
    `Content-Length: ${payload.length}`,
    "Connection: close",
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(Buffer.concat([Buffer.from(headers.join("\r\n") + "\r\n\r\n", "latin1"), payload]));
}
