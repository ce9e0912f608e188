// Operator bearer tokens: one per operator name, kept only as SHA-256 hashes and compared in constant time.
// A configured value may itself be a hash (`sha256:<64 hex>`), so config files need not hold the plain token.
// No operator tokens configured means no operator can sign in (there is no dev mode on the operator side).
import { createHash, timingSafeEqual } from "node:crypto";

export class OperatorAuth {
  private readonly entries: { name: string; hash: Buffer }[];

  /** Operator names whose token is also an agent token; those operators are refused (see constructor). */
  readonly rejected: string[] = [];

  /** `agentTokens`: an operator token equal to an agent token is dropped, so an agent token never works here. */
  constructor(tokens: Record<string, string>, agentTokens: Record<string, string> = {}) {
    const agentHashes = Object.values(agentTokens).map(hashToken);
    this.entries = [];
    for (const [name, token] of Object.entries(tokens)) {
      const m = /^sha256:([0-9a-f]{64})$/i.exec(token);
      const hash = m ? Buffer.from(m[1]!, "hex") : hashToken(token);
      if (agentHashes.some((a) => timingSafeEqual(a, hash))) this.rejected.push(name);
      else this.entries.push({ name, hash });
    }
  }

  get configured(): boolean {
    return this.entries.length > 0;
  }

  /** The operator an `Authorization: Bearer …` header names, or undefined. */
  operatorFor(authorization: string | undefined): string | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return undefined;
    const h = hashToken(m[1]!);
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, h) && found === undefined) found = e.name;
    return found;
  }
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
