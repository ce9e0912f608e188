// Agent bearer tokens. Tokens are kept only as SHA-256 hashes and compared in constant time.
// No tokens configured: dev mode, the agent is taken from the body (the daemon logs a loud warning).
import { createHash, timingSafeEqual } from "node:crypto";

export type AuthResult = { ok: true; agent: string | undefined } | { ok: false };

export class TokenAuth {
  private readonly entries: { name: string; hash: Buffer }[];

  constructor(tokens: Record<string, string>) {
    this.entries = Object.entries(tokens).map(([name, token]) => ({ name, hash: hashToken(token) }));
  }

  get devMode(): boolean {
    return this.entries.length === 0;
  }

  /** Checks an Authorization header. In dev mode every request passes with agent undefined. */
  check(authorization: string | undefined): AuthResult {
    if (this.devMode) return { ok: true, agent: undefined };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return { ok: false };
    const h = hashToken(m[1]!);
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, h) && found === undefined) found = e.name;
    return found === undefined ? { ok: false } : { ok: true, agent: found };
  }
}

function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
