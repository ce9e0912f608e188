// Remembers the network rules' "allow" for identical requests. Only for rules whose answer depends on nothing but
// the input document and the policy's data (the policy says so: no clock, randomness or I/O builtins), so the same
// input gives the same answer; a policy reload builds a new cache. The timestamp is part of the input, so an entry
// only ever matches within the same second: what this saves is repeated evaluation of a burst of identical requests.
import { hash } from "node:crypto";
import type { AttestationClaims } from "../protocol/index.ts";
import type { NetworkDecision, NetworkSource } from "./input.ts";

/** Bodies larger than this are never cached (their key would cost more than it saves). */
const MAX_CACHED_BODY = 16 * 1024;

/** What the input document is built from: equal parts give an equal input document (buildInput is pure). */
export interface DecisionParts {
  method: string;
  host: string;
  port: number;
  pathAndQuery: string;
  /** node's raw header list (names and values as received); the parsed headers follow from it */
  rawHeaders: string[];
  /** the inspected body, or null when it was not inspected (streamed) */
  body: Buffer | null;
  source: NetworkSource;
  attestation: AttestationClaims | null;
  timestamp: string;
}

const ALLOWED: NetworkDecision = Object.freeze({ allow: true, reasons: Object.freeze([]) as unknown as string[] });

export class DecisionCache {
  /** keys of requests the rules allowed */
  private readonly allowed = new Set<string>();
  hits = 0;
  misses = 0;

  constructor(private readonly capacity = 1024) {}

  /** The key for a request, or null when it is not cached (attested requests are single use; large bodies). The
   * parts are hashed, so header values (credentials) are not kept in memory as they are. */
  key(p: DecisionParts): string | null {
    if (p.attestation !== null) return null;
    if (p.body !== null && p.body.length > MAX_CACHED_BODY) return null;
    const text = JSON.stringify([
      p.method,
      p.host,
      p.port,
      p.pathAndQuery,
      p.rawHeaders,
      p.body === null ? null : p.body.toString("latin1"),
      p.source.binary,
      p.source.pid,
      p.source.sandbox_id,
      p.timestamp,
    ]);
    return hash("sha256", text, "base64");
  }

  get(key: string): NetworkDecision | undefined {
    if (this.allowed.has(key)) {
      this.hits++;
      return ALLOWED;
    }
    this.misses++;
    return undefined;
  }

  /** Stores an answer if it is a plain allow. Denials are not kept: a denial may come from an evaluation error (a
   * budget or time limit, which is not a property of the input), and denied requests are not the ones to speed up. */
  set(key: string, d: NetworkDecision): void {
    if (d?.allow !== true || !Array.isArray(d.reasons) || d.reasons.length !== 0) return;
    if (this.allowed.size >= this.capacity) {
      // oldest first: older entries carry older timestamps, which no request can match any more
      this.allowed.delete(this.allowed.values().next().value!);
    }
    this.allowed.add(key);
  }
}
