// `POST /v1/intents/{id}/result` on the agent API: output redaction. The agent (or the MCP gateway) posts what a tool
// returned, `{"result": <any JSON>}`, and gets it back with PII replaced by `[REDACTED:<detector>]` per the pii block
// of the CURRENT policy (the policy that decided the intent is not kept; `policy.digest` says which one redacted, and
// `policy.decided_by` which one decided). Only the detector counts are recorded (audit row `result.redacted`, when
// anything was redacted); never the result or the values. An agent may post only for its own intent (another's is
// 404, as on GET); executor tokens are refused. A result that cannot be scanned (nested too deep, embedded JSON too
// large) is refused with 422 rather than returned unscanned (fail closed).
import type { Context, Hono } from "hono";
import { agentBodyLimit } from "./body-limit.ts";
import type { ErrorBody, Intent } from "../../protocol/index.ts";
import type { Pipeline } from "../pipeline.ts";
import type { PolicyConfig } from "../policy/config.ts";
import { redactResult } from "../policy/blocks/pii.ts";
import type { AgentEnv } from "./agent.ts";

export interface ResultResponse {
  intent_id: string;
  result: unknown;
  redactions: { total: number; detectors: Record<string, number> };
  policy: { digest: string; decided_by?: string };
}

function err(c: Context, status: number, error: string, message: string) {
  return c.json({ error, message } satisfies ErrorBody, status as 400);
}

export function registerResults(app: Hono<AgentEnv>, deps: { pipeline: Pipeline; bodyLimitBytes: number }): void {
  app.post(
    "/v1/intents/:id/result",
    agentBodyLimit(deps.bodyLimitBytes),
    async (c) => {
      if (c.get("role") === "executor")
        return err(c, 403, "forbidden", "executor tokens cannot post tool results; this route is for agents");
      const id = c.req.param("id");
      const agent = c.get("agent");
      const rec = deps.pipeline.lookup(id, agent);
      if (!rec) return err(c, 404, "not_found", `no intent ${id}`);
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        return err(c, 400, "invalid_json", 'the body is not JSON; send {"result": <the tool\'s result>}');
      }
      if (body === null || typeof body !== "object" || Array.isArray(body) || !("result" in body))
        return err(c, 400, "invalid_request", 'the body must be {"result": <the tool\'s result, any JSON>}');
      const policy = deps.pipeline.currentPolicy() as { digest: string; config?: PolicyConfig } | undefined;
      if (!policy) return err(c, 503, "policy_unavailable", "no valid policy is loaded; results cannot be screened");
      const intent = rec.intent as Intent;
      const principal = deps.pipeline.principalOf(rec.agent);
      const r = redactResult(
        policy.config?.pii,
        intent,
        principal ? { now: new Date(), principal } : { now: new Date() },
        (body as { result: unknown }).result,
      );
      if (r.unscannable !== undefined)
        return err(c, 422, "result_unscannable", `the result cannot be scanned for PII (${r.unscannable}); it is withheld`);
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      if (total > 0)
        deps.pipeline.audit("result.redacted", {
          intent_id: rec.id,
          agent: rec.agent,
          action: rec.action,
          counts: r.counts,
          policy_digest: policy.digest,
        });
      c.header("cache-control", "no-store");
      return c.json({
        intent_id: rec.id,
        result: r.result,
        redactions: { total, detectors: r.counts },
        policy: { digest: policy.digest, ...(rec.policy_digest ? { decided_by: rec.policy_digest } : {}) },
      } satisfies ResultResponse);
    },
  );
}
