// A tiny stand-in policy for pipeline-mechanics tests (the real policy engine is tested through the reference
// policy in reference-policy.test.ts): actions listed in `allow` are allowed, `hold` held, anything else denied;
// an action named "boom.*" makes evaluation throw.
import type { PolicyHandle, ActivePolicy } from "../../sidecar/policy-runtime.ts";
import { combineVerdicts } from "../../sidecar/policy/evaluate.ts";

export function fakePolicy(
  opts: { allow?: string[]; hold?: string[]; digest?: string; loaded?: boolean } = {},
): PolicyHandle & {
  set(p: ActivePolicy | undefined): void;
} {
  let current: ActivePolicy | undefined =
    opts.loaded === false ? undefined : { digest: opts.digest ?? "sha256:" + "ab".repeat(32), config: {} };
  return {
    provider: {
      current: () => current,
      async evaluate(_p, intent) {
        if (intent.action.startsWith("boom.")) throw new Error("block exploded");
        if (opts.hold?.includes(intent.action))
          return [
            {
              block: "custom",
              effect: "hold",
              reasons: [{ block: "custom", rule: "review", message: "needs review" }],
            },
          ];
        if (opts.allow?.includes(intent.action)) return [{ block: "actions", effect: "allow", reasons: [] }];
        return [{ block: "actions", effect: "abstain", reasons: [] }];
      },
      combine: combineVerdicts,
    },
    lastError: () => null,
    reload: async () => ({ ok: true, digest: current?.digest }),
    onReload: () => {},
    close: async () => {},
    set(p) {
      current = p;
    },
  };
}
