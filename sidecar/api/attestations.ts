// Executor-facing routes on the agent listener (SPEC section 7 / issue 5):
//   POST /v1/attestations/{jti}/redeem  marks an attestation used, atomically; answers whether this caller was first.
//   POST /v1/intents/{id}/receipt        records what actually ran (outcome, tx hash or error) and audits it.
// Mounted through the agent app's `extend` hook, so the agent listener's bearer-token auth applies to both.
// Both are bound to the attestation: redemption carries it in the body (`{"attestation":"<JWS>"}`), a receipt in
// the `x-intent-attestation` header; the sidecar verifies its own signature and that the jti is the intent in the
// path before anything else, so nobody can burn another executor's attestation, pre-empt its receipt, or learn an
// intent's decision by guessing its id. Roles: executor tokens (`executor_tokens`, INTENT_SIDECAR_EXECUTOR_TOKENS);
// while none is configured, redemption still takes agent tokens (deprecated; bound to the attestation all the
// same), receipts never do (dev mode: no token needed). Tokens and attestations are never stored or logged.
import { z } from "zod";
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { KeyObject } from "node:crypto";
import { ATTESTATION_HEADER, DEFAULT_ISSUER, type AttestationClaims } from "../../protocol/index.ts";
import { GateError } from "../../executor-gate/errors.ts";
import { importJwks, type Jwk, type KeySource } from "../../executor-gate/jwks.ts";
import { MAX_CLOCK_TOLERANCE_SECONDS, verifyToken } from "../../executor-gate/token.ts";
import { appendAudit, registerMigration, type Db } from "../store/index.ts";
import type { AgentEnv } from "./agent.ts";

registerMigration({
  id: "gate/001-redemptions-receipts",
  up(db) {
    db.exec(`
      CREATE TABLE attestation_redemptions (
        jti         TEXT PRIMARY KEY,      -- the intent id; one row = the attestation is used
        aud         TEXT NOT NULL,
        exp         INTEGER NOT NULL,
        redeemed_at TEXT NOT NULL,
        redeemed_by TEXT                   -- the agent-listener token name of the first redeemer (null in dev mode)
      ) WITHOUT ROWID;
      CREATE TABLE execution_receipts (
        intent_id   TEXT PRIMARY KEY,
        outcome     TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
        tx_hash     TEXT,
        error       TEXT,
        reported_by TEXT,
        recorded_at TEXT NOT NULL
      ) WITHOUT ROWID;
    `);
  },
});

export interface AttestationRoutesDeps {
  db: Db;
  /** The sidecar's published key set (current and recently retired keys), e.g. `() => keys.jwks()`. */
  jwks: () => { keys: readonly object[] };
  /** Fleet mode: redemption decided in the shared store (one winner across every sidecar), and a hook for verifiers
   * that met an unknown kid (the fleet key set is refreshed). Absent: this sidecar's SQLite. */
  redemptions?: { redeem(claims: AttestationClaims, by: string | undefined, at: Date): Promise<{ first: boolean; redeemed_at: string }> };
  refreshKeys?: () => Promise<void>;
  /** The sidecar id that signs attestations (`iss`). Default `intent-sidecar`. */
  issuer?: string;
  now?: () => Date;
  /** Hears a refused replay and an attestation the sidecar did not sign or
   * that is not for this intent (forgery): the SIEM exports (sidecar/exports/). Ids and gate codes only. */
  onDetection?: (d: { kind: "replay" | "forgery"; rule: string; source: "redeem"; intent_id: string | null; decision: string; time: number }) => void;
}

type Env = AgentEnv;

/** Gate codes that mean the attestation is not one the sidecar issued for this intent (reported as forgery). */
const FORGERY_CODES: ReadonlySet<string> = new Set(["bad_signature", "unknown_key", "malformed", "wrong_issuer"]);

const receiptBody = z
  .object({
    outcome: z.enum(["succeeded", "failed"], { error: 'must be "succeeded" or "failed"' }),
    tx_hash: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be a 0x-prefixed 32-byte hex hash")
      .optional(),
    error: z.string().max(1000, "must be at most 1000 characters").optional(),
  })
  .strict();

const MAX_BODY_BYTES = 64 * 1024;
/** A receipt follows the execution, which may end after the attestation expired: its `exp` is checked with this
 * much grace (the signature and the jti binding are checked as always). */
const RECEIPT_GRACE_SECONDS = 3600;

