// The operator app on its own listener over real HTTP: input validation, filters, errors, console files.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { createOperatorApp } from "../../sidecar/operator/app.ts";
import { OperatorAuth } from "../../sidecar/operator/auth.ts";
import { HoldService } from "../../sidecar/holds/service.ts";
import { testSigner } from "../holds/signer.ts";
import { http } from "../sidecar/helpers.ts";

let server: Server;
let base: string;
let dir: string;
let holds: HoldService;
let reloads = 0;
const T = "Bearer-less-token-x";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "operator-api-"));
  holds = new HoldService({ db: new Database(join(dir, "state.db")), sign: testSigner().sign });
  const app = createOperatorApp({
    holds,
    auth: new OperatorAuth({ carol: T }),
    reloadPolicy: async () => (++reloads === 1 ? { ok: true, digest: "sha256:00" } : { ok: false, error: "policy.yaml:3:5: bad" }),
    recentDecisions: () => [],
  });
  server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const intent = (agent: string) => ({ agent, action: "tool.call", params: { tool: "payments.pay", args: {} }, context: {} });
  holds.create({ intentId: "i-1", intent: intent("a1"), reasons: [{ block: "tool_calls", rule: "hold", message: "m" }], policyDigest: "d" });
  holds.create({ intentId: "i-2", intent: intent("a2"), reasons: [{ block: "custom", rule: "big", message: "m" }], policyDigest: "d" });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("operator API", () => {
  it("filters holds by agent and rule, and validates state and limit", async () => {
    const byAgent = await http(`${base}/v1/holds?agent=a2`, { token: T });
    expect(byAgent.body.holds.map((h: { intent_id: string }) => h.intent_id)).toEqual(["i-2"]);
    const byRule = await http(`${base}/v1/holds?rule=hold&state=pending`, { token: T });
    expect(byRule.body.holds.map((h: { intent_id: string }) => h.intent_id)).toEqual(["i-1"]);
    expect((await http(`${base}/v1/holds?state=open`, { token: T })).body.error).toBe("invalid_state");
    expect((await http(`${base}/v1/holds?limit=0`, { token: T })).status).toBe(400);
    expect((await http(`${base}/v1/decisions?limit=x`, { token: T })).status).toBe(400);
  });

  it("answers 404 for an unknown hold and 400 for a malformed body or comment", async () => {
    const missing = await http(`${base}/v1/holds/hold_x/approve`, { body: {}, token: T });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe("not_found");
    const id = holds.list({ agent: "a1" })[0]!.id;
    expect((await http(`${base}/v1/holds/${id}/approve`, { raw: "{nope", token: T })).body.error).toBe("invalid_body");
    expect((await http(`${base}/v1/holds/${id}/approve`, { body: { comment: 7 }, token: T })).status).toBe(400);
    expect((await http(`${base}/v1/holds/${id}/deny`, { body: { reason: "x".repeat(2001) }, token: T })).status).toBe(400);
    expect(holds.get(id)!.state).toBe("pending"); // nothing changed
    const ok = await http(`${base}/v1/holds/${id}/approve`, { method: "POST", token: T }); // an empty body is fine
    expect(ok.body).toMatchObject({ state: "approved", approvals: 1, approvals_required: 1 });
  });

  it("reports a failed policy reload with 422 and the loader's message", async () => {
    expect((await http(`${base}/v1/policy/reload`, { method: "POST", token: T })).body).toEqual({ ok: true, digest: "sha256:00" });
    const bad = await http(`${base}/v1/policy/reload`, { method: "POST", token: T });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toContain("policy.yaml:3:5");
  });

  it("serves the console without a build, with a strict CSP, and redirects / to it", async () => {
    const root = await fetch(`${base}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/");
    const page = await fetch(`${base}/console/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('src="/console/app.js"');
    const js = await fetch(`${base}/console/app.js`);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await fetch(`${base}/console/../package.json`)).status).toBe(404);
  });
});
