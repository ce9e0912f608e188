// Bearer tokens on the agent listener. Tokens are kept only as SHA-256 hashes and compared in constant time.
// Two roles: agents (declare and read their own intents) and executors (redeem attestations, post receipts; see
// sidecar/api/attestations.ts). An executor token is never accepted for declaring or reading intents.
// No agent tokens configured: dev mode, the agent is taken from the body (the daemon logs a loud warning).
import { createHash, timingSafeEqual } from "node:crypto";

export type Role = "agent" | "executor" | "dev";

/** `agent`: the token's name (agent or executor name); undefined in dev mode without a token. */
export type AuthResult = { ok: true; agent: string | undefined; role: Role } | { ok: false };

type Entry = { name: string; hash: Buffer; role: "agent" | "executor" };

export class TokenAuth {
  private readonly entries: Entry[];

  constructor(tokens: Record<string, string>, executorTokens: Record<string, string> = {}) {
    this.entries = [
      ...Object.entries(tokens).map(([name, token]): Entry => ({ name, hash: hashToken(token), role: "agent" })),
      ...Object.entries(executorTokens).map(([name, token]): Entry => ({
        name,
        hash: hashToken(token),
        role: "executor",
      })),
    ];
  }

  /** No agent tokens configured: agents are not authenticated. */
  get devMode(): boolean {
    return !this.entries.some((e) => e.role === "agent");
  }

  /** Executor tokens are configured: redeem and receipts take only them. */
  get executorsConfigured(): boolean {
    return this.entries.some((e) => e.role === "executor");
  }

  /** Checks an Authorization header. In dev mode a request without a known token passes as role `dev`. */
  check(authorization: string | undefined): AuthResult {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    let found: Entry | undefined;
    if (m) {
      const h = hashToken(m[1]!);
      for (const e of this.entries) if (timingSafeEqual(e.hash, h) && found === undefined) found = e;
    }
    if (found) return { ok: true, agent: found.name, role: found.role };
    if (this.devMode) return { ok: true, agent: undefined, role: "dev" };
    return { ok: false };
  }
}

function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
