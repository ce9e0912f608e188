// What the sidecar answers to NemoClaw's two calls. Pure functions over parsed JSON plus the component's state,
// so every answer can be checked without a socket. Field sets and values follow NemoClaw's parser exactly:
// any other shape makes NemoClaw fail preparation or record an "ambiguous" activation.
import { createPublicKey } from "node:crypto";
import {
  ACTIVATION_SCHEMA_VERSION,
  PREPARATION_SCHEMA_VERSION,
  SHA256_IDENTITY,
  UUID_V4,
  type ActivateResponse,
  type Connection,
  type PrepareResponse,
} from "./contract.ts";

/** What a successful `POST /v2/prepare` told us about the OpenShell gateway. Kept to verify the gateway's
 * extension credentials and to tie later activations to a prepared gateway. Holds no secret: the key is public. */
export interface PreparedGateway {
  name: string;
  id: string;
  issuer: string;
  kid: string;
  publicKeyPem: string;
  extensionTokenTtlSecs: number;
  network: { gatewayIp: string; subnet: string };
  preparedAt: string;
}

/** One acknowledged activation: which sandbox NemoClaw activated under which OpenShell policy, and which
 * sidecar policy was in force when we said yes. */
export interface ActivationRecord {
  activationId: string;
  gatewayName: string;
  sandboxId: string;
  openshellPolicyHash: string;
  sidecarPolicyDigest: string;
  activatedAt: string;
}

export interface ComponentState {
  componentId: string;
  /** The active sidecar policy's digest (`sha256:<hex>`); throws or returns nothing when no valid policy is loaded. */
  activePolicyDigest: () => string | undefined | Promise<string | undefined>;
  /** The connection settings we declared; when given, a preparation naming different ones is rejected. */
  expected?: { interceptor?: Connection; middleware?: Connection & { name: string } };
  /** Activations must name a gateway we prepared (default true: the v2 flow always prepares first). */
  requirePreparation: boolean;
  prepared: Map<string, PreparedGateway>;
  activations: ActivationRecord[];
  now: () => Date;
}

/** The HTTP outcome: status and JSON body, plus a note for the log (never the request body). */
export interface Outcome {
  status: number;
  body: unknown;
  note: { event: string; result: string; reason?: string; gateway?: string; sandbox?: string };
}

function record(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown, max = 4096): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

function badRequest(event: string, code: string, message: string): Outcome {
  return { status: 400, body: { error: code, message }, note: { event, result: "invalid", reason: code } };
}

async function currentDigest(state: ComponentState): Promise<string | null> {
  try {
    const digest = await state.activePolicyDigest();
    return typeof digest === "string" && SHA256_IDENTITY.test(digest) ? digest : null;
  } catch {
    return null; // fail closed: no readable policy, no acknowledgement
  }
}

function sameConnection(actual: unknown, expected: Record<string, string> | undefined): boolean {
  if (!expected) return true;
  if (!record(actual)) return false;
  return Object.entries(expected).every(([key, value]) => actual[key] === value);
}

/** `POST /v2/prepare`: NemoClaw hands over the gateway's public key and bridge network before gateway start. */
export async function handlePrepare(payload: unknown, state: ComponentState): Promise<Outcome> {
  const event = "nemoclaw.prepare";
  if (!record(payload)) return badRequest(event, "invalid_json", "the body must be a JSON object");
  if (payload.schemaVersion !== PREPARATION_SCHEMA_VERSION) {
    return badRequest(event, "unsupported_schema", `preparation needs schemaVersion ${PREPARATION_SCHEMA_VERSION}`);
  }
  if (typeof payload.preparationId !== "string" || !UUID_V4.test(payload.preparationId)) {
    return badRequest(event, "invalid_preparation_id", "preparationId must be a lower-case UUID v4");
  }
  if (!str(payload.componentId, 128)) return badRequest(event, "invalid_component_id", "componentId is required");
  const answer = (result: PrepareResponse["result"], reason?: string, gateway?: string): Outcome => ({
    status: 200,
    body: {
      schemaVersion: PREPARATION_SCHEMA_VERSION,
      preparationId: payload.preparationId as string,
      componentId: payload.componentId as string,
      result,
    } satisfies PrepareResponse,
    note: { event, result, reason, gateway },
  });
  if (payload.componentId !== state.componentId) return answer("rejected", "component_mismatch");
  const gateway = payload.gateway;
  const network = payload.network;
  if (
    !record(gateway) ||
    !str(gateway.name, 255) ||
    !str(gateway.id, 255) ||
    !str(gateway.issuer, 1024) ||
    !str(gateway.kid, 255) ||
    !str(gateway.publicKeyPem, 16384) ||
    typeof gateway.extensionTokenTtlSecs !== "number" ||
    !Number.isSafeInteger(gateway.extensionTokenTtlSecs) ||
    gateway.extensionTokenTtlSecs <= 0
  ) {
    return answer("rejected", "gateway_invalid");
  }
  if (!record(network) || !str(network.gatewayIp, 64) || !str(network.subnet, 64)) {
    return answer("rejected", "network_invalid", gateway.name);
  }
  try {
    // OpenShell signs extension credentials with EdDSA; anything else cannot be verified later.
    if (createPublicKey(gateway.publicKeyPem).asymmetricKeyType !== "ed25519") throw new Error("not ed25519");
  } catch {
    return answer("rejected", "gateway_key_invalid", gateway.name);
  }
  if (
    !sameConnection(payload.interceptor, state.expected?.interceptor as Record<string, string> | undefined) ||
    !sameConnection(payload.middleware, state.expected?.middleware as Record<string, string> | undefined)
  ) {
    return answer("rejected", "connection_mismatch", gateway.name);
  }
  if (!(await currentDigest(state))) return answer("rejected", "no_active_policy", gateway.name);
  state.prepared.set(gateway.name, {
    name: gateway.name,
    id: gateway.id,
    issuer: gateway.issuer,
    kid: gateway.kid,
    publicKeyPem: gateway.publicKeyPem,
    extensionTokenTtlSecs: gateway.extensionTokenTtlSecs,
    network: { gatewayIp: network.gatewayIp, subnet: network.subnet },
    preparedAt: state.now().toISOString(),
  });
  return answer("prepared", undefined, gateway.name);
}