/** Keys by kid from the sidecar's own JWKS; re-read when a kid is unknown (after `keys rotate`). */
function ownKeys(jwks: AttestationRoutesDeps["jwks"]): KeySource {
  let cache = new Map<string, KeyObject>();
  return {
    keyFor(kid) {
      let k = cache.get(kid);
      if (!k) {
        cache = importJwks(jwks().keys as Jwk[]);
        k = cache.get(kid);
      }
      if (!k) throw new GateError("unknown_key", `no sidecar key has kid "${kid}"`);
      return k;
    },
    kids: () => [...cache.keys()],
  };
}

/** Refuses oversized bodies while they stream in, before anything is buffered. */
const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => c.json({ error: "body_too_large", message: `the body exceeds ${MAX_BODY_BYTES} bytes` }, 413),
});

async function readJson(c: Context): Promise<{ ok: true; body: unknown } | { ok: false; res: Response }> {
  const text = await c.req.text();
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, res: c.json({ error: "invalid_json", message: "the body is not valid JSON" }, 400) };
  }
}

/** Who may use the executor routes: executor tokens. While no executor token is configured: dev mode (no token),
 * and agent tokens to redeem (the pre-executor-role behaviour, kept because redemption is bound to the attestation
 * it carries). Returns the refusal, or undefined. */
function refuseRole(c: Context<Env>, what: "redeem" | "receipt"): Response | undefined {
  const role = c.get("role");
  if (role === "executor") return undefined;
  if (c.get("executorsConfigured")) return forbidden(c, what);
  if (role === "dev" || what === "redeem") return undefined; // dev mode; or the pre-executor-role redemption
  return forbidden(c, what);
}

function forbidden(c: Context<Env>, what: "redeem" | "receipt"): Response {
  return c.json(
    {
      error: "forbidden",
      message:
        what === "receipt"
          ? "receipts need an executor token (executor_tokens / INTENT_SIDECAR_EXECUTOR_TOKENS); agent tokens cannot post them"
          : "redemption needs an executor token (executor_tokens / INTENT_SIDECAR_EXECUTOR_TOKENS); agent tokens cannot redeem",
    },
    403,
  );
}

