// An incremental, strict HTTP/1.1 request parser for the agent listener (RFC 9112). Strict on purpose: the agent is
// the party being governed, so anything ambiguous about where a request or its body ends (both Transfer-Encoding and
// Content-Length, differing Content-Lengths, obs-fold, bare CR or LF, a Transfer-Encoding other than chunked) is
// refused with an error instead of being guessed at. Bytes in, requests out; no I/O.
import { HttpError } from "./errors.ts";

export interface RequestHead {
  method: string;
  /** The request target as sent: origin-form ("/path?query") or "*". */
  target: string;
  version: "1.0" | "1.1";
  /** Lower-case field names; repeated fields joined with ", " (RFC 9110 section 5.3). */
  headers: Map<string, string>;
  keepAlive: boolean;
  expectContinue: boolean;
}

export interface ParsedRequest {
  head: RequestHead;
  body: Buffer;
}

export interface ParserLimits {
  /** Request line plus header fields (and chunked trailers), bytes. */
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;
/** Field values: visible ASCII, obs-text, space and tab; no CR, LF or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const DIGITS = /^\d{1,15}$/;
const CHUNK_SIZE = /^([0-9a-fA-F]{1,8})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/;
const CRLF_CRLF = Buffer.from("\r\n\r\n");
/** The longest chunk-size line accepted (with extensions). */
const MAX_CHUNK_LINE = 1024;

type Framing = { kind: "length"; length: number } | { kind: "chunked" };
type ChunkPhase = "size" | "data" | "data-end" | "trailer";

/**
 * Feed bytes with `push`, take complete requests with `next` (undefined: more bytes are needed). Throws HttpError on
 * a malformed request; the connection must then be answered with that error and closed, since where the next
 * request starts is unknown. `head` is set as soon as the request line and fields are in (for `Expect: 100-continue`).
 */
export class RequestParser {
  head: RequestHead | undefined;
  private buf: Buffer | null = null;
  /** Chunks received after `buf`, not yet joined to it: a body that arrives in many small pieces is joined once,
   * when it is complete, not once per piece (which would copy it over and over). */
  private more: Buffer[] = [];
  private moreBytes = 0;
  /** Where the search for the end of the header section resumes (bytes already scanned, minus 3). */
  private scanFrom = 0;
  private framing: Framing | undefined;
  private parts: Buffer[] = [];
  private bodySize = 0;
  private chunkPhase: ChunkPhase = "size";
  private chunkLeft = 0;
  private trailerBytes = 0;

  constructor(private readonly limits: ParserLimits) {}

  push(chunk: Buffer): void {
    if (this.more.length === 0 && (this.buf === null || this.buf.length === 0)) this.buf = chunk;
    else {
      this.more.push(chunk);
      this.moreBytes += chunk.length;
    }
  }

  /** Bytes received and not yet part of a returned request. */
  get buffered(): number {
    return (this.buf?.length ?? 0) + this.moreBytes;
  }

  /** Joins the pending chunks onto `buf`. */
  private gather(): Buffer | null {
    if (this.more.length > 0) {
      this.buf = Buffer.concat([this.buf!, ...this.more], this.buf!.length + this.moreBytes);
      this.more = [];
      this.moreBytes = 0;
    }
    return this.buf;
  }

  /** True when bytes of a request that is not complete yet have arrived. */
  get inRequest(): boolean {
    return this.head !== undefined || this.buffered > 0;
  }

  next(): ParsedRequest | undefined {
    if (this.head === undefined && !this.readHead()) return undefined;
    const framing = this.framing!;
    let body: Buffer;
    if (framing.kind === "length") {
      if (framing.length === 0) body = EMPTY;
      else if (this.buffered < framing.length) return undefined;
      else {
        const buf = this.gather()!;
        body = buf.length === framing.length ? buf : buf.subarray(0, framing.length);
        this.buf = buf.length === framing.length ? null : buf.subarray(framing.length);
      }
    } else {
      if (!this.readChunks()) return undefined;
      body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bodySize);
    }
    const out = { head: this.head!, body };
    this.reset();
    return out;
  }

  private reset(): void {
    this.head = undefined;
    this.framing = undefined;
    this.parts = [];
    this.bodySize = 0;
    this.chunkPhase = "size";
    this.chunkLeft = 0;
    this.trailerBytes = 0;
    this.scanFrom = 0;
  }

  /** Parses the request line and fields once the blank line is in; false when more bytes are needed. */
  private readHead(): boolean {
    let buf = this.gather(); // bounded: past maxHeaderBytes without a blank line the request is refused
    if (buf === null) return false;
    // RFC 9112 section 2.2: ignore at least one empty line before the request line
    let start = 0;
    while (buf.length >= start + 2 && buf[start] === 13 && buf[start + 1] === 10) start += 2;
    if (start > 0) {
      buf = this.buf = buf.length === start ? null : buf.subarray(start);
      this.scanFrom = 0;
      if (buf === null) return false;
    }
    const end = buf.indexOf(CRLF_CRLF, this.scanFrom);
    if (end < 0) {
      if (buf.length > this.limits.maxHeaderBytes)
        throw new HttpError(
          431,
          "headers_too_large",
          `the request header section exceeds ${this.limits.maxHeaderBytes} bytes`,
        );
      this.scanFrom = Math.max(0, buf.length - 3);
      return false;
    }
    if (end + 4 > this.limits.maxHeaderBytes)
      throw new HttpError(
        431,
        "headers_too_large",
        `the request header section exceeds ${this.limits.maxHeaderBytes} bytes`,
      );
    const head = parseHead(buf.toString("latin1", 0, end));
    this.buf = buf.length === end + 4 ? null : buf.subarray(end + 4);
    this.framing = framingOf(head, this.limits.maxBodyBytes);
    this.head = head;
    return true;
  }

