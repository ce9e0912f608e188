// What the proxy needs from the active policy's network block. The sidecar hands the proxy a getter, so every
// request uses the policy in force at that moment (hot reload needs no restart of the proxy).
import { AddressAllowList } from "./address.ts";
import { DecisionCache } from "./decision-cache.ts";
import { compileHostGlobs, globProblem } from "../protocol/glob.ts";
import type { DecideFn } from "./input.ts";
import { modulesInputUse } from "./input-use.ts";

export interface ProxyPolicy {
  /** The network rules. */
  decide: DecideFn;
  /** True when requests to `host` (normalized: lower-case, no brackets, no trailing dot) must carry an attestation
   * (require_attestation host globs, matched by protocol/glob.ts: `*.pay.example.com` governs every subdomain, not
   * the apex). */
  requireAttestation(host: string): boolean;
  /** Non-public addresses the proxy may dial anyway. */
  allowAddresses: AddressAllowList;
  /** Host → address overrides (like curl --resolve). */
  resolve: Readonly<Record<string, string>>;
  /** Whether the rules read the request body. When false, bodies over the inspection limit are streamed; when true
   * they are refused (413), as are compressed bodies that cannot be decoded within the limit and text bodies that
   * are not UTF-8. */
  inspectsBody: boolean;
  /** Whether upgrade requests (WebSocket) the rules allow are tunnelled. False: every upgrade is refused (403). The
   * sidecar sets it only for rules that read `input.request.headers.upgrade`, i.e. that decide upgrades on purpose. */
  upgrades: boolean;
  /** Answers remembered for identical inputs; only present when the rules are deterministic (same input, same
   * answer). Belongs to this policy: a reloaded policy starts empty. */
  decisionCache?: DecisionCache | null;
}

/** Whether Rego sources may read the request body, decided from the compiled rules (see input-use.ts): sources
 * that do not compile, or any reference the analysis cannot prove misses `input.request.body`, count as reading it.
 * Modules with their file names (and rego versions) are better given to modulesInputUse directly. */
export function sourcesReadBody(sources: readonly string[]): boolean {
  return modulesInputUse(sources.map((source, i) => ({ path: `module${i}.rego`, source }))).body;
}

/** Builds a ProxyPolicy from plain values (tests, benchmarks, and the sidecar's network block). */
export function proxyPolicy(opts: {
  decide: DecideFn;
  requireAttestation?: readonly string[];
  allowAddresses?: readonly string[];
  resolve?: Record<string, string>;
  inspectsBody?: boolean;
  /** Tunnel upgrade requests the rules allow (default true: a decision function sees the upgrade headers). */
  upgrades?: boolean;
  /** The rules' answer depends only on the input document (no clock, randomness or I/O): answers may be reused. */
  deterministic?: boolean;
}): ProxyPolicy {
  const resolve: Record<string, string> = {};
  for (const [h, a] of Object.entries(opts.resolve ?? {})) resolve[h.toLowerCase()] = a;
  for (const g of opts.requireAttestation ?? []) {
    const problem = globProblem(g); // a glob that can match nothing must not quietly govern nothing
    if (problem) throw new Error(`require_attestation: ${problem}`);
  }
  return {
    decide: opts.decide,
    requireAttestation: compileHostGlobs(opts.requireAttestation ?? []).test,
    allowAddresses: new AddressAllowList(opts.allowAddresses ?? []),
    resolve,
    inspectsBody: opts.inspectsBody ?? true,
    upgrades: opts.upgrades ?? true,
    decisionCache: opts.deterministic ? new DecisionCache() : null,
  };
}
