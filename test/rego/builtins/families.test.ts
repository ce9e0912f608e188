import { describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { builtins } from "../../../rego/builtins/index.ts";
import { fromJSON, toJSON } from "../../../rego/value.ts";
import { call, callErr, callJ, ctx } from "./helpers.ts";

describe("io.jwt", () => {
  const hsKey = { kty: "oct", k: Buffer.from("secret").toString("base64url") };
  it("signs HS256 tokens that verify and decode (RFC 7515 A.1 vector)", () => {
    const tok = callJ(
      "io.jwt.encode_sign",
      { alg: "HS256", typ: "JWT" },
      {
        aud: ["bob", "saul"],
        exp: 1300819380,
        "http://example.com/is_root": true,
        iss: "joe",
        privateParams: { private_one: "one", private_two: "two" },
      },
      { k: "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow", kty: "oct" },
    );
    expect(tok).toBe(
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOlsiYm9iIiwic2F1bCJdLCJleHAiOjEzMDA4MTkzODAsImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlLCJpc3MiOiJqb2UiLCJwcml2YXRlUGFyYW1zIjp7InByaXZhdGVfb25lIjoib25lIiwicHJpdmF0ZV90d28iOiJ0d28ifX0.-Or2eol8bzly-Ztb0v7_7UkcKBkN_aNNpK33HK0MeOY",
    );
    const t2 = callJ("io.jwt.encode_sign", { alg: "HS256" }, { sub: "a" }, hsKey) as string;
    expect(callJ("io.jwt.verify_hs256", t2, "secret")).toBe(true);
    expect(callJ("io.jwt.verify_hs256", t2, "wrong")).toBe(false);
    expect((callJ("io.jwt.decode", t2) as unknown[])[1]).toEqual({ sub: "a" });
  });
  it("verifies RS256 and ES256 with PEM keys and enforces exp in decode_verify", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = rsa.privateKey.export({ format: "jwk" });
    const pem = rsa.publicKey.export({ format: "pem", type: "spki" }).toString();
    const tok = callJ("io.jwt.encode_sign", { alg: "RS256" }, { exp: 2000000000 }, jwk) as string;
    expect(callJ("io.jwt.verify_rs256", tok, pem)).toBe(true);
    expect((callJ("io.jwt.decode_verify", tok, { cert: pem, time: 1999999999 * 1e9 }) as unknown[])[0]).toBe(true);
    expect((callJ("io.jwt.decode_verify", tok, { cert: pem, time: 2000000001 * 1e9 }) as unknown[])[0]).toBe(false);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const etok = callJ(
      "io.jwt.encode_sign",
      { alg: "ES256" },
      { a: 1 },
      ec.privateKey.export({ format: "jwk" }),
    ) as string;
    expect(callJ("io.jwt.verify_es256", etok, ec.publicKey.export({ format: "pem", type: "spki" }).toString())).toBe(
      true,
    );
  });
  it("reports OPA's structural errors", () => {
    expect(callErr("io.jwt.decode", "a.b").message).toBe("io.jwt.decode: encoded JWT must have 3 sections, found 2");
    expect(callErr("io.jwt.encode_sign_raw", "e", "{}", JSON.stringify(hsKey)).message).toContain(
      `missing or invalid 'alg' header`,
    );
  });
});

describe("graphql", () => {
  it("parses schemas into gqlparser-shaped ASTs", () => {
    expect(callJ("graphql.parse_schema", "type Hello { world: String }")).toEqual({
      Definitions: [
        {
          BuiltIn: false,
          Description: "",
          Fields: [{ Description: "", Name: "world", Type: { NamedType: "String", NonNull: false } }],
          Kind: "OBJECT",
          Name: "Hello",
        },
      ],
    });
    expect(callErr("graphql.parse_schema", "union Hello = Wo || Rld").message).toBe(
      "graphql.parse_schema: Expected Name, found | in GraphQL string at location 1:19",
    );
  });
  it("validates queries against schemas", () => {
    const schema = "type Query { hero(id: ID!): Hero } type Hero { name: String }";
    expect(callJ("graphql.is_valid", "{ hero(id: 1) { name } }", schema)).toBe(true);
    expect(callJ("graphql.is_valid", "{ hero { name } }", schema)).toBe(false);
    expect(callJ("graphql.schema_is_valid", "type A implements Missing { x: Int }")).toBe(false);
  });
});

