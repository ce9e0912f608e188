// The network block seam. PLACEHOLDER: the proxy engineer replaces the body of compileNetwork with the Rego engine.
// Until then every http.request is denied (fail closed), with a reason that says why.
import type { BlockEvaluator } from "./verdict.ts";

export interface NetworkSpec {
  /** Rego package whose `allow`/`deny`/`deny_reason` decide, default `nemoclaw.network`. */
  package: string;
  /** Rego modules: files matched by `network.modules` (tests excluded) and inline ```rego blocks of a Markdown policy. */
  modules: { path: string; source: string }[];
  /** `network.data` files merged into `data`. */
  data: object;
  /** Host globs whose requests must carry an attestation. */
  require_attestation: string[];
  /** CIDRs the proxy may dial even though they are loopback or private. */
  allow_addresses: string[];
  /** host → address overrides (like curl --resolve). */
  resolve: Record<string, string>;
}

export interface NetworkBlock {
  spec: NetworkSpec;
  /** The block evaluator for `http.request` intents (abstains for other actions). */
  evaluator: BlockEvaluator;
  /** Evaluates the SPEC section 6 input document. */
  decide(input: unknown): Promise<{ allow: boolean; reasons: string[] }>;
}

const UNAVAILABLE = "network rules are not available yet";

export async function compileNetwork(spec: NetworkSpec): Promise<NetworkBlock> {
  return {
    spec,
    evaluator: (intent) =>
      intent.action === "http.request"
        ? { block: "network", effect: "deny", reasons: [{ block: "network", rule: "engine", message: UNAVAILABLE }] }
        : { block: "network", effect: "abstain", reasons: [] },
    decide: async () => ({ allow: false, reasons: [UNAVAILABLE] }),
  };
}
