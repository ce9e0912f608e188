// The stored copy of an intent (sidecar/store/redact.ts): credential header names anywhere in the name, credentials
// in an http.request URL, credential-named keys in params and context of every action; the digest stays the real
// intent's, and what is no secret stays readable.
import { describe, expect, it } from "vitest";
import { intentDigest, sha256Digest, type Intent } from "../../protocol/index.ts";
import { isSecretHeader, redactForStorage, redactUrl, storedIntentClaim } from "../../sidecar/store/redact.ts";

describe("redaction of the stored copy", () => {
  it("credential header names, anywhere in the name; safe headers stay readable", () => {
    for (const n of [
      "Authorization",
      "X-Authorization",
      "Authentication",
      "X-Session-Id",
      "Sessionid",
      "X-Passphrase",
      "X-Hub-Signature-256",
      "X-Amz-Sig",
      "Cookie",
      "X-Api-Key",
      "X-CSRF-Token",
      "Client-Secret",
      "X-Credential",
    ])
      expect(isSecretHeader(n, "v"), n).toBe(true);
    for (const n of [
      "Content-Type",
      "Accept",
      "User-Agent",
      "Host",
      "Content-Length",
      "Cache-Control",
      "X-Author",
      "X-Design",
    ])
      expect(isSecretHeader(n, "v"), n).toBe(false);
    expect(isSecretHeader("X-Anything", "Bearer abc")).toBe(true);
  });

  it("URL: the userinfo password and credential-named query or fragment values become sha256 digests", () => {
    expect(redactUrl("https://api.example.com/x?a=1&b=2")).toBeUndefined();
    expect(redactUrl("https://user@api.example.com/x")).toBeUndefined();
    expect(redactUrl("https://svc:pw@api.example.com/x?api_key=K&Token=T&x=1&X-Amz-Signature=S#access_token=F")).toBe(
      `https://svc:${sha256Digest("pw")}@api.example.com/x?api_key=${sha256Digest("K")}&Token=${sha256Digest("T")}` +
        `&x=1&X-Amz-Signature=${sha256Digest("S")}#access_token=${sha256Digest("F")}`,
    );
    for (const name of [
      "key",
      "secret",
      "password",
      "passwd",
      "pwd",
      "auth",
      "sig",
      "signature",
      "session",
      "credential",
      "SessionToken",
    ])
      expect(redactUrl(`https://h/?${name}=v`), name).toBe(`https://h/?${name}=${sha256Digest("v")}`);
  });

  it("params and context of any action: credential-named keys at any depth; numbers and booleans stay", () => {
    const intent = {
      agent: "a",
      action: "tool.call",
      params: {
        tool: "github.create_issue",
        args: { token: "sk_live_1", title: "x", nested: [{ clientSecret: { v: 1 } }], max_tokens: 100, keyword: "k" },
      },
      context: { api_key: "ctx-key", session: { id: "s" }, tenant: "acme" },
    } as Intent & { context: Record<string, unknown> };
    const digest = intentDigest(intent);
    const s = redactForStorage(intent, digest);
    const text = JSON.stringify(s);
    for (const v of ["sk_live_1", "ctx-key", '"s"']) expect(text).not.toContain(v);
    expect(s.params).toMatchObject({
      tool: "github.create_issue",
      args: { token: { redacted: sha256Digest("sk_live_1") }, title: "x", max_tokens: 100, keyword: "k" },
    });
    expect(s.context).toMatchObject({ api_key: { redacted: sha256Digest("ctx-key") }, tenant: "acme" });
    expect(s.redacted).toEqual({
      digest,
      fields: ["params.args.token", "params.args.nested.0.clientSecret", "context.api_key", "context.session"],
    });
    // the claim binds the real intent's digest
    expect(storedIntentClaim(s as never).digest).toBe(digest);
  });

  it("an intent without secrets is stored as it is (no envelope)", () => {
    const intent = { agent: "a", action: "tool.call", params: { tool: "t", args: { q: 1 } }, context: {} } as Intent;
    expect(redactForStorage(intent, "d")).toEqual(intent);
  });
});
