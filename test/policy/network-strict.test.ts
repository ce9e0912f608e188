// Rego errors fail closed in the decision path (SPEC section 6, "class 6"): the network block evaluates with strict
// builtin errors, so a deny rule whose builtin fails (`to_number(" 5000")`) denies with a reason naming the module,
// the rule and the error, instead of being silently undefined while `allow` is true. Loaded through the sidecar's real
// policy loader; decided as an `http.request` intent and by the proxy.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { compile } from "../../rego/index.ts";
import { toJSON } from "../../rego/value.ts";
import { startProxy, CertificateAuthority, type ProxyServer } from "../../proxy/index.ts";
import { httpViaProxy, startUpstream, UPSTREAM_ADDR, type Upstream } from "../proxy/helpers.ts";
import { decide, intent, tempDir } from "./helpers.ts";

const EGRESS = `package nemoclaw.network

default allow := false

allow if input.request.host == "pay.example.com"

deny contains "too much" if {
	to_number(input.request.body.amount) > 1000
}
`;

let t: Awaited<ReturnType<typeof tempDir>>;
let policy: LoadedPolicy;

beforeAll(async () => {
  t = await tempDir();
  await t.write("network/egress.rego", EGRESS);
  await t.write("network/data.json", "{}");
  await t.write(
    "policy.yaml",
    [
      "version: 1",
      "network:",
      "  package: nemoclaw.network",
      '  modules: ["network/*.rego"]',
      '  data: ["network/data.json"]',
      `  allow_addresses: ["${UPSTREAM_ADDR}/32"]`,
      "  resolve:",
      `    pay.example.com: "${UPSTREAM_ADDR}"`,
      "",
    ].join("\n"),
  );
  policy = await loadPolicy(`${t.dir}/policy.yaml`);
});

afterAll(async () => {
  await t?.cleanup();
});

const STRICT_REASON =
  /^network rules failed: \S*egress\.rego:8: rule data\.nemoclaw\.network\.deny: eval_(builtin|type)_error: to_number: .+ \(strict mode: builtin errors deny\)$/;

const pay = (amount: unknown) =>
  intent({
    action: "http.request",
    params: {
      method: "POST",
      url: "https://pay.example.com/v1/transfers",
      headers: { "content-type": "application/json" },
      body: amount === undefined ? {} : { amount },
    },
  });

/** The section 6 input the proxy builds for a JSON body `{amount}` (the block's decide, shared with the proxy). */
const proxyInput = (amount: unknown) => ({
  request: {
    method: "POST",
    host: "pay.example.com",
    port: 443,
    path: "/v1/transfers",
    query: {},
    headers: { "content-type": "application/json" },
    body: amount === undefined ? {} : { amount },
  },
  source: { binary: "node", pid: 1, sandbox_id: null },
  attestation: null,
  timestamp: "2026-03-20T14:30:00Z",
});

describe("http.request intents", () => {
  it("are APPROVED for a plain amount within the limit and DENIED above it", async () => {
    expect((await decide(policy, pay(999))).effect).toBe("allow");
    expect((await decide(policy, pay("999"))).effect).toBe("allow");
    const r = await decide(policy, pay(5000));
    expect(r).toEqual({ effect: "deny", reasons: [{ block: "network", rule: "rules", message: "too much" }] });
  });

  it('are DENIED for " 5000": the builtin error names the module, rule and error', async () => {
    const r = await decide(policy, pay(" 5000"));
    expect(r.effect).toBe("deny");
    expect(r.reasons).toHaveLength(1);
    expect(r.reasons[0]!.block).toBe("network");
    expect(r.reasons[0]!.message).toMatch(STRICT_REASON);
    expect(r.reasons[0]!.message).toContain('to_number: strconv.ParseFloat: parsing " 5000": invalid syntax');
  });

  it('are DENIED for ["5000"] with OPA\'s operand type error', async () => {
    const r = await decide(policy, pay(["5000"]));
    expect(r.effect).toBe("deny");
    expect(r.reasons[0]!.message).toMatch(STRICT_REASON);
    expect(r.reasons[0]!.message).toContain(
      "eval_type_error: to_number: operand 1 must be one of {null, boolean, number, string} but got array",
    );
  });
});

