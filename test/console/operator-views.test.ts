// The operator API additions behind the console, without a browser: hold summaries in hold JSON and webhook events,
// deny needs a reason, decision filter validation, and the views' routes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { createOperatorApp, type DecisionFilter } from "../../sidecar/operator/app.ts";
import { OperatorAuth } from "../../sidecar/operator/auth.ts";
import { HoldService } from "../../sidecar/holds/service.ts";
import type { HoldView } from "../../sidecar/holds/types.ts";
import { testSigner } from "../holds/signer.ts";
import { http } from "../sidecar/helpers.ts";

let server: Server;
let base: string;
let dir: string;
let holds: HoldService;
const events: { type: string; hold: HoldView }[] = [];
const filters: DecisionFilter[] = [];
const T = "views-operator-token";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "operator-views-"));
  holds = new HoldService({ db: new Database(join(dir, "state.db")), sign: testSigner().sign, notify: (e) => void events.push(e) });
  const app = createOperatorApp({
    holds,
    auth: new OperatorAuth({ dana: T }),
    reloadPolicy: async () => ({ ok: true, digest: "sha256:00" }),
    recentDecisions: (_limit, filter) => {
      filters.push(filter ?? {});
      return [];
    },
  });
  server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  holds.create({
    intentId: "i-1",
    intent: { agent: "a1", action: "tool.call", params: { tool: "payments.refund", args: { id: "r1", amount: 120 } }, context: {} },
    reasons: [{ block: "tool_calls", rule: "hold", message: "m" }],
    policyDigest: "d",
  });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe("operator API for the console", () => {
  it("puts the summary in hold JSON and in the hold webhook event", async () => {
    const { body } = await http(`${base}/v1/holds`, { token: T });
    expect(body.holds[0].summary).toEqual({
      text: "Call payments.refund with {id: r1, amount: 120}",
      lines: ["Call payments.refund with {id: r1, amount: 120}"],
    });
    expect(events.find((e) => e.type === "hold.pending")!.hold.summary.text).toBe("Call payments.refund with {id: r1, amount: 120}");
  });

  it("refuses a denial without a reason with 400 reason_required; accepts one (or a comment)", async () => {
    const id = holds.list()[0]!.id;
    for (const body of [undefined, {}, { reason: "" }, { reason: "  " }]) {
      const r = await http(`${base}/v1/holds/${id}/deny`, { method: "POST", token: T, ...(body ? { body } : {}) });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: "reason_required" });
    }
    expect(holds.get(id)!.state).toBe("pending");
    const ok = await http(`${base}/v1/holds/${id}/deny`, { token: T, body: { comment: "duplicate" } });
    expect(ok.body).toMatchObject({ state: "denied" });
    expect(ok.body.hold.resolution_note).toBe("duplicate");
    expect(events.find((e) => e.type === "hold.denied")!.hold.summary.text).toContain("payments.refund");
  });

  it("passes decision filters through and validates them", async () => {
    const r = await http(`${base}/v1/decisions?agent=a1&action=evm.*&decision=denied&rule=evm/max_value`, { token: T });
    expect(r.status).toBe(200);
    expect(filters.at(-1)).toEqual({ agent: "a1", action: "evm.*", decision: "DENIED", rule: "evm/max_value" });
    expect((await http(`${base}/v1/decisions?decision=maybe`, { token: T })).body.error).toBe("invalid_decision");
  });

  it("answers 404 for the views when they are not wired, and 401 without a token", async () => {
    expect((await http(`${base}/v1/usage`, { token: T })).status).toBe(404);
    expect((await http(`${base}/v1/policy/status`, { token: T })).status).toBe(404);
    expect((await http(`${base}/v1/intents/i-1/timeline`, { token: T })).status).toBe(404);
    expect((await http(`${base}/v1/usage`)).status).toBe(401);
  });
});
