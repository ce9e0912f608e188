// A real Ed25519 signer for hold tests (the daemon's signing module is wired in daemon tests).
import { generateKeyPairSync } from "node:crypto";
import { CompactSign, compactVerify } from "jose";
import { ATTESTATION_TYP, type AttestationClaims } from "../../protocol/index.ts";

export function testSigner() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const sign = (claims: AttestationClaims) =>
    new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: "EdDSA", typ: ATTESTATION_TYP, kid: "test" })
      .sign(privateKey);
  const verify = async (jws: string): Promise<AttestationClaims> => {
    const { payload } = await compactVerify(jws, publicKey);
    return JSON.parse(new TextDecoder().decode(payload)) as AttestationClaims;
  };
  return { sign, verify };
}
