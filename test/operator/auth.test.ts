import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { OperatorAuth } from "../../sidecar/operator/auth.ts";

describe("operator tokens", () => {
  it("name the operator, accept pre-hashed config values, and refuse anything else", () => {
    const hashed = "sha256:" + createHash("sha256").update("bob-secret").digest("hex");
    const auth = new OperatorAuth({ alice: "alice-secret", bob: hashed });
    expect(auth.operatorFor("Bearer alice-secret")).toBe("alice");
    expect(auth.operatorFor("bearer bob-secret")).toBe("bob");
    expect(auth.operatorFor(`Bearer ${hashed}`)).toBeUndefined(); // the hash itself is not a token
    expect(auth.operatorFor("Bearer nope")).toBeUndefined();
    expect(auth.operatorFor("alice-secret")).toBeUndefined();
    expect(auth.operatorFor(undefined)).toBeUndefined();
  });

  it("refuses an operator token that is also an agent token", () => {
    const auth = new OperatorAuth({ alice: "shared", bob: "bob-only" }, { "treasury-bot": "shared" });
    expect(auth.rejected).toEqual(["alice"]);
    expect(auth.operatorFor("Bearer shared")).toBeUndefined();
    expect(auth.operatorFor("Bearer bob-only")).toBe("bob");
  });

  it("with no tokens configured, nobody signs in", () => {
    const auth = new OperatorAuth({});
    expect(auth.configured).toBe(false);
    expect(auth.operatorFor("Bearer anything")).toBeUndefined();
  });
});
