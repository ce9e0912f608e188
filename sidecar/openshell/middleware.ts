// SupervisorMiddleware.EvaluateHttpRequest: the proxy's decision for one request that OpenShell's supervisor has
// already admitted with its own network and L7 policy, before credentials are injected. Same input document
// (proxy/input.ts), same path normalization (proxy/path.ts), same header rules (proxy/headers.ts), same body rules
// (proxy/body.ts), same network rules (the active policy's network block), same attestation check and single-use
// store (proxy/attestation.ts). There is no pending outcome in OpenShell: every answer is ALLOW or DENY with a
// reason_code from a fixed set, and any internal error denies.
import { ATTESTATION_HEADER, type AttestationClaims } from "../../protocol/index.ts";
import { isGateError } from "../../executor-gate/errors.ts";
import type { ProxyVerifier } from "../../proxy/attestation.ts";
import { BodyRefused, inspectBody } from "../../proxy/body.ts";
import { HeaderRefused, rawValues, readRequestHead } from "../../proxy/headers.ts";
import { buildInput, HIDDEN_HEADERS, type NetworkDecision } from "../../proxy/input.ts";
import { normalizeTarget, PathRefused } from "../../proxy/path.ts";
import type { ProxyPolicy } from "../../proxy/policy.ts";
import { normalizeHost } from "../../proxy/resolve.ts";
import { compileHostGlobs, globProblem, type GlobSet } from "../../protocol/glob.ts";
import { CallerRejected, type CallerClaims } from "./caller-auth.ts";
import {
  Decision,
  OnExisting,
  Phase,
  type HttpRequestEvaluation,
  type HttpRequestResult,
  type JsonObject,
} from "./wire.ts";

/** The reason codes the requester may see (in OpenShell's `middleware_denied` body). Fixed: nothing else is sent. */
export const REASON_CODES = [
  "attestation_missing",
  "attestation_invalid",
  "attestation_replayed",
  "digest_mismatch",
  "policy_denied",
  "hold_pending",
  "internal_error",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/** The header the middleware writes on an attested request it allows (OpenShell lets middleware write only
 * `x-openshell-middleware-*`). */
export const INTENT_ID_HEADER = "x-openshell-middleware-intent-id";
/** Largest request body we accept for inspection; also what Describe announces. */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** Per-host middleware configuration from the sandbox policy (`config` Struct): host globs that must carry an
 * attestation in addition to the sidecar policy's own `require_attestation`. It can add governed hosts, never
 * remove one. */
export interface MiddlewareConfig {
  requireAttestation: GlobSet | null;
}

/** Validates the sandbox policy's config Struct for this middleware; returns the problems (empty: valid). */
export function validateConfig(config: JsonObject | null): string[] {
  const errors: string[] = [];
  if (!config) return errors;
  for (const key of Object.keys(config)) {
    if (key !== "require_attestation") errors.push(`unknown key ${JSON.stringify(key)} (known: require_attestation)`);
  }
  const globs = config.require_attestation;
  if (globs !== undefined && globs !== null) {
    if (!Array.isArray(globs)) errors.push("require_attestation must be a list of host globs");
    else {
      globs.forEach((g, i) => {
        if (typeof g !== "string") errors.push(`require_attestation[${i}] must be a string`);
        else {
          const problem = globProblem(g);
          if (problem) errors.push(`require_attestation[${i}] ${problem}`);
        }
      });
    }
  }
  return errors;
}

const configCache = new Map<string, MiddlewareConfig>();

/** The compiled config (cached by its JSON text). Throws for an invalid config: the request is then denied. */
export function compileConfig(config: JsonObject | null): MiddlewareConfig {
  if (!config || Object.keys(config).length === 0) return { requireAttestation: null };
  const text = JSON.stringify(config);
  const hit = configCache.get(text);
  if (hit) return hit;
  const errors = validateConfig(config);
  if (errors.length > 0) throw new Error(`invalid middleware config: ${errors.join("; ")}`);
  const globs = (config.require_attestation as string[] | undefined) ?? [];
  const compiled = { requireAttestation: globs.length > 0 ? compileHostGlobs(globs) : null };
  if (configCache.size > 256) configCache.clear();
  configCache.set(text, compiled);
  return compiled;
}

/** Who the sandbox is, for the record: its agent (when configured) and the NemoClaw activation that vouched for it. */
export interface SandboxPrincipal {
  sandboxId: string;
  agent: string | null;
  gateway: string | null;
  activated: boolean;
}

export interface MiddlewareEnv {
  /** The active policy's network block as the proxy sees it; null: no policy (every request is denied). */
  policy: () => ProxyPolicy | null;
  attestations: ProxyVerifier;
  principal: (sandboxId: string) => SandboxPrincipal;
  now: () => Date;
  /** Whole-evaluation deadline; past it the request is denied (internal_error). */
  deadlineMs: number;
}

/** One decision, as recorded (audit) and answered. */
export interface MiddlewareDecision {
  allowed: boolean;
  reasonCode: ReasonCode | null;
  reason: string;
  method: string;
  host: string;
  port: number;
  path: string;
  sandboxId: string;
  requestId: string;
  agent: string | null;
  intentId: string | null;
}

class Deny extends Error {
  constructor(
    readonly code: ReasonCode,
    message: string,
    readonly intentId: string | null = null,
  ) {
    super(message);
  }
}

function encode(decision: MiddlewareDecision, mutations: HttpRequestResult["headerMutations"]): HttpRequestResult {
  const metadata: Record<string, string> = {};
  if (decision.intentId) metadata["intent_sidecar.intent_id"] = decision.intentId;
  if (decision.agent) metadata["intent_sidecar.agent"] = decision.agent;
  return {
    decision: decision.allowed ? Decision.ALLOW : Decision.DENY,
    reason: decision.reason,
    headerMutations: mutations,
    findings: [],
    metadata,
    reasonCode: decision.reasonCode ?? "",
  };
}

function gateCode(code: string): ReasonCode {
  if (code === "replayed") return "attestation_replayed";
  if (code === "digest_mismatch") return "digest_mismatch";
  return "attestation_invalid";
}

/**
 * Decides one evaluation. `caller` is the verified caller token, or the CallerRejected that refused it (answered as
 * a denial, never as an error, so a fail_open registration still cannot let an unauthenticated caller through).
 */
export async function evaluateHttpRequest(
  env: MiddlewareEnv,
  ev: HttpRequestEvaluation,
  caller: CallerClaims | CallerRejected,
): Promise<{ result: HttpRequestResult; decision: MiddlewareDecision }> {
  const decision: MiddlewareDecision = {
    allowed: false,
    reasonCode: "internal_error",
    reason: "",
    method: ev.target.method.toUpperCase(),
    host: ev.target.host,
    port: ev.target.port,
    path: ev.target.path,
    sandboxId: ev.context.sandboxId,
    requestId: ev.context.requestId,
    agent: null,
    intentId: null,
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Deny("internal_error", `evaluation exceeded ${env.deadlineMs} ms`)),
        env.deadlineMs,
      );
    });
    const mutations = await Promise.race([decide(env, ev, caller, decision), deadline]);
    decision.allowed = true;
    decision.reasonCode = null;
    return { result: encode(decision, mutations), decision };
  } catch (err) {
    if (err instanceof Deny) {
      decision.reasonCode = err.code;
      decision.reason = err.message;
      if (err.intentId) decision.intentId = err.intentId;
    } else {
      decision.reasonCode = "internal_error";
      decision.reason = `internal error: ${(err as Error)?.message ?? String(err)}`;
    }
    return { result: encode(decision, []), decision };
  } finally {
    clearTimeout(timer);
  }
}

