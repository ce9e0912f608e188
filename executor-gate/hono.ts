// A hono middleware for HTTP executors: the attestation comes in `x-intent-attestation`, the intent is built from
// the request by a mapping the executor supplies, and anything unattested gets 403 {"error":code,"message":...}.
import type { Context, MiddlewareHandler } from "hono";
import { ATTESTATION_HEADER, type AttestationClaims } from "@intent-sidecar/protocol/attestation";
import type { IntentInput } from "./binding.ts";
import { GateError } from "./errors.ts";
import type { Gate } from "./gate.ts";

export interface GateMiddlewareOptions {
  /** Builds the intent this request performs (e.g. from `await c.req.json()` and the route). The gate recomputes its
   * digest, so map exactly the fields the agent declared. Throwing refuses the request. */
  intentFor: (c: Context) => IntentInput | Promise<IntentInput>;
  /** Header carrying the attestation. Default `x-intent-attestation`. */
  header?: string;
}

export type GateVariables = { attestation: AttestationClaims };

/** Verifies and consumes the attestation before the handler runs; the claims are in `c.get("attestation")`. */
export function gateMiddleware(
  gate: Gate,
  opts: GateMiddlewareOptions,
): MiddlewareHandler<{ Variables: GateVariables }> {
  const header = opts.header ?? ATTESTATION_HEADER;
  return async (c, next) => {
    let claims: AttestationClaims;
    try {
      const token = c.req.header(header);
      if (!token) throw new GateError("missing", `no attestation in the ${header} header`);
      let intent: IntentInput;
      try {
        intent = await opts.intentFor(c);
      } catch (e) {
        if (e instanceof GateError) throw e;
        throw new GateError(
          "malformed",
          `could not build the intent from this request: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      claims = await gate.consume(token, intent);
    } catch (e) {
      // Fail closed: a gate error says why; anything else (store or sidecar outage) is still a refusal.
      const body =
        e instanceof GateError
          ? e.toJSON()
          : { error: "unavailable", message: "the gate could not verify the attestation" };
      return c.json(body, 403);
    }
    c.set("attestation", claims);
    await next();
  };
}
