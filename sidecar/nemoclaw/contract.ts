// The NemoClaw external-component contract, as NemoClaw's own sources define it
// (NVIDIA/NemoClaw, src/lib/onboard/external-component/: index.ts, activation.ts, README.md).
// Everything NemoClaw checks on our side is pinned here so the writer, the server and the tests agree.

/** Activation (`POST /v1/activate`) keeps the v1 schema: NemoClaw sends and expects `schemaVersion: 1` there. */
export const ACTIVATION_SCHEMA_VERSION = 1 as const;
/** The connection declaration and `POST /v2/prepare` use schema 2. */
export const DECLARATION_SCHEMA_VERSION = 2 as const;
export const PREPARATION_SCHEMA_VERSION = 2 as const;

export const DECLARATION_FILE_NAME = "external-component.json";
/** NemoClaw reads at most 16 KiB of declaration. */
export const DECLARATION_MAX_BYTES = 16 * 1024;

/** NemoClaw's total deadline per request (EXTERNAL_COMPONENT_ACTIVATION_TIMEOUT_MS). It never retries. */
export const NEMOCLAW_DEADLINE_MS = 30_000;
/** NemoClaw rejects responses with headers over 16 KiB or bodies over 1 MiB; ours are a few hundred bytes. */
export const RESPONSE_HEADER_MAX_BYTES = 16 * 1024;
export const RESPONSE_BODY_MAX_BYTES = 1_048_576;

/** Our own request limits. NemoClaw's requests are a few KiB (the preparation carries one PEM public key). */
export const REQUEST_HEADER_MAX_BYTES = 16 * 1024;
export const REQUEST_BODY_MAX_BYTES = 64 * 1024;

export const PREPARE_PATH = "/v2/prepare";
export const ACTIVATE_PATH = "/v1/activate";

/** NemoClaw generates ids with crypto.randomUUID() and checks responses against this exact pattern. */
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u;
export const SHA256_IDENTITY = /^sha256:[0-9a-f]{64}$/u;

/** v2 componentId (also the OpenShell interceptor registration name) and middleware name. */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/u;
export const RESERVED_SERVICE_PREFIX = "openshell/";
/** The interceptor is dialled by the gateway on the host loopback; the middleware by the sandbox supervisor
 * through the fixed selector that NemoClaw rewrites to the Docker bridge address. */
export const INTERCEPTOR_ENDPOINT = /^https:\/\/127\.0\.0\.1:([1-9]\d{0,4})$/u;
export const MIDDLEWARE_ENDPOINT = /^https:\/\/host\.openshell\.internal:([1-9]\d{0,4})$/u;
export const AUDIENCE = /^[\x21-\x7e]{1,256}$/u;

export interface Connection {
  endpoint: string;
  caCertificatePath: string;
  audience: string;
}

/** The v2 declaration: exactly these fields (NemoClaw rejects unknown ones). */
export interface DeclarationV2 {
  schemaVersion: typeof DECLARATION_SCHEMA_VERSION;
  componentId: string;
  activationSocketPath: string;
  interceptor: Connection;
  middleware: Connection & { name: string };
  providerProfileSource?: string;
}

/** `POST /v2/prepare` answer: exactly four fields. */
export interface PrepareResponse {
  schemaVersion: typeof PREPARATION_SCHEMA_VERSION;
  preparationId: string;
  componentId: string;
  result: "prepared" | "rejected";
}

/** `POST /v1/activate` answer: exactly six fields. NemoClaw treats any other shape as an ambiguous activation. */
export interface ActivateResponse {
  schemaVersion: typeof ACTIVATION_SCHEMA_VERSION;
  activationId: string;
  componentId: string;
  sandboxId: string;
  policyHash: string;
  result: "activated" | "rejected";
}

/** A contract violation in something we were asked to write or serve. `code` is stable. */
export class NemoClawContractError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "NemoClawContractError";
  }
}
