// A stand-in policy for daemon-level holds tests that do not depend on the policy engine: `allow` actions are
// allowed, `hold` actions are held by rule "review", and the config carries soft limits and the holds block in the
// shapes the policy engine compiles them to. (Reference-policy behaviour is tested in reference-policy.test.ts.)
import type { PolicyHandle, ActivePolicy } from "../../sidecar/policy-runtime.ts";
import { combineVerdicts } from "../../sidecar/policy/evaluate.ts";
import type { SoftLimit } from "../../sidecar/limits/types.ts";

export function stubPolicy(opts: {
  allow?: string[];
  hold?: string[];
  softLimits?: SoftLimit[];
  approvalsRequired?: number;
  overrides?: Record<string, number>;
  ttlMs?: number;
  webhooks?: string[];
  /** holds.max_open_per_agent (absent: the default, 100). */
  maxOpenPerAgent?: number;
}): PolicyHandle {
  const current: ActivePolicy = {
    digest: "sha256:" + "cd".repeat(32),
    config: {
      softLimits: opts.softLimits ?? [],
      holds: {
        ttlMs: opts.ttlMs ?? 86_400_000,
        approvalsRequired: opts.approvalsRequired ?? 1,
        overrides: new Map(Object.entries(opts.overrides ?? {}).map(([rule, n]) => [rule, { approvalsRequired: n }])),
        ...(opts.maxOpenPerAgent !== undefined ? { maxOpenPerAgent: opts.maxOpenPerAgent } : {}),
      },
      notify: { webhooks: (opts.webhooks ?? []).map((url) => ({ url })) },
    },
  };
  return {
    provider: {
      current: () => current,
      async evaluate(_p, intent) {
        if (opts.hold?.includes(intent.action)) {
          return [{ block: "custom", effect: "hold", reasons: [{ block: "custom", rule: "review", message: "needs review" }] }];
        }
        if (opts.allow?.includes(intent.action)) return [{ block: "actions", effect: "allow", reasons: [] }];
        return [{ block: "actions", effect: "abstain", reasons: [] }];
      },
      combine: combineVerdicts,
    },
    lastError: () => null,
    reload: async () => ({ ok: true, digest: current.digest }),
    onReload: () => {},
    close: async () => {},
  };
}
