// `POST /v1/tools/screen` on the agent API: which of the given tool names the active policy denies outright, by the
// name alone. The MCP proxy (sidecar/mcp/) uses it to hide such tools from `tools/list`. It is read-only, records
// nothing, and answers only denied/allowed per name (no globs, rules or reasons): a name is denied when
//   - `actions.deny` matches `tool.call` (every tool call is denied), or
//   - the policy has no `tool_calls` block (tool calls are denied by default), or
//   - `tool_calls.deny` matches the name, or it matches neither `tool_calls.allow` nor `tool_calls.hold` nor the
//     tools of an allow or hold rule of `tool_calls.rules` (whose scope and risk only the call's decision knows)
// (the name checks of sidecar/policy/blocks/tool-calls.ts and actions.ts). "Allowed" only means "not denied by its
// name": the arguments, domains, custom rules and soft limits still decide every call, and a call to a denied name
// is denied by the normal path as always. Agent tokens only; an executor token is 403; no policy loaded is 503.
import type { Context, Hono } from "hono";
import { agentBodyLimit } from "./body-limit.ts";
import type { ErrorBody } from "../../protocol/index.ts";
import type { GlobSet } from "../../protocol/glob.ts";
import type { Pipeline } from "../pipeline.ts";
import type { AgentEnv } from "./agent.ts";

/** At most this many names per request, each at most MAX_NAME characters. */
export const MAX_TOOLS = 1000;
export const MAX_NAME = 512;

export interface ScreenResult {
  denied: string[];
  allowed: string[];
}

/** The name checks of a compiled policy config (PolicyConfig of sidecar/policy/config.ts, read structurally). */
interface NameChecks {
  actions?: { deny: GlobSet };
  toolCalls?: { allow: GlobSet; deny: GlobSet; hold: GlobSet; rules?: { effect: string; names?: GlobSet }[] };
}

/** Whether some tool_calls.rules allow or hold rule may admit the name (its scope and risk are not known here, so
 * such a name is not hidden: the decision of each call settles it). */
const ruleMayAdmit = (rules: readonly { effect: string; names?: GlobSet }[] | undefined, t: string) =>
  (rules ?? []).some((r) => r.effect !== "deny" && (!r.names || (isGlobSet(r.names) && r.names.test(t))));

const isGlobSet = (g: unknown): g is GlobSet => typeof (g as GlobSet | undefined)?.match === "function";

/** Splits `tools` into denied and allowed by name. A config this cannot read denies nothing here (the normal path
 * still decides every call). */
export function screenTools(config: unknown, tools: readonly string[]): ScreenResult {
  const c = (config ?? undefined) as NameChecks | undefined;
  const readable = typeof c === "object" && c !== null && "custom" in c;
  if (!readable) return { denied: [], allowed: [...tools] };
  const tc = c.toolCalls;
  const names = tc && isGlobSet(tc.allow) && isGlobSet(tc.deny) && isGlobSet(tc.hold) ? tc : undefined;
  const allDenied = (isGlobSet(c.actions?.deny) && c.actions.deny.test("tool.call")) || !names;
  const out: ScreenResult = { denied: [], allowed: [] };
  for (const t of tools) {
    const denied =
      allDenied ||
      !names ||
      names.deny.test(t) ||
      (!names.hold.test(t) && !names.allow.test(t) && !ruleMayAdmit(names.rules, t));
    (denied ? out.denied : out.allowed).push(t);
  }
  return out;
}

function err(c: Context, status: number, error: string, message: string) {
  return c.json({ error, message } satisfies ErrorBody, status as 400);
}

/** The active policy: the pipeline's policy provider (the one every decision uses). */
function currentPolicy(pipeline: Pipeline): { config?: unknown } | undefined {
  return pipeline.currentPolicy() as { config?: unknown } | undefined;
}

/** Adds `POST /v1/tools/screen` to the agent app (after its `/v1/*` token check). */
export function registerToolsScreen(app: Hono<AgentEnv>, deps: { pipeline: Pipeline; bodyLimitBytes: number }): void {
  app.post(
    "/v1/tools/screen",
    agentBodyLimit(deps.bodyLimitBytes),
    async (c) => {
      if (c.get("role") === "executor")
        return err(c, 403, "forbidden", "executor tokens cannot screen tools; this route is for agents");
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        return err(c, 400, "invalid_json", "the body is not JSON");
      }
      const tools = (body as { tools?: unknown } | null)?.tools;
      if (
        !Array.isArray(tools) ||
        tools.length > MAX_TOOLS ||
        !tools.every((t) => typeof t === "string" && t.length > 0 && t.length <= MAX_NAME)
      )
        return err(
          c,
          400,
          "invalid_request",
          `the body must be {"tools": [names]}: at most ${MAX_TOOLS} non-empty strings of at most ${MAX_NAME} characters`,
        );
      const policy = currentPolicy(deps.pipeline);
      if (!policy) return err(c, 503, "policy_unavailable", "no valid policy is loaded; every intent is refused");
      c.header("cache-control", "no-store");
      return c.json(screenTools(policy.config, tools as string[]));
    },
  );
}
