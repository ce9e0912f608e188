// Where the gate may talk to the sidecar: https anywhere, plain http only over loopback. A JWKS fetched over plain
// http from another host can be swapped by anyone on the path, who then mints attestations the gate accepts; a
// redemption or receipt over plain http exposes the agent listener's bearer token.
import { GateConfigError } from "./errors.ts";

/** True for hosts that never leave this machine: 127.0.0.0/8, ::1 and `localhost`. `hostname` as `URL` gives it
 * (WHATWG URL already normalizes `127.1`, `0x7f.0.0.1` and friends to dotted IPv4). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  if (h === "localhost") return true;
  if (h === "[::1]") return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m[1] === "127" && m.slice(2).every((o) => Number(o) <= 255);
}

/** Parses `url` and refuses anything but `https:` or loopback `http:`. `what` names the setting in the message
 * (e.g. "createGate: the JWKS URL"); `alternatives` says what else the caller can do. */
export function requireSecureUrl(url: string | URL, what: string, alternatives: string): URL {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch (e) {
    throw new GateConfigError("invalid_url", `${what} ${JSON.stringify(String(url))} is not a valid URL`, {
      cause: e,
    });
  }
  if (u.protocol === "https:") return u;
  if (u.protocol === "http:") {
    if (isLoopbackHost(u.hostname)) return u;
    throw new GateConfigError(
      "insecure_url",
      `${what} ${u.href} is plain http to ${u.hostname}, which is not loopback: anyone on the network path could ` +
        `read or replace what is sent. Use https://${u.host}${u.pathname} (TLS in front of the sidecar), reach the ` +
        `sidecar over loopback (http://127.0.0.1, http://[::1] or http://localhost), or ${alternatives}.`,
    );
  }
  throw new GateConfigError(
    "insecure_url",
    `${what} ${u.href} uses ${u.protocol}; only https:// (or http:// to a loopback address) is accepted`,
  );
}
