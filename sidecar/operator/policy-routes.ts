// Operator API routes for the Rego layer's day-two operations (docs/operator-guide.md "Policy operations"):
//   GET /v1/policy                   the active policy: digest, files with digests and change times, external data,
//                                    the last reload error, what is pending a settle
//   PUT /v1/policy/data[/{path}]     replace a subtree of the network rules' `data` (JSON body), audited, persisted
// (POST /v1/policy/reload is in app.ts; its answer carries what changed.) Registered on the operator app after its
// authentication middleware, so every route needs an operator token.
import type { Context, Hono } from "hono";
import type { PolicyManager } from "../policy/manager.ts";
import { DataOverlayError, parseDataPath } from "../policy/data-overlay.ts";

export interface PolicyRouteDeps {
  manager: Pick<PolicyManager, "status" | "updateData">;
  audit?(event: { type: string; [k: string]: unknown }): void;
  /** largest accepted data body, bytes (default 8 MiB) */
  maxDataBytes?: number;
}

function err(c: Context, status: number, error: string, message: string) {
  return c.json({ error, message }, status as 400);
}

export function registerPolicyRoutes(app: Hono<any>, deps: PolicyRouteDeps): void {
  app.get("/v1/policy", async (c) => {
    const s = await deps.manager.status();
    if (!s) return err(c, 404, "not_found", "no policy is loaded");
    return c.json(s);
  });

  const putData = async (c: Context, rawPath: string) => {
    let path: string[];
    try {
      path = parseDataPath(rawPath);
    } catch (e) {
      return err(c, 400, "invalid_path", (e as Error).message);
    }
    const max = deps.maxDataBytes ?? 8 * 1024 * 1024;
    const text = await c.req.text();
    if (Buffer.byteLength(text) > max) return err(c, 413, "too_large", `the data must be at most ${max} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return err(c, 400, "invalid_body", `the body must be the JSON value to place at the path: ${(e as Error).message}`);
    }
    const operator = String(c.get("operator") ?? "");
    const r = await deps.manager.updateData(path, value, operator);
    const where = path.length ? "data." + path.join(".") : "data";
    if (!r.ok) {
      deps.audit?.({ type: "policy.data_update_refused", operator, path: where, error: r.error.message });
      const code = r.error instanceof DataOverlayError ? r.error.code : "invalid_data";
      return err(c, code === "invalid_path" ? 400 : 422, code, r.error.message);
    }
    deps.audit?.({
      type: "policy.data_updated",
      operator,
      path: r.path,
      value_digest: r.value_digest,
      digest_before: r.digest_before,
      digest_after: r.digest_after,
    });
    return c.json(r);
  };
  app.put("/v1/policy/data", (c) => putData(c, ""));
  app.put("/v1/policy/data/:path{.+}", (c) => putData(c, c.req.param("path")));
}
