// The operator API and console (SPEC sections 2-3) for the operator listener (127.0.0.1:7402 by default).
// Every /v1 route needs an operator token; agent tokens are not operator tokens and get 401. The console's static
// files are public (they hold no data); everything they show comes from the authenticated API.
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { HoldError, HOLD_STATES, type HoldEvent, type HoldState, type HoldsApi } from "../holds/types.ts";
import { StoreUnavailable } from "../store/unavailable.ts";
import type { OperatorAuth } from "./auth.ts";
import { consoleAssets } from "./assets.ts";

import type { DecisionFilter, DecisionSummary, OperatorViews } from "./views.ts";
import { UsageQueryError } from "./usage.ts";
export type { DecisionFilter, DecisionSummary } from "./views.ts";

const DECISIONS = ["APPROVED", "DENIED", "PENDING", "EXPIRED"];

export interface OperatorApiDeps {
  holds: HoldsApi;
  auth: OperatorAuth;
  reloadPolicy(): Promise<{ ok: boolean; digest?: string; error?: string }>;
  recentDecisions(limit: number, filter?: DecisionFilter): DecisionSummary[];
  /** Timeline, usage and policy status (sidecar/operator/views.ts); absent, those routes answer 404. */
  views?: Pick<OperatorViews, "timeline" | "usage" | "policyStatus">;
  /** Cost totals and budget states for `GET /v1/usage` (sidecar/operator/usage.ts); throws UsageQueryError on a bad
   * query. Absent: the usage report has soft limits only. */
  costUsage?(query: Record<string, string | undefined>): object;
  /** Audit for operator actions that are not hold transitions (policy reload requests). */
  audit?(event: { type: string; [k: string]: unknown }): void;
  /** SSE keep-alive interval (ms). */
  pingMs?: number;
}

type Env = { Variables: { operator: string } };

function err(c: Context, status: number, error: string, message: string) {
  return c.json({ error, message }, status as 400);
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  const v = JSON.parse(text) as unknown;
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new SyntaxError("body must be a JSON object");
  return v as Record<string, unknown>;
}

function optionalString(v: unknown, field: string, max = 2000): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new SyntaxError(`${field} must be a string`);
  if (v.length > max) throw new SyntaxError(`${field} must be at most ${max} characters`);
  return v;
}

