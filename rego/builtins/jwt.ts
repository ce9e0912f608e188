// io.jwt.* builtins (OPA topdown/tokens.go) with node:crypto (synchronous; jose's API is async).
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import type { Value, RObject } from "../value.ts";
import { compare, isNumber, isObject, parseJSON, toJSONString, toNumber } from "../value.ts";
import type { BuiltinContext, BuiltinDef } from "./api.ts";
import { A, B, OBJ, S, T, fn, obj, plainErr, str, typeErr } from "./util.ts";

// ---- encoding helpers ----

/** OPA's base64url.decode: pads unpadded input (RFC 7515 appendix C), then strict URL-safe decoding. */
export function b64urlBytes(s0: string): Buffer {
  let s = s0;
  if (!s.endsWith("=")) {
    switch (s.length % 4) {
      case 0:
        break;
      case 2:
        s += "==";
        break;
      case 3:
        s += "=";
        break;
      default:
        throw plainErr(`illegal base64url string: ${s0}`);
    }
  }
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (!/[A-Za-z0-9_-]/.test(c)) {
      if (c === "=" && i >= s.length - 2 && s.length % 4 === 0) {
        if (i === s.length - 2 && s[i + 1] !== "=") throw plainErr(`illegal base64 data at input byte ${i}`);
        continue;
      }
      throw plainErr(`illegal base64 data at input byte ${i}`);
    }
  }
  if (s.length % 4 !== 0) throw plainErr(`illegal base64 data at input byte ${s.length}`);
  return Buffer.from(s, "base64url");
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString("base64url");
}