describe("templates, schemas, AWS signing, network refusal", () => {
  it("renders Go templates", () => {
    expect(
      callJ("strings.render_template", "{{range $i, $n := .names}}{{if $i}},{{end}}hi {{$n}}{{end}}", {
        names: ["a", "b"],
      }),
    ).toBe("hi a,hi b");
    expect(
      callJ("strings.render_template", "{{if eq .x 1}}one{{else if eq .x 2}}two{{else}}many{{end}} {{.missing}}", {
        x: 2,
      }),
    ).toBe("two <undefined>");
    expect(callJ("strings.render_template", `{{printf "%03d" .n}}`, { n: 7 })).toBe("007");
  });
  it("matches JSON schemas with gojsonschema messages", () => {
    expect(callJ("json.match_schema", { id: "x" }, { properties: { id: { type: "integer" } } })).toEqual([
      false,
      [
        {
          desc: "Invalid type. Expected: integer, given: string",
          error: "id: Invalid type. Expected: integer, given: string",
          field: "id",
          type: "invalid_type",
        },
      ],
    ]);
    expect((callJ("json.verify_schema", { type: "nope" }) as unknown[])[0]).toBe(false);
  });
  it("signs AWS requests with SigV4", () => {
    const cfg = {
      aws_access_key: "MYAWSACCESSKEYGOESHERE",
      aws_secret_access_key: "MYAWSSECRETACCESSKEYGOESHERE",
      aws_service: "s3",
      aws_region: "us-east-1",
    };
    const out = callJ(
      "providers.aws.sign_req",
      { method: "get", url: "http://example.com" },
      cfg,
      1451311705000000000n,
    ) as { headers: Record<string, string> };
    expect(out.headers.Authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=MYAWSACCESSKEYGOESHERE/20151228/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=0047a7016c81e5c7f29cd522f97e911e04fc472fced0aee7916cbc287ad6c8e3",
    );
  });
  it("refuses network builtins with a clear error", () => {
    const e = callErr("http.send", { method: "get", url: "https://example.com" });
    expect(e.code).toBe("eval_builtin_error");
    expect(e.message).toBe("http.send: not available in intent-sidecar (no network from policy evaluation)");
    expect(callErr("http.send", { url: "x" }).message).toContain('missing required request parameters(s): {"method"}');
    expect(callJ("net.lookup_ip_addr", "10.0.0.1")).toEqual(["10.0.0.1"]);
    expect(callErr("net.lookup_ip_addr", "example.com").message).toContain("not available");
  });
  it("prints each argument's values through the context sink", () => {
    const c = ctx();
    const def = builtins.get("print")!;
    if (def.relation) throw new Error("print is a function");
    def.fn([fromJSON("x"), call("json.unmarshal", "[1]")!], c);
    expect(c.lines).toEqual(["x [1]"]);
  });
  it("keeps rand.intn stable within one query", () => {
    const c = ctx();
    const def = builtins.get("rand.intn")!;
    if (def.relation) throw new Error("function");
    const a = def.fn(["k", 1000], c);
    expect(def.fn(["k", 1000], c)).toBe(a);
    expect(toJSON(a!)).toBeLessThan(1000);
  });
});

describe("rego.parse_module", () => {
  it("returns OPA's AST shape for the package and imports", () => {
    const m = callJ("rego.parse_module", "x.rego", "package foo.bar\n\nimport data.a\n\np if { a = true }\n") as Record<
      string,
      unknown
    >;
    expect(m.package).toEqual({
      path: [
        { type: "var", value: "data" },
        { type: "string", value: "foo" },
        { type: "string", value: "bar" },
      ],
    });
    expect((m.rules as unknown[]).length).toBe(1);
    expect(callErr("rego.parse_module", "x.rego", "package foo.").message).toContain("rego_parse_error");
  });
});
