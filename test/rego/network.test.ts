// The reference network rules (../shared/spec/network): their own tests pass, and evaluation gives OPA's answers.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compile, runTests } from "../../rego/index.ts";
import { parseJSON, toJSON } from "../../rego/value.ts";

import { sharedPath } from "../shared-fixtures.ts";

const dir = sharedPath("the reference network rules suite", "spec", "network");

const base = {
  request: { method: "POST", host: "api.openai.com", port: 443, path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: { model: "gpt-4" } },
  source: { binary: "python3", pid: 1234, sandbox_id: "agent-prod-01" },
  attestation: null,
  timestamp: "2026-03-20T14:30:00Z",
};
function input(over: { request?: object; source?: object; timestamp?: string }) {
  return { ...base, ...over, request: { ...base.request, ...over.request }, source: { ...base.source, ...over.source } };
}

describe.skipIf(!dir)("reference network rules", () => {
  // collected even when skipped: read nothing then
  const read = (f: string) => dir ? readFileSync(path.join(dir, f), "utf8") : f.endsWith(".json") ? "{}" : "package none";
  const policy = compile([
    { path: "egress.rego", source: read("egress.rego") },
    { path: "egress_test.rego", source: read("egress_test.rego") },
  ]);
  const data = parseJSON(read("data.json"));
  const decide = (i: unknown) => {
    const d = policy.decide(["nemoclaw", "network"], { input: i, data });
    return { allow: toJSON(d.allow!), deny: toJSON(d.deny!), deny_reason: toJSON(d.deny_reason!) };
  };

  it("passes its own test_* rules", () => {
    const results = runTests(policy, { data });
    expect(results.map((r) => r.status)).toEqual(["PASS", "PASS", "PASS", "PASS", "PASS", "PASS"]);
  });

  it("gives OPA's answers for the SPEC section 6 input and variations", () => {
    expect(decide(base)).toEqual({ allow: false, deny: [], deny_reason: [] });
    expect(decide(input({ source: { binary: "node" } })).allow).toBe(true);
    expect(decide(input({ request: { host: "api.github.com", method: "GET" } })).allow).toBe(true);
    expect(decide(input({ request: { host: "svc.internal.company.com" } })).allow).toBe(true);
    expect(decide(input({ source: { binary: "curl" } })).deny_reason).toEqual(["curl may not make network requests"]);
    expect(decide(input({ request: { body: { text: "card 4111 1111 1111 1111 and 123-45-6789" } } })).deny).toEqual([
      "request body contains a card-like number",
      "request body contains an SSN-like number",
    ]);
    const prod = { request: { host: "api.production.company.com" } };
    expect(decide(input({ ...prod, timestamp: "2026-03-20T09:15:00Z" })).allow).toBe(true);
    expect(decide(input({ ...prod, timestamp: "2026-03-20T22:00:00Z" }))).toEqual({
      allow: false,
      deny: [],
      deny_reason: ["production access is limited to 08:00-18:00 UTC"],
    });
  });

  it("answers a prepared query with OPA's result shape", () => {
    const rows = policy.prepare("data.nemoclaw.network.allow").eval({ input: input({ source: { binary: "node" } }), data });
    expect(rows.map((r) => r.expressions.map(toJSON))).toEqual([[true]]);
  });
});
