// The agent API (SPEC sections 2-3) on the agent listener: intents, JWKS, health, metrics. Every error is JSON.
import { Hono, type Context } from "hono";
import { agentBodyLimit } from "./body-limit.ts";
import type { ErrorBody } from "../../protocol/index.ts";
import type { Pipeline } from "../pipeline.ts";
import type { KeyRing } from "../attest/index.ts";
import type { Metrics } from "../metrics.ts";
import { intentChanges } from "../store/index.ts";
import type { Role, TokenAuth } from "./auth.ts";
import { registerToolsScreen } from "./tools-screen.ts";
import { registerResults } from "./results.ts";

export interface Health {
  status: "ok" | "no_policy" | "store_unavailable";
  policy: { digest: string; file?: string; loaded_at?: string } | null;
  last_reload_error: string | null;
  /** Fleet mode: the shared store's state (every decision is DENIED while it is down). */
  store?: { kind: "postgres"; up: boolean; since: string; error?: string };
}

export interface AgentApiDeps {
  pipeline: Pipeline;
  /** Publishes the JWKS: this sidecar's keys, or in fleet mode the fleet's (sidecar/store/pg/keys.ts). */
  keys: Pick<KeyRing, "jwks">;
  metrics: Metrics;
  auth: TokenAuth;
  bodyLimitBytes: number;
  health(): Health;
  /** Lets other modules add routes (e.g. the executor gate's redeem/receipt routes) before the 404 fallback. */
  extend?: (app: Hono<AgentEnv>) => void;
}

/** `agent`: the token's name (an agent's, or an executor's when `role` is "executor"); undefined in dev mode.
 * `executorsConfigured`: executor tokens exist, so executor routes take only them (sidecar/api/attestations.ts). */
export type AgentEnv = { Variables: { agent: string | undefined; role: Role; executorsConfigured: boolean } };

const EXECUTOR_FORBIDDEN = "executor tokens redeem attestations and post receipts; they cannot declare or read intents";

const MAX_WAIT_SECONDS = 60;

function err(c: Context, status: number, error: string, message?: string, extra: Partial<ErrorBody> = {}) {
  return c.json({ error, ...(message ? { message } : {}), ...extra } satisfies ErrorBody, status as 400);
}

export function createAgentApp(deps: AgentApiDeps): Hono<AgentEnv> {
  const app = new Hono<AgentEnv>();

  app.onError((e, c) => {
    void e;
    return err(c, 500, "internal_error", "internal error; nothing was approved");
  });
  app.notFound((c) => err(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));

  app.get("/.well-known/jwks.json", (c) => {
    c.header("cache-control", "max-age=60");
    return c.json(deps.keys.jwks());
  });

  app.get("/healthz", (c) => {
    const h = deps.health();
    return c.json(h, h.status === "ok" ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    c.header("content-type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  // Everything under /v1 needs an agent token (unless in dev mode).
  app.use("/v1/*", async (c, next) => {
    const r = deps.auth.check(c.req.header("authorization"));
    if (!r.ok) {
      c.header("www-authenticate", 'Bearer realm="intent-sidecar"');
      return err(c, 401, "unauthorized", "missing or unknown agent token (Authorization: Bearer <token>)");
    }
    c.set("agent", r.agent);
    c.set("role", r.role);
    c.set("executorsConfigured", deps.auth.executorsConfigured);
    await next();
  });
  // Intents are the agents' own: an executor token neither declares nor reads them.
  app.use("/v1/intents", async (c, next) => {
    if (c.get("role") === "executor") return err(c, 403, "forbidden", EXECUTOR_FORBIDDEN);
    await next();
  });
  app.on("GET", "/v1/intents/*", async (c, next) => {
    if (c.get("role") === "executor") return err(c, 403, "forbidden", EXECUTOR_FORBIDDEN);
    await next();
  });

  app.post(
    "/v1/intents",
    agentBodyLimit(deps.bodyLimitBytes),
    async (c) => {
      const r = await deps.pipeline.decideText(await c.req.text(), c.get("agent"));
      return c.json(r.body, r.status as 200);
    },
  );

  app.get("/v1/intents/:id", async (c) => {
    const id = c.req.param("id");
    const agent = c.get("agent");
    const waitParam = c.req.query("wait");
    let waitS = 0;
    if (waitParam !== undefined) {
      waitS = Number(waitParam);
      if (!Number.isFinite(waitS) || waitS < 0)
        return err(c, 400, "invalid_wait", "wait must be a number of seconds ≥ 0");
      waitS = Math.min(waitS, MAX_WAIT_SECONDS);
    }
    let rec = deps.pipeline.lookup(id, agent);
    if (!rec) return err(c, 404, "not_found", `no intent ${id}`);
    const deadline = Date.now() + waitS * 1000;
    while (deps.pipeline.render(rec).decision === "PENDING" && Date.now() < deadline) {
      await waitForChange(id, Math.min(1000, deadline - Date.now()), c.req.raw.signal);
      if (c.req.raw.signal?.aborted) break;
      rec = deps.pipeline.lookup(id, agent) ?? rec;
    }
    const res = deps.pipeline.render(rec);
    return c.json(res, res.decision === "PENDING" ? 202 : 200);
  });

  registerToolsScreen(app, deps); // POST /v1/tools/screen (./tools-screen.ts)
  registerResults(app, deps); // POST /v1/intents/{id}/result: output redaction (./results.ts)
  deps.extend?.(app);
  return app;
}

/** Resolves when the intent changes in this process, after `ms`, or when the client goes away (the 1 s cap also
 * catches changes made by another process on the same database). */
function waitForChange(id: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      intentChanges.off("changed", onChange);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const onChange = (changed: string) => {
      if (changed === id) done();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    intentChanges.on("changed", onChange);
    signal?.addEventListener("abort", done);
  });
}