export function createOperatorApp(deps: OperatorApiDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.onError((e, c) => {
    if (e instanceof HoldError) {
      const status = e.code === "not_found" ? 404 : e.code === "invalid_operator" ? 400 : 409;
      return err(c, status, e.code, e.message);
    }
    if (e instanceof SyntaxError) return err(c, 400, "invalid_body", e.message);
    if (e instanceof StoreUnavailable) return err(c, 503, e.code, `${e.message}; nothing was changed, retry later`);
    return err(c, 500, "internal_error", "internal error; nothing was changed");
  });
  app.notFound((c) => err(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));

  app.use("*", async (c, next) => {
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
    c.header("x-frame-options", "DENY");
  });

  // --- console (static, no build step) ---
  app.get("/", (c) => c.redirect("/console/"));
  app.get("/console", (c) => c.redirect("/console/"));
  app.get("/console/:file{.*}", (c) => {
    const asset = consoleAssets().get(c.req.param("file") || "index.html");
    if (!asset) return err(c, 404, "not_found", `no console file ${c.req.param("file")}`);
    c.header("content-type", asset.type);
    c.header("cache-control", "no-cache");
    c.header("content-security-policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    return c.body(asset.body);
  });

  // --- authenticated API ---
  app.use("/v1/*", async (c, next) => {
    const operator = deps.auth.operatorFor(c.req.header("authorization"));
    if (!operator) {
      c.header("www-authenticate", 'Bearer realm="intent-sidecar-operator"');
      return err(c, 401, "unauthorized", "missing or unknown operator token (Authorization: Bearer <operator token>)");
    }
    c.set("operator", operator);
    await next();
  });

  app.get("/v1/whoami", (c) => c.json({ operator: c.get("operator") }));

  app.get("/v1/holds", async (c) => {
    const state = c.req.query("state");
    if (state !== undefined && !HOLD_STATES.includes(state as HoldState)) {
      return err(c, 400, "invalid_state", `state must be one of ${HOLD_STATES.join(", ")}`);
    }
    const limitQ = c.req.query("limit");
    const limit = limitQ === undefined ? 100 : Number(limitQ);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return err(c, 400, "invalid_limit", "limit must be an integer from 1 to 1000");
    const holds = await deps.holds.list({
      ...(state ? { state: state as HoldState } : {}),
      ...(c.req.query("agent") ? { agent: c.req.query("agent")! } : {}),
      ...(c.req.query("rule") ? { rule: c.req.query("rule")! } : {}),
      limit,
    });
    return c.json({ holds, now: new Date().toISOString() });
  });

  app.get("/v1/holds/:id", async (c) => {
    const hold = await deps.holds.get(c.req.param("id"));
    if (!hold) return err(c, 404, "not_found", `no hold with id ${c.req.param("id")}`);
    return c.json(hold);
  });

  app.post("/v1/holds/:id/approve", async (c) => {
    const body = await jsonBody(c);
    const hold = await deps.holds.approve(c.req.param("id"), c.get("operator"), optionalString(body.comment, "comment"));
    return c.json({
      id: hold.id,
      state: hold.state,
      approvals: hold.approvals.length,
      approvals_required: hold.approvals_required,
      hold,
    });
  });

  app.post("/v1/holds/:id/deny", async (c) => {
    const body = await jsonBody(c);
    // a denial is shown to the agent and kept in the audit log: it needs a reason (`comment` is accepted as its alias)
    const reason = optionalString(body.reason, "reason") ?? optionalString(body.comment, "comment");
    if (!reason?.trim()) {
      return err(c, 400, "reason_required", 'a denial needs a reason: POST {"reason":"…"} (the agent sees it; it is audited)');
    }
    const hold = await deps.holds.deny(c.req.param("id"), c.get("operator"), reason.trim());
    return c.json({ id: hold.id, state: hold.state, approvals: hold.approvals.length, approvals_required: hold.approvals_required, hold });
  });

  app.post("/v1/policy/reload", async (c) => {
    deps.audit?.({ type: "operator.policy_reload", operator: c.get("operator") });
    const r = await deps.reloadPolicy();
    return c.json(r, r.ok ? 200 : 422);
  });

  app.get("/v1/decisions", (c) => {
    const limitQ = c.req.query("limit");
    const limit = limitQ === undefined ? 50 : Number(limitQ);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return err(c, 400, "invalid_limit", "limit must be an integer from 1 to 1000");
    const filter: DecisionFilter = {};
    for (const k of ["agent", "action", "decision", "rule"] as const) {
      const v = c.req.query(k)?.trim();
      if (!v) continue;
      if (v.length > 200) return err(c, 400, `invalid_${k}`, `${k} must be at most 200 characters`);
      filter[k] = v;
    }
    if (filter.decision) {
      filter.decision = filter.decision.toUpperCase();
      if (!DECISIONS.includes(filter.decision)) return err(c, 400, "invalid_decision", `decision must be one of ${DECISIONS.join(", ")}`);
    }
    return c.json({ decisions: deps.recentDecisions(limit, filter) });
  });

  app.get("/v1/intents/:id/timeline", (c) => {
    const t = deps.views?.timeline(c.req.param("id"));
    if (!t) return err(c, 404, "not_found", `no intent with id ${c.req.param("id")}`);
    return c.json(t);
  });

  app.get("/v1/usage", (c) => {
    if (!deps.views) return err(c, 404, "not_found", "usage is not available on this listener");
    const q = c.req.query("buckets");
    const buckets = q === undefined ? 24 : Number(q);
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 200) return err(c, 400, "invalid_buckets", "buckets must be an integer from 1 to 200");
    let costs: object = {};
    try {
      costs = deps.costUsage?.(c.req.query()) ?? {};
    } catch (e) {
      if (e instanceof UsageQueryError) return err(c, 400, e.code, e.message);
      throw e;
    }
    return c.json({ ...deps.views.usage(buckets), ...costs });
  });

  app.get("/v1/policy/status", (c) => {
    if (!deps.views) return err(c, 404, "not_found", "policy status is not available on this listener");
    return c.json(deps.views.policyStatus());
  });

  // Live updates for the console: one SSE event per hold transition.
  app.get("/v1/events", (c) =>
    streamSSE(c, async (stream) => {
      const queue: HoldEvent[] = [];
      let wake: (() => void) | undefined;
      const onHold = (e: HoldEvent) => {
        queue.push(e);
        wake?.();
      };
      deps.holds.on("hold", onHold);
      let open = true;
      stream.onAbort(() => {
        open = false;
        wake?.();
      });
      try {
        await stream.writeSSE({ event: "hello", data: JSON.stringify({ operator: c.get("operator") }) });
        while (open) {
          while (queue.length) {
            const e = queue.shift()!;
            await stream.writeSSE({ event: "hold", data: JSON.stringify({ type: e.type, hold: e.hold }) });
          }
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((r) => {
            wake = r;
            timer = setTimeout(r, deps.pingMs ?? 15_000);
          });
          clearTimeout(timer);
          wake = undefined;
          if (open && !queue.length) await stream.writeSSE({ event: "ping", data: "{}" });
        }
      } finally {
        deps.holds.off("hold", onHold);
      }
    }),
  );

  return app;
}
