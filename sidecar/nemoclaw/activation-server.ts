// The activation socket NemoClaw calls: HTTP/1.1 over a Unix socket with mode 0600 inside a 0700 folder,
// one request per connection, bounded headers and body, and a total deadline per connection (NemoClaw's own is
// 30 s and it never retries, so a slow client must not hold a connection longer than that).
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { socketAnswers } from "./socket-probe.ts";
import {
  ACTIVATE_PATH,
  NEMOCLAW_DEADLINE_MS,
  NemoClawContractError,
  PREPARE_PATH,
  REQUEST_BODY_MAX_BYTES,
  REQUEST_HEADER_MAX_BYTES,
  type Connection,
} from "./contract.ts";
import { RequestError, readRequest, writeResponse } from "./http.ts";
import { parseStrictJson } from "./strict-json.ts";
import {
  handleActivate,
  handlePrepare,
  type ActivationRecord,
  type ComponentState,
  type Outcome,
  type PreparedGateway,
} from "./handlers.ts";

export interface ActivationServerOptions {
  socketPath: string;
  componentId: string;
  /** The active sidecar policy digest, `sha256:<hex>`. Throw (or return nothing) when no valid policy is loaded. */
  activePolicyDigest: () => string | undefined | Promise<string | undefined>;
  expected?: ComponentState["expected"];
  /** Total time a connection may take, from accept to response. Default 30 s, NemoClaw's deadline. */
  deadlineMs?: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  requirePreparation?: boolean;
  maxConnections?: number;
  /** Receives one line per request: event, result, reason. Never request bodies. */
  log?: (note: Outcome["note"] & { status: number }) => void;
  now?: () => Date;
}

export interface ActivationServer {
  readonly socketPath: string;
  readonly deadlineMs: number;
  prepared(): PreparedGateway[];
  activations(): ActivationRecord[];
  close(): Promise<void>;
}

function fail(code: string, message: string): never {
  throw new NemoClawContractError(code, message);
}

/** The socket's folder: created 0700 if missing; an existing one must be ours, a real folder, and not writable
 * by group or others (NemoClaw checks the same and refuses the socket otherwise). */
function prepareFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) fail("socket_parent_unsafe", `${dir} is not a folder`);
  if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
    fail("socket_parent_unsafe", `${dir} belongs to another user`);
  }
  if ((stat.mode & 0o022) !== 0) fail("socket_parent_unsafe", `${dir} is writable by group or others; chmod 700 it`);
}

/** Removes a stale socket left by a crashed daemon; refuses to replace a live one or a non-socket. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) fail("socket_type", `${socketPath} exists and is not a socket; remove it yourself`);
  const live = await socketAnswers(socketPath);
  if (live) fail("socket_in_use", `${socketPath} is served by another process (is a sidecar already running?)`);
  fs.unlinkSync(socketPath);
}

export async function startActivationServer(opts: ActivationServerOptions): Promise<ActivationServer> {
  const socketPath = path.resolve(opts.socketPath);
  const deadlineMs = opts.deadlineMs ?? NEMOCLAW_DEADLINE_MS;
  const limits = {
    maxHeaderBytes: opts.maxHeaderBytes ?? REQUEST_HEADER_MAX_BYTES,
    maxBodyBytes: opts.maxBodyBytes ?? REQUEST_BODY_MAX_BYTES,
  };
  const state: ComponentState = {
    componentId: opts.componentId,
    activePolicyDigest: opts.activePolicyDigest,
    expected: opts.expected,
    requirePreparation: opts.requirePreparation ?? true,
    prepared: new Map(),
    activations: [],
    now: opts.now ?? (() => new Date()),
  };
  const log = opts.log ?? (() => {});
  prepareFolder(path.dirname(socketPath));
  await clearStaleSocket(socketPath);

  const open = new Set<net.Socket>();
  // allowHalfOpen: a client may half-close after sending its request and still read our answer.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    const deadline = setTimeout(() => {
      log({ event: "nemoclaw.connection", result: "deadline", status: 0 });
      socket.destroy();
    }, deadlineMs);
    deadline.unref();
    socket.once("close", () => {
      clearTimeout(deadline);
      open.delete(socket);
    });
    socket.on("error", () => socket.destroy());
    void serve(socket, state, limits, log);
  });
  server.maxConnections = opts.maxConnections ?? 16;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
  const inode = fs.lstatSync(socketPath).ino;

  return {
    socketPath,
    deadlineMs,
    prepared: () => [...state.prepared.values()],
    activations: () => [...state.activations],
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => {
          // node removes the socket file on close; remove it ourselves only if it is still the one we made
          try {
            if (fs.lstatSync(socketPath).ino === inode) fs.unlinkSync(socketPath);
          } catch {
            /* already gone */
          }
          resolve();
        });
      }),
  };
}

const ROUTES: Record<string, (payload: unknown, state: ComponentState) => Promise<Outcome>> = {
  [PREPARE_PATH]: handlePrepare,
  [ACTIVATE_PATH]: handleActivate,
};

async function serve(
  socket: net.Socket,
  state: ComponentState,
  limits: { maxHeaderBytes: number; maxBodyBytes: number },
  log: NonNullable<ActivationServerOptions["log"]>,
): Promise<void> {
  let outcome: Outcome;
  try {
    const request = await readRequest(socket, limits);
    const handler = ROUTES[request.path];
    if (!handler) {
      outcome = { status: 404, body: { error: "not_found" }, note: { event: "nemoclaw.request", result: "not_found" } };
    } else if (request.method !== "POST") {
      outcome = {
        status: 405,
        body: { error: "method_not_allowed", message: "use POST" },
        note: { event: "nemoclaw.request", result: "method_not_allowed" },
      };
    } else if (!/^application\/json(?:\s*;.*)?$/iu.test(request.headers.get("content-type") ?? "")) {
      outcome = {
        status: 415,
        body: { error: "unsupported_media_type", message: "send Content-Type: application/json" },
        note: { event: "nemoclaw.request", result: "unsupported_media_type" },
      };
    } else {
      let payload: unknown;
      try {
        payload = parseStrictJson(new TextDecoder("utf-8", { fatal: true }).decode(request.body));
      } catch {
        payload = undefined;
      }
      outcome =
        payload === undefined
          ? {
              status: 400,
              body: { error: "invalid_json", message: "the body is not valid UTF-8 JSON with unique keys" },
              note: { event: "nemoclaw.request", result: "invalid", reason: "invalid_json" },
            }
          : await handler(payload, state);
    }
  } catch (err) {
    if (err instanceof RequestError) {
      if (err.status === 0) {
        socket.destroy();
        return;
      }
      outcome = {
        status: err.status,
        body: { error: err.code, message: err.message },
        note: { event: "nemoclaw.request", result: "invalid", reason: err.code },
      };
    } else {
      // fail closed: an internal error is never an acknowledgement
      outcome = { status: 500, body: { error: "internal" }, note: { event: "nemoclaw.request", result: "error" } };
    }
  }
  log({ ...outcome.note, status: outcome.status });
  // one request per connection: close once the answer is flushed (and stop reading an oversized request)
  socket.once("finish", () => socket.destroy());
  writeResponse(socket, outcome.status, outcome.body);
}

export type { Connection };