  /** Decodes chunked transfer coding as far as the buffer goes; true once the last chunk and trailers are in. */
  private readChunks(): boolean {
    for (;;) {
      const buf = this.gather(); // small: chunk data is consumed as it arrives
      if (buf === null) return false;
      switch (this.chunkPhase) {
        case "size": {
          const eol = buf.indexOf("\r\n");
          if (eol < 0) {
            if (buf.length > MAX_CHUNK_LINE) throw new HttpError(400, "bad_request", "a chunk-size line is too long");
            return false;
          }
          const m = CHUNK_SIZE.exec(buf.toString("latin1", 0, eol));
          if (!m) throw new HttpError(400, "bad_request", "malformed chunk-size line");
          const size = parseInt(m[1]!, 16);
          this.consume(eol + 2);
          if (size === 0) {
            this.chunkPhase = "trailer";
          } else {
            if (this.bodySize + size > this.limits.maxBodyBytes) throw tooLarge(this.limits.maxBodyBytes);
            this.chunkLeft = size;
            this.chunkPhase = "data";
          }
          break;
        }
        case "data": {
          const n = Math.min(this.chunkLeft, buf.length);
          this.parts.push(buf.subarray(0, n));
          this.bodySize += n;
          this.chunkLeft -= n;
          this.consume(n);
          if (this.chunkLeft === 0) this.chunkPhase = "data-end";
          break;
        }
        case "data-end":
          if (buf.length < 2) return false;
          if (buf[0] !== 13 || buf[1] !== 10)
            throw new HttpError(400, "bad_request", "chunk data not followed by CRLF");
          this.consume(2);
          this.chunkPhase = "size";
          break;
        case "trailer": {
          const eol = buf.indexOf("\r\n");
          if (eol < 0) {
            if (this.trailerBytes + buf.length > this.limits.maxHeaderBytes)
              throw new HttpError(431, "headers_too_large", "the trailer section is too large");
            return false;
          }
          this.consume(eol + 2);
          if (eol === 0) return true; // trailer fields are read past, never used
          this.trailerBytes += eol + 2;
          if (this.trailerBytes > this.limits.maxHeaderBytes)
            throw new HttpError(431, "headers_too_large", "the trailer section is too large");
          break;
        }
      }
    }
  }

  private consume(n: number): void {
    const buf = this.buf!;
    this.buf = buf.length === n ? null : buf.subarray(n);
  }
}

const EMPTY = Buffer.alloc(0);

function tooLarge(limit: number): HttpError {
  return new HttpError(413, "body_too_large", `the body exceeds ${limit} bytes`);
}

function parseHead(text: string): RequestHead {
  const lines = text.split("\r\n");
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) throw new HttpError(400, "bad_request", "malformed request line");
  if (m[3] !== "1" || (m[4] !== "0" && m[4] !== "1"))
    throw new HttpError(505, "http_version_not_supported", `HTTP/${m[3]}.${m[4]} is not supported; use HTTP/1.1`);
  const target = m[2]!;
  if (target[0] !== "/" && !(target === "*" && m[1] === "OPTIONS"))
    throw new HttpError(400, "bad_request", "the request target must be a path (origin-form)");
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "bad_request", "malformed header field");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, "bad_request", "malformed header field name");
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, "bad_request", `invalid characters in header field ${name}`);
    const key = name.toLowerCase();
    const prior = headers.get(key);
    if (prior === undefined) headers.set(key, value);
    else if (key === "host") throw new HttpError(400, "bad_request", "more than one Host header field");
    else headers.set(key, `${prior}, ${value}`);
  }
  const version = m[4] === "1" ? "1.1" : "1.0";
  if (version === "1.1" && !headers.has("host")) throw new HttpError(400, "bad_request", "missing Host header field");
  const connection = headers.get("connection")?.toLowerCase();
  const keepAlive =
    version === "1.1"
      ? !hasToken(connection, "close")
      : hasToken(connection, "keep-alive") && !hasToken(connection, "close");
  const expect = headers.get("expect");
  let expectContinue = false;
  if (expect !== undefined) {
    if (expect.toLowerCase() !== "100-continue")
      throw new HttpError(417, "expectation_failed", "only Expect: 100-continue is supported");
    expectContinue = version === "1.1";
  }
  return { method: m[1]!, target, version, headers, keepAlive, expectContinue };
}

function hasToken(list: string | undefined, token: string): boolean {
  if (list === undefined) return false;
  if (list === token) return true;
  return list.split(",").some((t) => t.trim() === token);
}

function framingOf(head: RequestHead, maxBody: number): Framing {
  const te = head.headers.get("transfer-encoding");
  const cl = head.headers.get("content-length");
  if (te !== undefined) {
    if (cl !== undefined)
      throw new HttpError(
        400,
        "bad_request",
        "both Transfer-Encoding and Content-Length: the body length is ambiguous",
      );
    if (head.version === "1.0") throw new HttpError(400, "bad_request", "Transfer-Encoding is not allowed in HTTP/1.0");
    if (te.toLowerCase() !== "chunked")
      throw new HttpError(
        501,
        "not_implemented",
        `Transfer-Encoding "${te}" is not supported; send chunked or Content-Length`,
      );
    return { kind: "chunked" };
  }
  if (cl === undefined) return { kind: "length", length: 0 };
  const values = cl.split(",").map((v) => v.trim());
  if (!values.every((v) => v === values[0]) || !DIGITS.test(values[0]!))
    throw new HttpError(400, "bad_request", "invalid Content-Length");
  const length = Number(values[0]);
  if (length > maxBody) throw tooLarge(maxBody);
  return { kind: "length", length };
}