async function decide(
  env: MiddlewareEnv,
  ev: HttpRequestEvaluation,
  caller: CallerClaims | CallerRejected,
  decision: MiddlewareDecision,
): Promise<HttpRequestResult["headerMutations"]> {
  // 1. the caller: a supervisor of the very sandbox the request comes from
  if (caller instanceof CallerRejected) throw new Deny("policy_denied", `caller token rejected (${caller.code}): ${caller.message}`);
  if (caller.caller_kind !== "supervisor") throw new Deny("policy_denied", `caller_kind ${caller.caller_kind} may not evaluate requests`);
  if (!ev.context.sandboxId || caller.sandbox_id !== ev.context.sandboxId) {
    throw new Deny(
      "policy_denied",
      `caller token is for sandbox ${JSON.stringify(caller.sandbox_id)}, the request context names ${JSON.stringify(ev.context.sandboxId)}`,
    );
  }
  if (ev.phase !== Phase.PRE_CREDENTIALS) throw new Deny("policy_denied", `unsupported phase ${ev.phase}`);
  const principal = env.principal(ev.context.sandboxId);
  decision.agent = principal.agent;

  // 2. the target, normalized as the proxy normalizes it
  const t = ev.target;
  const scheme = t.scheme.toLowerCase();
  if (scheme !== "https" && scheme !== "http") throw new Deny("policy_denied", `unsupported scheme ${JSON.stringify(t.scheme)}`);
  let host: string;
  try {
    host = normalizeHost(t.host);
  } catch (err) {
    throw new Deny("policy_denied", (err as Error).message);
  }
  const port = t.port || (scheme === "https" ? 443 : 80);
  if (port > 65535) throw new Deny("policy_denied", `invalid port ${port}`);
  const method = t.method.toUpperCase();
  if (!/^[A-Z][A-Z0-9_-]{0,31}$/u.test(method)) throw new Deny("policy_denied", `invalid method ${JSON.stringify(t.method)}`);
  decision.host = host;
  decision.port = port;
  decision.method = method;
  if (t.path.includes("\\")) throw new Deny("policy_denied", "the request path contains a backslash");
  if (t.path.includes("?") || t.path.includes("#")) throw new Deny("policy_denied", "the request path carries a query or fragment");
  let pathAndQuery: string;
  try {
    pathAndQuery = normalizeTarget((t.path || "/") + (t.query ? `?${t.query}` : "")).target;
  } catch (err) {
    if (err instanceof PathRefused) throw new Deny("policy_denied", err.message);
    throw err;
  }
  decision.path = pathAndQuery.split("?")[0]!;

  // 3. headers, read like the proxy reads them (repeated single-valued headers refused); the attestation is hidden
  const raw: string[] = [];
  for (const [name, value] of ev.headers) raw.push(name, value);
  let view: Record<string, string>;
  try {
    view = readRequestHead(raw, HIDDEN_HEADERS).view;
  } catch (err) {
    if (err instanceof HeaderRefused) throw new Deny("policy_denied", err.message);
    throw err;
  }
  const defaultPort = scheme === "https" ? 443 : 80;
  const authority = `${host.includes(":") ? `[${host}]` : host}${port === defaultPort ? "" : `:${port}`}`;
  // OpenShell never shows `host` to middleware; the rules see the authority the request goes to, as for intents
  if (view.host === undefined) view.host = authority;

  const policy = env.policy();
  if (!policy) throw new Deny("policy_denied", "no sidecar policy is loaded");
  let config: MiddlewareConfig;
  try {
    config = compileConfig(ev.config);
  } catch (err) {
    throw new Deny("policy_denied", (err as Error).message);
  }
  const tokens = rawValues(raw, ATTESTATION_HEADER);
  if (tokens.length > 1) throw new Deny("attestation_invalid", "a request may carry at most one attestation");
  const token = tokens[0] ?? null;
  const governed = policy.requireAttestation(host) || (config.requireAttestation?.test(host) ?? false);

  // 4. body
  const body = Buffer.from(ev.body.buffer, ev.body.byteOffset, ev.body.byteLength);
  if (body.length > MAX_PAYLOAD_BYTES) throw new Deny("policy_denied", `request body over ${MAX_PAYLOAD_BYTES} bytes`);
  let ruleBody: unknown = null;
  try {
    ruleBody = inspectBody(body, view, {
      limit: MAX_PAYLOAD_BYTES,
      rulesRead: policy.inspectsBody,
      attested: governed || token !== null,
    }).ruleBody;
  } catch (err) {
    if (err instanceof BodyRefused) throw new Deny("policy_denied", err.message);
    throw err;
  }

  // 5. attestation: bound to method, URL and body digest; the sandbox's agent (when known) must be the one attested
  let claims: AttestationClaims | null = null;
  if (token !== null) {
    try {
      claims = await env.attestations.verify(token, {
        method,
        url: `${scheme}://${authority}${pathAndQuery}`,
        body,
        contentType: view["content-type"],
      });
    } catch (err) {
      const code = isGateError(err) ? err.code : "malformed";
      throw new Deny(gateCode(code), `attestation rejected (${code}): ${(err as Error).message}`, isGateError(err) ? (err.jti ?? null) : null);
    }
    if (principal.agent !== null && claims.sub !== principal.agent) {
      throw new Deny(
        "attestation_invalid",
        `attestation ${claims.jti} was issued to agent ${claims.sub}, sandbox ${principal.sandboxId} runs ${principal.agent}`,
        claims.jti,
      );
    }
    decision.intentId = claims.jti;
  } else if (governed) {
    throw new Deny("attestation_missing", `${host} requires an attestation (header ${ATTESTATION_HEADER})`);
  }

  // 6. the network rules over the SPEC section 6 document
  const input = buildInput({
    method,
    host,
    port,
    pathAndQuery,
    headers: view,
    body: ruleBody,
    source: {
      binary: ev.context.process?.binary || null,
      pid: ev.context.process?.pid || null,
      sandbox_id: ev.context.sandboxId,
    },
    attestation: claims,
    now: env.now(),
  });
  let verdict: NetworkDecision;
  try {
    verdict = await policy.decide(input);
  } catch (err) {
    throw new Deny("policy_denied", `the network rules failed to evaluate: ${(err as Error).message}`, claims?.jti ?? null);
  }
  if (!verdict || verdict.allow !== true || verdict.reasons.length > 0) {
    const why = verdict?.reasons?.length ? verdict.reasons.join("; ") : `no network rule allows ${method} ${host}${decision.path}`;
    throw new Deny("policy_denied", why, claims?.jti ?? null);
  }

  // 7. single use, recorded only for a request about to be allowed
  const mutations: HttpRequestResult["headerMutations"] = [];
  if (claims && token !== null) {
    let first = false;
    try {
      first = await env.attestations.consume(claims, token);
    } catch {
      first = false;
    }
    if (!first) throw new Deny("attestation_replayed", `attestation ${claims.jti} was already used`, claims.jti);
    mutations.push({ remove: { name: ATTESTATION_HEADER } });
    mutations.push({ write: { name: INTENT_ID_HEADER, value: claims.jti, onExisting: OnExisting.OVERWRITE } });
  } else if (rawValues(raw, INTENT_ID_HEADER).length > 0) {
    // a request may not vouch for itself: only the middleware writes this header
    mutations.push({ remove: { name: INTENT_ID_HEADER } });
  }
  decision.reason = claims ? `attested intent ${claims.jti}` : "allowed by the network rules";
  return mutations;
}
