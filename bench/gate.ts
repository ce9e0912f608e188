// gate.verify with a cached JWKS and the SQLite replay store (target: p50 <= 150 µs).
// Run: npx tsx bench/gate.ts   (ITER=20000 by default; SEED used jtis in the store, default 100000)
// Baselines in the same run: a bare node:crypto Ed25519 verify of the same token (the floor: the signature check
// alone) and jose's compactVerify with the same key (what a generic JOSE library costs).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, generateKeyPairSync, sign, verify as edVerify, createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compactVerify, importJWK } from "jose";
import { ATTESTATION_TYP, AUDIENCE_EXECUTOR, DEFAULT_ISSUER, intentClaim, type Intent } from "../protocol/index.ts";
import { createGate, sqliteReplayStore } from "../executor-gate/index.ts";

const ITER = Number(process.env.ITER ?? 20_000);
const SEED = Number(process.env.SEED ?? 100_000);

// A signing key and its JWKS served over real HTTP, as the sidecar would.
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const x = (publicKey.export({ format: "jwk" }) as { x: string }).x;
const kid = createHash("sha256")
  .update(JSON.stringify({ crv: "Ed25519", kty: "OKP", x }))
  .digest("base64url");
const jwk = { kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "Ed25519" };
const server = createServer((_, res) =>
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })),
);
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;

const intent: Intent = {
  agent: "treasury-bot",
  action: "evm.transaction",
  params: { chain_id: 8453, to: "0x1111111111111111111111111111111111111111", value: "1000000000000000" },
  context: { tenant: "acme", justification: "pay invoice 42" },
};
const claim = intentClaim(intent);
const header = Buffer.from(JSON.stringify({ alg: "Ed25519", typ: ATTESTATION_TYP, kid })).toString("base64url");
const now = Math.floor(Date.now() / 1000);
function token(jti: string): string {
  const payload = Buffer.from(
    JSON.stringify({
      iss: DEFAULT_ISSUER,
      sub: intent.agent,
      aud: AUDIENCE_EXECUTOR,
      iat: now,
      nbf: now,
      exp: now + 3600,
      jti,
      intent: claim,
      policy: { digest: "sha256:" + "0".repeat(64) },
    }),
  ).toString("base64url");
  return `${header}.${payload}.${sign(null, Buffer.from(`${header}.${payload}`), privateKey).toString("base64url")}`;
}
const WARM = Math.min(2000, ITER);
// Distinct attestations per call (as in production): verify uses one set, consume another (consume uses them up).
const tokens = Array.from({ length: ITER + WARM }, (_, i) => token(`bench-${i}`));
const consumeTokens = Array.from({ length: ITER + WARM }, (_, i) => token(`bench-consume-${i}`));

// The SQLite replay store with SEED attestations already used (a busy executor's recent history).
const dir = mkdtempSync(join(tmpdir(), "bench-gate-"));
const replay = sqliteReplayStore(join(dir, "replay.db"), { synchronous: "NORMAL" });
for (let i = 0; i < SEED; i++) replay.consume(`used-${i}`, now + 3600, "");
const gate = createGate({ jwks: jwksUrl, replay });

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function measure(name: string, fn: (i: number) => unknown): Promise<ReturnType<typeof stats>> {
  for (let i = 0; i < WARM; i++) await fn(ITER + i); // warm-up on its own tokens (JIT, JWKS fetch, statement cache)
  const samples: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const r = stats(samples);
  console.log(
    `${name.padEnd(46)} p50 ${r.p50.toFixed(1).padStart(7)} µs   p99 ${r.p99.toFixed(1).padStart(7)} µs   mean ${r.mean.toFixed(1).padStart(7)} µs`,
  );
  return r;
}

const keyObject = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
const joseKey = await importJWK(jwk, "EdDSA");
const parts = tokens.map((t) => t.split("."));

console.log(`gate.verify bench: ${ITER} iterations, ${SEED} used jtis in the SQLite store, node ${process.version}`);
const floor = await measure("baseline: node:crypto Ed25519 verify only", (i) => {
  const [h, p, s] = parts[i]!;
  if (!edVerify(null, Buffer.from(`${h}.${p}`), keyObject, Buffer.from(s!, "base64url"))) throw new Error("bad");
});
const jose = await measure("baseline: jose compactVerify (signature only)", (i) => compactVerify(tokens[i]!, joseKey));
const verify = await measure("gate.verify (cached JWKS, SQLite replay store)", (i) => gate.verify(tokens[i]!, intent));
const consume = await measure("gate.consume (verify + record use in SQLite)", (i) =>
  gate.consume(consumeTokens[i]!, intent),
);
console.log(
  `\ngate.verify p50 ${verify.p50.toFixed(1)} µs (target <= 150 µs: ${verify.p50 <= 150 ? "met" : "NOT met"}); ` +
    `${(verify.p50 / floor.p50).toFixed(2)}x the bare signature check, ${(verify.p50 / jose.p50).toFixed(2)}x jose; ` +
    `gate.consume p50 ${consume.p50.toFixed(1)} µs`,
);

await gate.close();
server.close();
rmSync(dir, { recursive: true, force: true });