/** `POST /v1/activate`: NemoClaw asks us to acknowledge a sandbox running under an OpenShell policy.
 * The answer echoes NemoClaw's evidence (NemoClaw compares every echoed field with what it sent) and says
 * `activated` only when this component is the one addressed, the gateway was prepared, and a valid sidecar
 * policy is in force. */
export async function handleActivate(payload: unknown, state: ComponentState): Promise<Outcome> {
  const event = "nemoclaw.activate";
  if (!record(payload)) return badRequest(event, "invalid_json", "the body must be a JSON object");
  if (payload.schemaVersion !== ACTIVATION_SCHEMA_VERSION) {
    return badRequest(event, "unsupported_schema", `activation needs schemaVersion ${ACTIVATION_SCHEMA_VERSION}`);
  }
  if (typeof payload.activationId !== "string" || !UUID_V4.test(payload.activationId)) {
    return badRequest(event, "invalid_activation_id", "activationId must be a lower-case UUID v4");
  }
  if (!str(payload.componentId, 128)) return badRequest(event, "invalid_component_id", "componentId is required");
  const sandbox = payload.sandbox;
  const policy = payload.policy;
  if (!record(sandbox) || !str(sandbox.id, 255)) return badRequest(event, "invalid_sandbox", "sandbox.id is required");
  if (!record(policy) || typeof policy.hash !== "string" || !SHA256_IDENTITY.test(policy.hash)) {
    return badRequest(event, "invalid_policy", "policy.hash must be sha256:<64 hex>");
  }
  const gateway = record(payload.gateway) && str(payload.gateway.name, 255) ? payload.gateway.name : undefined;
  const answer = (result: ActivateResponse["result"], reason?: string): Outcome => ({
    status: 200,
    body: {
      schemaVersion: ACTIVATION_SCHEMA_VERSION,
      activationId: payload.activationId as string,
      componentId: payload.componentId as string,
      sandboxId: sandbox.id as string,
      policyHash: policy.hash as string,
      result,
    } satisfies ActivateResponse,
    note: { event, result, reason, gateway, sandbox: sandbox.id as string },
  });
  if (payload.componentId !== state.componentId) return answer("rejected", "component_mismatch");
  if (!gateway) return answer("rejected", "gateway_invalid");
  if (state.requirePreparation && !state.prepared.has(gateway)) return answer("rejected", "gateway_not_prepared");
  if (policy.source !== "sandbox") return answer("rejected", "policy_source_unsupported");
  if (typeof policy.activeVersion !== "number" || !Number.isSafeInteger(policy.activeVersion)) {
    return answer("rejected", "policy_version_invalid");
  }
  const digest = await currentDigest(state);
  if (!digest) return answer("rejected", "no_active_policy");
  state.activations.push({
    activationId: payload.activationId,
    gatewayName: gateway,
    sandboxId: sandbox.id,
    openshellPolicyHash: policy.hash,
    sidecarPolicyDigest: digest,
    activatedAt: state.now().toISOString(),
  });
  if (state.activations.length > 1000) state.activations.shift(); // bounded memory for a long-lived daemon
  return answer("activated");
}