/** Go's json.Marshal escapes <, >, & and U+2028/9. */
export function goJSON(v: Value): string {
  return toJSONString(v)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function jsonObject(s: string): RObject {
  let v: Value;
  try {
    v = parseJSON(s);
  } catch (e) {
    throw plainErr(`invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(v)) throw plainErr("decoded JSON type was not an Object");
  return v;
}

// ---- token structure ----

interface Token {
  header: string;
  payload: string;
  signature: string;
}

function decodeJWT(v: Value): Token {
  if (typeof v !== "string") throw typeErr(1, v, "string");
  if (!v.includes(".")) throw plainErr("encoded JWT had no period separators");
  const parts = v.split(".");
  if (parts.length !== 3) throw plainErr(`encoded JWT must have 3 sections, found ${parts.length}`);
  return { header: parts[0]!, payload: parts[1]!, signature: parts[2]! };
}

function decodeHeader(t: Token): RObject {
  let raw: Buffer;
  try {
    raw = b64urlBytes(t.header);
  } catch (e) {
    throw plainErr(`JWT header had invalid encoding: ${(e as Error).message}`);
  }
  let h: RObject;
  try {
    h = jsonObject(raw.toString("utf8"));
  } catch (e) {
    throw plainErr(`bad JWT header: ${(e as Error).message}`);
  }
  if (h.get("enc") !== undefined) throw plainErr("JWT is a JWE object, which is not supported");
  return h;
}

function decodePayloadText(t: Token): string {
  try {
    return b64urlBytes(t.payload).toString("utf8");
  } catch (e) {
    throw plainErr(`JWT payload had invalid encoding: ${(e as Error).message}`);
  }
}

interface Header {
  alg: string;
  kid: string;
  typ: string;
  cty: string;
  crit: Set<string>;
  unknown: string[];
}

function parseHeader(h: RObject): Header {
  const out: Header = { alg: "", kid: "", typ: "", cty: "", crit: new Set(), unknown: [] };
  for (const k of h.keys()) {
    const v = h.get(k)!;
    const ks = String(k);
    if (ks === "alg" || ks === "kid" || ks === "typ" || ks === "cty") {
      if (typeof v !== "string") throw plainErr(`${ks}: must be a string`);
      out[ks] = v;
    } else if (ks === "crit") {
      if (!Array.isArray(v)) throw plainErr("crit: must be a list");
      for (const e of v) if (typeof e === "string") out.crit.add(e);
      if (out.crit.size === 0) throw plainErr("crit: must be a nonempty list");
    } else out.unknown.push(ks);
  }
  return out;
}

function headerValid(h: Header): boolean {
  if (h.alg === "") return false;
  return !h.unknown.some((u) => h.crit.has(u));
}

// ---- keys ----

interface VKey {
  key: KeyObject | Buffer;
  alg: string;
  kid: string;
}

const ALGS = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
  "EdDSA",
]);

function pemDecode(s: string): { type: string; body: Buffer; rest: string } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----(\r?\n)?/.exec(s);
  if (!m) return undefined;
  const body = Buffer.from(m[2]!.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  return { type: m[1]!, body, rest: s.slice(m.index + m[0].length) };
}

function jwkToKey(j: Record<string, unknown>): KeyObject | Buffer {
  if (j.kty === "oct") {
    if (typeof j.k !== "string") throw new Error("invalid oct key");
    return Buffer.from(j.k, "base64url");
  }
  const priv = typeof j.d === "string";
  return priv
    ? createPrivateKey({ key: j as never, format: "jwk" })
    : createPublicKey({ key: j as never, format: "jwk" });
}

function parseJWKSet(s: string): Record<string, unknown>[] {
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch (e) {
    throw new Error(`failed to parse JWK: ${(e as Error).message}`);
  }
  if (!j || typeof j !== "object" || Array.isArray(j)) throw new Error("invalid JWK");
  const o = j as Record<string, unknown>;
  if (Array.isArray(o.keys)) return o.keys as Record<string, unknown>[];
  if (typeof o.kty !== "string") throw new Error(`invalid key type from JSON ()`);
  return [o];
}

function keysFromCertOrJWK(cert: string): VKey[] {
  const block = pemDecode(cert);
  if (block) {
    if (block.rest.length > 0) throw plainErr("extra data after a PEM certificate block");
    if (block.type === "CERTIFICATE") {
      try {
        return [{ key: new X509Certificate(block.body).publicKey, alg: "", kid: "" }];
      } catch (e) {
        throw plainErr(`failed to parse a PEM certificate: ${(e as Error).message}`);
      }
    }
    if (block.type === "PUBLIC KEY") {
      try {
        return [{ key: createPublicKey({ key: block.body, format: "der", type: "spki" }), alg: "", kid: "" }];
      } catch (e) {
        throw plainErr(`failed to parse a PEM public key: ${(e as Error).message}`);
      }
    }
    throw plainErr("failed to extract a Key from the PEM certificate");
  }
  let jwks: Record<string, unknown>[];
  const out: VKey[] = [];
  try {
    jwks = parseJWKSet(cert);
    for (const k of jwks) {
      const alg = typeof k.alg === "string" ? k.alg : "";
      if (alg !== "" && !ALGS.has(alg)) continue;
      const pub = { ...k };
      delete pub.d;
      delete pub.p;
      delete pub.q;
      delete pub.dp;
      delete pub.dq;
      delete pub.qi;
      out.push({ key: jwkToKey(k.kty === "oct" ? k : pub), alg, kid: typeof k.kid === "string" ? k.kid : "" });
    }
  } catch (e) {
    throw plainErr(`failed to parse a JWK key (set): ${(e as Error).message}`);
  }
  return out;
}

// ---- signature primitives ----

function hashOf(alg: string): string {
  return alg.endsWith("384") ? "sha384" : alg.endsWith("512") ? "sha512" : "sha256";
}

/** jwsbb.Verify: true when sig is a valid signature of data under alg with key. */
function verifyAlg(key: KeyObject | Buffer, alg: string, data: Buffer, sig: Buffer): boolean {
  try {
    if (alg.startsWith("HS")) {
      const k = Buffer.isBuffer(key) ? key : key.type === "secret" ? key.export() : undefined;
      if (!k) return false;
      const mac = createHmac(hashOf(alg), k).update(data).digest();
      return mac.length === sig.length && timingSafeEqual(mac, sig);
    }
    if (Buffer.isBuffer(key)) return false;
    if (alg.startsWith("RS")) return key.asymmetricKeyType === "rsa" && cryptoVerify(hashOf(alg), data, key, sig);
    if (alg.startsWith("PS"))
      return (
        key.asymmetricKeyType === "rsa" && cryptoVerify(hashOf(alg), data, { key, padding: 6, saltLength: -1 }, sig)
      ); // RSA_PKCS1_PSS_PADDING, auto salt
    if (alg.startsWith("ES"))
      return key.asymmetricKeyType === "ec" && cryptoVerify(hashOf(alg), data, { key, dsaEncoding: "ieee-p1363" }, sig);
    if (alg === "EdDSA") return key.asymmetricKeyType === "ed25519" && cryptoVerify(null, data, key, sig);
  } catch {
    return false;
  }
  return false;
}

function signAlg(key: KeyObject | Buffer, alg: string, data: Buffer): Buffer {
  if (alg.startsWith("HS")) {
    const k = Buffer.isBuffer(key) ? key : undefined;
    if (!k) throw plainErr(`invalid key for ${alg}`);
    return createHmac(hashOf(alg), k).update(data).digest();
  }
  if (Buffer.isBuffer(key) || key.type !== "private") throw plainErr(`failed to sign payload: invalid key for ${alg}`);
  if (alg.startsWith("RS")) return cryptoSign(hashOf(alg), data, key);
  if (alg.startsWith("PS"))
    return cryptoSign(hashOf(alg), data, { key, padding: 6, saltLength: Number(hashOf(alg).slice(3)) / 8 });
  if (alg.startsWith("ES")) return cryptoSign(hashOf(alg), data, { key, dsaEncoding: "ieee-p1363" });
  if (alg === "EdDSA") return cryptoSign(null, data, key);
  throw plainErr(`unknown JWS algorithm: ${alg}`);
}

// ---- builtins ----

function decode(tok: Value): Value {
  const t = decodeJWT(tok);
  const header = decodeHeader(t);
  let p = decodePayloadText(t);
  const cty = header.get("cty");
  if (cty === "JWT") {
    p = p.replace(/^["']+|["']+$/g, "");
    return decode(p);
  }
  const payload = jsonObject(p);
  let sig: Buffer;
  try {
    sig = b64urlBytes(t.signature);
  } catch (e) {
    throw plainErr(`JWT signature had invalid encoding: ${(e as Error).message}`);
  }
  return [header, payload, sig.toString("hex")];
}

function verifyWithKeys(a: Value[], family: string): boolean {
  const t = decodeJWT(a[0]!);
  const keyStr = str(a, 1);
  const keys = keysFromCertOrJWK(keyStr);
  const sig = b64urlBytes(t.signature);
  const header = parseHeader(decodeHeader(t));
  const data = Buffer.from(`${t.header}.${t.payload}`);
  const alg = family;
  if (header.kid !== "") {
    const k = keys.find((x) => x.kid === header.kid);
    if (k) return verifyAlg(k.key, alg, data, sig);
  }
  for (const k of keys) {
    if (k.alg !== "" && header.alg !== k.alg) continue;
    if (verifyAlg(k.key, alg, data, sig)) return true;
  }
  return false;
}

function verifyHS(a: Value[], alg: string): boolean {
  const jwt = str(a, 0);
  const secret = str(a, 1);
  const t = decodeJWT(jwt);
  const mac = createHmac(hashOf(alg), Buffer.from(secret, "utf8")).update(`${t.header}.${t.payload}`).digest();
  const sig = b64urlBytes(t.signature);
  return mac.length === sig.length && timingSafeEqual(mac, sig);
}

interface Constraints {
  secret: string;
  alg: string;
  iss: string;
  aud: string;
  keys?: VKey[];
  time: number;
}

function parseConstraints(o: RObject, ctx: BuiltinContext): Constraints {
  const c: Constraints = { secret: "", alg: "", iss: "", aud: "", time: -1 };
  for (const k of o.keys()) {
    const v = o.get(k)!;
    const name = String(k);
    switch (name) {
      case "cert":
        if (typeof v !== "string") throw plainErr("cert constraint: must be a string");
        c.keys = keysFromCertOrJWK(v);
        break;
      case "secret":
      case "alg":
      case "iss":
      case "aud":
        if (typeof v !== "string") throw plainErr(`${name} constraint: must be a string`);
        c[name] = v;
        break;
      case "time":
        c.time = timeFromValue(v);
        break;
      default:
        throw plainErr(`unknown token validation constraint: ${name}`);
    }
  }
  if (c.time === -1) c.time = Number(ctx.nowNs);
  return c;
}

function timeFromValue(v: Value): number {
  if (!isNumber(v)) throw plainErr("token time constraint: must be a number");
  const f = toNumber(v);
  if (f < 0) throw plainErr("token time constraint: must not be negative");
  return f;
}

function validAudience(c: Constraints, aud: Value): boolean {
  if (typeof aud === "string") return aud === c.aud;
  if (!Array.isArray(aud)) return false;
  return aud.some((e) => typeof e === "string" && e === c.aud);
}

function decodeVerify(a: Value[], ctx: BuiltinContext): Value {
  let tok: Value = a[0]!;
  const cons = parseConstraints(obj(a, 1), ctx);
  const nkeys = (cons.keys ? 1 : 0) + (cons.secret !== "" ? 1 : 0);
  if (nkeys > 1) throw plainErr("duplicate key constraints");
  if (nkeys < 1) throw plainErr("no key constraint");
  const unverified: Value = [false, makeEmpty(), makeEmpty()];
  let header: RObject;
  let p: string;
  for (;;) {
    const t = decodeJWT(tok);
    header = decodeHeader(t);
    const h = parseHeader(header);
    if (!headerValid(h)) return unverified;
    if (cons.alg !== "" && cons.alg !== h.alg) return unverified;
    const sig = b64urlBytes(t.signature);
    const data = Buffer.from(`${t.header}.${t.payload}`);
    let ok = false;
    if (cons.keys) {
      const byKid = h.kid !== "" ? cons.keys.find((k) => k.kid === h.kid) : undefined;
      if (byKid) ok = verifyAlg(byKid.key, h.alg, data, sig);
      else ok = cons.keys.some((k) => (k.alg === "" || k.alg === h.alg) && verifyAlg(k.key, h.alg, data, sig));
    } else ok = ALGS.has(h.alg) && verifyAlg(Buffer.from(cons.secret, "utf8"), h.alg, data, sig);
    if (!ok) return unverified;
    p = decodePayloadText(t);
    if (h.cty.toLowerCase() === "jwt") {
      tok = p;
      continue;
    }
    break;
  }
  const payload = jsonObject(p);
  if (cons.iss !== "") {
    const iss = payload.get("iss");
    if (iss === undefined || iss !== cons.iss) return unverified;
  }
  const aud = payload.get("aud");
  if (aud !== undefined) {
    if (!validAudience(cons, aud)) return unverified;
  } else if (cons.aud !== "") return unverified;
  const now = cons.time / 1e9;
  const exp = payload.get("exp");
  if (exp !== undefined) {
    if (!isNumber(exp)) throw plainErr("exp value must be a number");
    if (compare(now, exp) !== -1) return unverified;
  }
  const nbf = payload.get("nbf");
  if (nbf !== undefined) {
    if (!isNumber(nbf)) throw plainErr("nbf value must be a number");
    if (compare(now, nbf) === -1) return unverified;
  }
  return [true, header, payload];
}

function makeEmpty(): RObject {
  return jsonObject("{}");
}

function headerAlg(headers: string): string {
  let h: unknown;
  // jwsbb parses lazily: text that is not an object has no fields; a broken object cannot be parsed
  if (!headers.trimStart().startsWith("{"))
    throw plainErr(`missing or invalid 'alg' header: jwsbb: header "alg" not found`);
  try {
    h = JSON.parse(headers);
  } catch {
    throw plainErr("missing or invalid 'alg' header: cannot parse JSON");
  }
  if (!h || typeof h !== "object" || Array.isArray(h))
    throw plainErr("missing or invalid 'alg' header: cannot parse JSON");
  const alg = (h as Record<string, unknown>).alg;
  if (alg === undefined) throw plainErr(`missing or invalid 'alg' header: jwsbb: header "alg" not found`);
  if (typeof alg !== "string") throw plainErr(`missing or invalid 'alg' header: jwsbb: header "alg" is not a string`);
  return alg;
}

function encodeSign(headers: string, payload: string, jwkSrc: string): string {
  let keys: Record<string, unknown>[];
  try {
    keys = parseJWKSet(jwkSrc);
  } catch (e) {
    throw plainErr((e as Error).message);
  }
  if (keys.length === 0) throw plainErr("no keys found in JWK set");
  const alg = headerAlg(headers);
  if (!ALGS.has(alg)) throw plainErr(`unknown JWS algorithm: ${alg}`);
  const hObj = JSON.parse(headers) as Record<string, unknown>;
  const typ = hObj.typ;
  if (typeof typ !== "string" || typ === "JWT") {
    let valid = true;
    try {
      JSON.parse(payload);
    } catch {
      valid = false;
    }
    if (!valid) throw plainErr("type is JWT but payload is not JSON");
  }
  const signingInput = `${b64url(headers)}.${b64url(payload)}`;
  let key: KeyObject | Buffer;
  try {
    key = jwkToKey(keys[0]!);
  } catch (e) {
    throw plainErr(`failed to parse JWK: ${(e as Error).message}`);
  }
  const sig = signAlg(key, alg, Buffer.from(signingInput));
  return `${signingInput}.${b64url(sig)}`;
}

const verifier = (name: string, alg: string) => fn(name, [S, S], B, (a) => verifyWithKeys(a, alg));

export const jwtBuiltins: BuiltinDef[] = [
  fn("io.jwt.decode", [S], T.array(A), (a) => decode(a[0]!)),
  verifier("io.jwt.verify_rs256", "RS256"),
  verifier("io.jwt.verify_rs384", "RS384"),
  verifier("io.jwt.verify_rs512", "RS512"),
  verifier("io.jwt.verify_ps256", "PS256"),
  verifier("io.jwt.verify_ps384", "PS384"),
  verifier("io.jwt.verify_ps512", "PS512"),
  verifier("io.jwt.verify_es256", "ES256"),
  verifier("io.jwt.verify_es384", "ES384"),
  verifier("io.jwt.verify_es512", "ES512"),
  verifier("io.jwt.verify_eddsa", "EdDSA"),
  fn("io.jwt.verify_hs256", [S, S], B, (a) => verifyHS(a, "HS256")),
  fn("io.jwt.verify_hs384", [S, S], B, (a) => verifyHS(a, "HS384")),
  fn("io.jwt.verify_hs512", [S, S], B, (a) => verifyHS(a, "HS512")),
  fn("io.jwt.decode_verify", [S, OBJ], T.array(A), (a, ctx) => decodeVerify(a, ctx), { nondeterministic: true }),
  fn(
    "io.jwt.encode_sign_raw",
    [S, S, S],
    S,
    (a) => {
      const jwk = str(a, 2);
      return encodeSign(str(a, 0), str(a, 1), jwk);
    },
    { nondeterministic: true },
  ),
  fn("io.jwt.encode_sign", [OBJ, OBJ, OBJ], S, (a) => encodeSign(goJSON(a[0]!), goJSON(a[1]!), goJSON(a[2]!)), {
    nondeterministic: true,
  }),
];
