// The intent's optional `cost`: exact decimal strings only, a currency or unit code, and bound by the digest.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { intentDigest, parseIntent } from "../../protocol/index.ts";

const base = { agent: "bot", action: "llm.complete", params: { model: "m" } };

describe("intent cost", () => {
  it("accepts exact decimal strings and keeps them as written", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 999_999_999 }),
        fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
        fc.constantFrom("USD", "EUR", "TOKENS", "GPU_SECONDS"),
        (int, frac, currency) => {
          const amount = frac === undefined ? String(int) : `${int}.${frac}`;
          const r = parseIntent({ ...base, cost: { amount, currency } });
          expect(r.ok).toBe(true);
          if (r.ok) expect(r.intent.cost).toEqual({ amount, currency });
        },
      ),
    );
  });

  it.each([
    [{ amount: 0.42, currency: "USD" }, "cost.amount", "decimal string"],
    [{ amount: "1e3", currency: "USD" }, "cost.amount", "decimal string"],
    [{ amount: "-1", currency: "USD" }, "cost.amount", "non-negative"],
    [{ amount: "01.5", currency: "USD" }, "cost.amount", "decimal string"],
    [{ amount: "0.1234567", currency: "USD" }, "cost.amount", "6 decimals"],
    [{ amount: "1000000000", currency: "USD" }, "cost.amount", "9 integer digits"],
    [{ amount: "1.", currency: "USD" }, "cost.amount", "decimal string"],
    [{ amount: "1", currency: "usd" }, "cost.currency", "upper-case"],
    [{ amount: "1" }, "cost.currency", "is required"],
    [{ amount: "1", currency: "USD", note: "x" }, "cost", "unknown field"],
  ])("refuses %j naming %s", (cost, path, words) => {
    const r = parseIntent({ ...base, cost });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const issue = r.issues.find((i) => i.path === path);
      expect(issue?.message).toContain(words);
    }
  });

  it("binds the cost in the digest, and leaves the digest of cost-free intents as it was", () => {
    const plain = intentDigest(base);
    const a = intentDigest({ ...base, cost: { amount: "0.42", currency: "USD" } });
    const b = intentDigest({ ...base, cost: { amount: "0.43", currency: "USD" } });
    const c = intentDigest({ ...base, cost: { amount: "0.42", currency: "EUR" } });
    expect(new Set([plain, a, b, c]).size).toBe(4);
    // the historical form: {agent, action, params, context}
    expect(intentDigest({ ...base, context: {} })).toBe(plain);
  });
});
