// The agent listener's body limit for JSON routes (declare, screen, result): a body over the limit is refused with a
// JSON 413 while it streams in, and the connection is closed (the rest of the body is left unread, so the client must
// not reuse a broken stream). One place for the three routes that read a body of the configured size.
import { bodyLimit } from "hono/body-limit";
import type { ErrorBody } from "../../protocol/index.ts";

export function agentBodyLimit(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      c.header("connection", "close");
      return c.json({ error: "body_too_large", message: `the body exceeds ${maxBytes} bytes` } satisfies ErrorBody, 413);
    },
  });
}
