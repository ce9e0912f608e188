export { KeyRing, rotateKeys, keysDir, ed25519Thumbprint, KeyError, type SigningKey, type PublicJwk } from "./keys.ts";
export { signClaims } from "./sign.ts";
export { buildClaims } from "./claims.ts";
export { startSignerThread, inlineSigner, type Signer } from "./signer-thread.ts";
