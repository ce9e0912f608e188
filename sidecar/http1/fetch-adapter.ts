// Serves an HTTP/1.1 request through a Web-standard fetch handler (a hono app's `fetch`): the routes that are not on
// the hot path keep their hono code unchanged.
import type { Http1Handler, Http1Request } from "./server.ts";
import { jsonResponse, type Http1Response } from "./response.ts";

type FetchHandler = (req: Request) => Response | Promise<Response>;

/** Host header values that are safe to put in a URL (name or IP literal, optional port). */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function toRequest(req: Http1Request): Request | Http1Response {
  const host = req.headers.get("host");
  const url = `http://${host !== undefined && HOST.test(host) ? host : "localhost"}${req.target === "*" ? "/" : req.target}`;
  const headers = new Headers();
  for (const [name, value] of req.headers) headers.append(name, value);
  const withBody = req.method !== "GET" && req.method !== "HEAD" && req.body.length > 0;
  try {
    return new Request(url, {
      method: req.method,
      headers,
      ...(withBody ? { body: new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.length) as BodyInit } : {}),
      signal: req.signal,
    });
  } catch {
    // fetch refuses some methods (CONNECT, TRACE, TRACK) and malformed URLs
    if (req.method === "CONNECT" || /^TRAC[EK]$/i.test(req.method))
      return jsonResponse(405, { error: "method_not_allowed", message: `method ${req.method} is not supported here` });
    return jsonResponse(400, { error: "bad_request", message: "the request target is not a valid path" });
  }
}

export function fetchAdapter(fetch: FetchHandler): Http1Handler {
  return async (req) => {
    const request = toRequest(req);
    if (!(request instanceof Request)) return request;
    const res = await fetch(request);
    const body = req.method === "HEAD" || res.body === null ? undefined : new Uint8Array(await res.arrayBuffer());
    const headers: [string, string][] = [];
    res.headers.forEach((value, name) => headers.push([name, value]));
    return { status: res.status, headers, ...(body ? { body } : {}) };
  };
}
