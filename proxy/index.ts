// The sandbox-boundary TLS proxy (SPEC section 8). The sidecar injects the policy (network rules, attestation
// requirements, address allowances) and the attestation verifier; the proxy imports nothing from sidecar/.
export {
  startProxy,
  DEFAULT_LIMITS,
  NO_POLICY,
  type ProxyOptions,
  type ProxyServer,
  type ProxyLimits,
  type ProxyDecisionEvent,
} from "./server.ts";
export { CertificateAuthority, CaError, caFiles, CA_CERT_FILE, CA_KEY_FILE, type CaFiles } from "./ca.ts";
export { proxyPolicy, sourcesReadBody, type ProxyPolicy } from "./policy.ts";
export { inputUse, modulesInputUse, type InputUse } from "./input-use.ts";
export { normalizePath, normalizeTarget, PathRefused } from "./path.ts";
export { duplicateJsonKey } from "./json-keys.ts";
export {
  createProxyVerifier,
  keySourceFromJwks,
  canonicalUrl,
  type ProxyVerifier,
  type ProxyVerifierOptions,
  type AttestedRequest,
} from "./attestation.ts";
export { AddressAllowList, AddressError, nonPublicReason, addressRefusal, embeddedIPv4 } from "./address.ts";
export { resolveTarget, normalizeHost, TargetRefused, type ResolvedTarget, type Lookup } from "./resolve.ts";
export { ProcessAttributor, type SourceProcess } from "./attribution.ts";
export {
  buildInput,
  ruleBody,
  ruleHeaders,
  queryObject,
  rfc3339,
  isJsonContentType,
  type NetworkInput,
  type NetworkRequest,
  type NetworkSource,
  type NetworkDecision,
  type DecideFn,
} from "./input.ts";