describe("the proxy", () => {
  let up: Upstream;
  let proxy: ProxyServer;
  beforeAll(async () => {
    up = await startUpstream({ plain: true });
    const ca = await CertificateAuthority.ephemeral();
    proxy = await startProxy({ port: 0, ca, policy: () => policy.network!.proxy });
  });
  afterAll(async () => {
    await proxy?.close();
    await up?.close();
  });

  const post = (body: string) =>
    httpViaProxy(proxy, `http://pay.example.com:${up.port}/v1/transfers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });

  it("forwards a plain amount within the limit", async () => {
    const r = await post(JSON.stringify({ amount: 10 }));
    expect(r.status).toBe(200);
    expect(up.seen.at(-1)!.body).toBe('{"amount":10}');
  });

  it('answers 403 for " 5000" and ["5000"] with the module and error, and never forwards them', async () => {
    const before = up.seen.length;
    for (const amount of [" 5000", ["5000"]]) {
      const r = await post(JSON.stringify({ amount }));
      expect(r.status).toBe(403);
      const body = JSON.parse(r.body) as { error: string; reasons: { block: string; message: string }[] };
      expect(body.error).toBe("forbidden");
      expect(body.reasons.map((x) => x.message)).toEqual([expect.stringMatching(STRICT_REASON)]);
    }
    expect(up.seen.length).toBe(before);
  });

  it("remembers an error denial like any other answer (the decision cache never turns it into allow)", async () => {
    for (let i = 0; i < 3; i++) expect((await post('{"amount":" 5000"}')).status).toBe(403);
  });
});

describe("property: a malformed amount is never approved", () => {
  // Oracle: OPA's to_number in the default (non-strict) engine. Where it is undefined the call failed, and the strict
  // decision must be a denial; where it is a number the decision is allow exactly when it is at most 1000. OPA's
  // to_number converts null to 0 and booleans to 0/1 (not errors), so those follow the number rule.
  const oracle = compile([{ path: "oracle.rego", source: "package o\n\nv := to_number(input.x)\n" }]);
  const converted = (x: unknown): number | undefined => {
    const v = oracle.evalPath(["o", "v"], { input: { x } });
    return v === undefined ? undefined : Number(toJSON(v));
  };

  const numeric = fc.oneof(
    fc.integer({ min: -5000, max: 5000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
    fc.constantFrom(1000, 1001, 1000.0001, 999.999, 0, -0),
  );
  const numberText = numeric.map((n) => String(n));
  const ws = fc.constantFrom(" ", "\t", "\n", "\r", "\u00a0", "\u2003", "\ufeff");
  const malformedText = fc.oneof(
    fc.tuple(ws, numberText).map(([w, s]) => w + s),
    fc.tuple(numberText, ws).map(([s, w]) => s + w),
    fc.tuple(ws, numberText, ws).map(([a, s, b]) => a + s + b),
    fc.integer({ min: 0, max: 1 << 20 }).map((n) => "0x" + n.toString(16)),
    fc.integer({ min: 0, max: 1 << 20 }).map((n) => "0X" + n.toString(16).toUpperCase()),
    fc.integer({ min: 0, max: 1 << 20 }).map((n) => "0o" + n.toString(8)),
    fc.integer({ min: 0, max: 1 << 20 }).map((n) => "0b" + n.toString(2)),
    fc.constantFrom(
      "1_000",
      "5,000",
      "5 000",
      "$5000",
      "5000$",
      "5000USD",
      "１０００",
      "٥٠٠٠",
      "5e",
      "e5",
      "--5",
      "+-5",
    ),
    fc.constantFrom("Infinity", "-Infinity", "inf", "NaN", "nan", "1e400", "-1e400", "", " ", "null", "true"),
    fc.tuple(numeric, fc.integer({ min: -400, max: 400 })).map(([m, e]) => `${m}e${e}`),
    fc.tuple(numeric, fc.integer({ min: -400, max: 400 })).map(([m, e]) => `${m}E+${e}`),
    fc.string(),
  );
  const container = fc.oneof(
    fc.array(fc.oneof(numeric, numberText, malformedText), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(numeric, numberText), { maxKeys: 3 }),
    fc.constant([]),
    fc.constant({}),
  );
  const amount = fc.oneof(numeric, numberText, malformedText, container, fc.constantFrom(null, true, false));

  it("the strict decision matches the oracle: errors deny, numbers allow only up to 1000", async () => {
    const block = policy.network!;
    await fc.assert(
      fc.asyncProperty(amount, async (a) => {
        const d = await block.decide(proxyInput(a));
        const n = converted(a);
        if (n === undefined) {
          expect(d.allow).toBe(false);
          expect(d.reasons).toEqual([expect.stringMatching(STRICT_REASON)]);
        } else {
          expect(d.allow).toBe(n <= 1000);
          if (!d.allow) expect(d.reasons).toEqual(["too much"]);
        }
      }),
      { numRuns: 600 },
    );
  });

  it("never approves whitespace, containers, hex or other non-numeric text", async () => {
    const block = policy.network!;
    await fc.assert(
      fc.asyncProperty(fc.oneof(malformedText, container), async (a) => {
        const plain = typeof a === "string" && /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(a);
        fc.pre(!plain);
        const d = await block.decide(proxyInput(a));
        expect(d.allow).toBe(false);
      }),
      { numRuns: 600 },
    );
  });

  it("approves exactly the plain numbers up to 1000", async () => {
    const block = policy.network!;
    await fc.assert(
      fc.asyncProperty(numeric, async (n) => {
        const d = await block.decide(proxyInput(n));
        expect(d.allow).toBe(n <= 1000);
      }),
      { numRuns: 300 },
    );
  });
});
