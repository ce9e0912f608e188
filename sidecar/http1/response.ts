// Serializes an answer into the bytes of one HTTP/1.1 response, so a response leaves in a single socket write.
import { STATUS_CODES } from "node:http";

export interface Http1Response {
  status: number;
  /** Field names in lower case. Framing fields (content-length, transfer-encoding, connection, keep-alive, date)
   * are set by the server and ignored here. */
  headers?: Iterable<readonly [string, string]> | Record<string, string>;
  body?: string | Uint8Array;
  /** Close the connection after this response (e.g. the rest of the request was not read). */
  close?: boolean;
}

const JSON_TYPE = { "content-type": "application/json" };

/** A JSON answer (every error of the agent listener is one). */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = JSON_TYPE,
): Http1Response {
  return { status, headers, body: JSON.stringify(body) };
}

/** The answer when a handler fails: nothing was approved (fail closed). */
export const INTERNAL_ERROR: Http1Response = jsonResponse(500, {
  error: "internal_error",
  message: "internal error; nothing was approved",
});

const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "date"]);

let dateSecond = -1;
let dateText = "";

/** The Date field, formatted at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

function hasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * The response as one string (a string body) or one Buffer. `headOnly`: the answer to a HEAD request (fields of the
 * full response, no body). `close`: announce and then close the connection.
 */
export function serializeResponse(res: Http1Response, headOnly: boolean, close: boolean): string | Buffer {
  const status = res.status;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
  const fields = res.headers;
  if (fields !== undefined) {
    const entries =
      Symbol.iterator in fields ? (fields as Iterable<readonly [string, string]>) : Object.entries(fields);
    for (const [name, value] of entries) {
      if (FRAMING.has(name)) continue;
      if (/[\r\n]/.test(value)) throw new Error(`header field ${name} contains CR or LF`);
      head += `${name}: ${value}\r\n`;
    }
  }
  head += `date: ${httpDate()}\r\nconnection: ${close ? "close" : "keep-alive"}\r\n`;
  const body = res.body;
  if (hasNoBody(status)) return head + "\r\n";
  if (typeof body === "string") {
    head += `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return headOnly ? head : head + body;
  }
  const bytes = body ?? EMPTY;
  head += `content-length: ${bytes.byteLength}\r\n\r\n`;
  if (headOnly || bytes.byteLength === 0) return head;
  return Buffer.concat([Buffer.from(head, "latin1"), bytes]);
}

const EMPTY = new Uint8Array(0);