/** Adds the redeem and receipt routes to the agent app: `createAgentApp({ ..., extend: attestationRoutes(deps) })`. */
export function attestationRoutes(deps: AttestationRoutesDeps): (app: Hono<Env>) => void {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const keys = ownKeys(deps.jwks);
  /** Verifies; in fleet mode a kid nobody here knows yet (a sidecar that joined since the last refresh) makes the key
   * set be re-read once before the attestation is refused. */
  const verify = async (token: unknown, opts: typeof check): Promise<AttestationClaims> => {
    try {
      return await verifyToken(token, keys, opts);
    } catch (e) {
      if (!(e instanceof GateError) || e.code !== "unknown_key" || !deps.refreshKeys) throw e;
      await deps.refreshKeys().catch(() => undefined);
      return verifyToken(token, keys, opts);
    }
  };
  const check = {
    issuer: deps.issuer ?? DEFAULT_ISSUER,
    audience: null, // executors and the proxy both redeem here
    clockToleranceSeconds: MAX_CLOCK_TOLERANCE_SECONDS,
    now: () => now().getTime(),
  };

  const insertRedemption = db.prepare<[string, string, number, string, string | null]>(
    "INSERT INTO attestation_redemptions (jti, aud, exp, redeemed_at, redeemed_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT(jti) DO NOTHING",
  );
  const getRedemption = db.prepare<[string], { redeemed_at: string }>(
    "SELECT redeemed_at FROM attestation_redemptions WHERE jti = ?",
  );
  const getIntent = db.prepare<[string], { decision: string }>("SELECT decision FROM intents WHERE id = ?");
  const insertReceipt = db.prepare<[string, string, string | null, string | null, string | null, string]>(
    "INSERT INTO execution_receipts (intent_id, outcome, tx_hash, error, reported_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(intent_id) DO NOTHING",
  );

  // Marking and auditing commit together; the INSERT decides who was first, so concurrent redeemers cannot both win.
  const redeemTx = db.transaction((claims: AttestationClaims, by: string | undefined, at: Date) => {
    const aud = Array.isArray(claims.aud) ? (claims.aud as string[]).join(",") : claims.aud;
    const first = insertRedemption.run(claims.jti, aud, claims.exp, at.toISOString(), by ?? null).changes === 1;
    appendAudit(
      db,
      {
        type: first ? "attestation.redeemed" : "attestation.replay_refused",
        intent_id: claims.jti,
        aud,
        by: by ?? null,
      },
      at,
    );
    return { first, redeemed_at: first ? at.toISOString() : getRedemption.get(claims.jti)!.redeemed_at };
  });

  const receiptTx = db.transaction((id: string, r: z.infer<typeof receiptBody>, by: string | undefined, at: Date) => {
    const inserted =
      insertReceipt.run(id, r.outcome, r.tx_hash ?? null, r.error ?? null, by ?? null, at.toISOString()).changes === 1;
    if (inserted) {
      appendAudit(
        db,
        {
          type: "execution.receipt",
          intent_id: id,
          outcome: r.outcome,
          tx_hash: r.tx_hash ?? null,
          error: r.error ?? null,
          by: by ?? null,
        },
        at,
      );
    }
    return inserted;
  });

  return (app) => {
    app.post("/v1/attestations/:jti/redeem", limitBody, async (c) => {
      const refused = refuseRole(c, "redeem");
      if (refused) return refused;
      const jti = c.req.param("jti");
      const read = await readJson(c);
      if (!read.ok) return read.res;
      const token = (read.body as { attestation?: unknown } | null)?.attestation;
      let claims: AttestationClaims;
      try {
        if (token === undefined || token === null || token === "") {
          throw new GateError("missing", 'the body must carry the attestation: {"attestation":"<JWS>"}');
        }
        claims = await verify(token, check);
        if (claims.jti !== jti) throw new GateError("malformed", `the attestation is for ${claims.jti}, not ${jti}`);
      } catch (e) {
        if (!(e instanceof GateError)) throw e;
        if (FORGERY_CODES.has(e.code)) {
          const id = /^[\w-]{1,100}$/.test(jti) ? jti : null; // the path is the caller's: only an id-like value goes out
          deps.onDetection?.({ kind: "forgery", rule: e.code, source: "redeem", intent_id: id, decision: "refused", time: now().getTime() });
        }
        return c.json(e.toJSON(), 403);
      }
      const at = now();
      const r = deps.redemptions
        ? await deps.redemptions.redeem(claims, c.get("agent"), at)
        : redeemTx.immediate(claims, c.get("agent"), at);
      if (!r.first) deps.onDetection?.({ kind: "replay", rule: "replayed", source: "redeem", intent_id: claims.jti, decision: "refused", time: at.getTime() });
      return c.json({
        jti,
        redeemed: true,
        first: r.first,
        redeemed_at: r.redeemed_at,
        expires_at: new Date(claims.exp * 1000).toISOString(),
      });
    });

    app.post("/v1/intents/:id/receipt", limitBody, async (c) => {
      const refused = refuseRole(c, "receipt");
      if (refused) return refused;
      const id = c.req.param("id");
      const read = await readJson(c);
      if (!read.ok) return read.res;
      const parsed = receiptBody.safeParse(read.body);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => ({
          path: i.path.map(String).join(".") || "(body)",
          message: i.code === "unrecognized_keys" ? `unknown field(s): ${i.keys.join(", ")}` : i.message,
        }));
        return c.json({ error: "invalid_receipt", issues }, 400);
      }
      // bound to the attestation: only who holds it learns anything about the intent or may report on it
      try {
        const token = c.req.header(ATTESTATION_HEADER);
        if (token === undefined || token === "") {
          throw new GateError(
            "missing",
            `a receipt must carry the intent's attestation in the ${ATTESTATION_HEADER} header`,
          );
        }
        const claims = await verify(token, { ...check, clockToleranceSeconds: RECEIPT_GRACE_SECONDS });
        if (claims.jti !== id) throw new GateError("malformed", `the attestation is for ${claims.jti}, not ${id}`);
      } catch (e) {
        if (!(e instanceof GateError)) throw e;
        return c.json(e.toJSON(), 403);
      }
      const intent = getIntent.get(id);
      if (!intent) return c.json({ error: "not_found", message: `no intent ${id}` }, 404);
      if (intent.decision !== "APPROVED") {
        return c.json(
          { error: "not_approved", message: `intent ${id} is ${intent.decision}; only approved intents execute` },
          409,
        );
      }
      const at = now();
      if (!receiptTx.immediate(id, parsed.data, c.get("agent"), at)) {
        return c.json({ error: "receipt_exists", message: `a receipt for intent ${id} was already recorded` }, 409);
      }
      return c.json(
        { intent_id: id, recorded: true, outcome: parsed.data.outcome, recorded_at: at.toISOString() },
        201,
      );
    });
  };
}
