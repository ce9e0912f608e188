// crypto.x509.* and crypto.parse_private_keys (OPA topdown/crypto.go). Certificates are shown with the field
// names of Go's x509.Certificate JSON encoding (the subset policies use), parsed with @peculiar/x509 and verified
// with node:crypto.
import { X509Certificate as NodeCert, createPrivateKey, type KeyObject } from "node:crypto";
import type * as px from "@peculiar/x509";
import type { Value } from "../value.ts";
import { fromJSON, isNumber } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, S, T, fn, obj, plainErr, str } from "./util.ts";
import { library, registerLazyBuiltins } from "./lazy.ts";

// ---- input decoding (PEM, or base64 of PEM or DER) ----

interface PemBlock {
  type: string;
  der: Buffer;
}

function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[2]!.replace(/^[A-Za-z-]+:.*$/gm, "").replace(/\s+/g, "");
    out.push({ type: m[1]!, der: Buffer.from(body, "base64") });
  }
  return out;
}

/** Go's base64.StdEncoding.DecodeString error text for malformed input. */
function b64Std(s: string): Buffer {
  for (let i = 0; i < s.length; i++) {
    if (!/[A-Za-z0-9+/=\r\n]/.test(s[i]!)) throw plainErr(`illegal base64 data at input byte ${i}`);
  }
  const clean = s.replace(/[\r\n]/g, "");
  if (clean.length % 4 !== 0) throw plainErr(`illegal base64 data at input byte ${clean.length - (clean.length % 4)}`);
  return Buffer.from(clean, "base64");
}

/** Splits concatenated DER SEQUENCEs (x509.ParseCertificates accepts a chain). */
function splitDER(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    if (b[i] !== 0x30 || i + 2 > b.length) throw plainErr("x509: malformed certificate");
    let len = b[i + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || i + 2 + n > b.length) throw plainErr("x509: malformed certificate");
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + b[i + 2 + k]!;
      hdr = 2 + n;
    }
    if (i + hdr + len > b.length) throw plainErr("x509: malformed certificate");
    out.push(b.subarray(i, i + hdr + len));
    i += hdr + len;
  }
  return out;
}

function certDERs(input: string): Buffer[] {
  if (input.startsWith("-----BEGIN"))
    return pemBlocks(input)
      .filter((b) => b.type === "CERTIFICATE")
      .map((b) => b.der);
  const raw = b64Std(input);
  if (raw.subarray(0, 10).toString("latin1") === "-----BEGIN")
    return pemBlocks(raw.toString("latin1"))
      .filter((b) => b.type === "CERTIFICATE")
      .map((b) => b.der);
  return splitDER(raw);
}

// ---- Go-shaped JSON ----

const NAME_FIELDS: [string, string][] = [
  ["C", "Country"],
  ["O", "Organization"],
  ["OU", "OrganizationalUnit"],
  ["L", "Locality"],
  ["ST", "Province"],
  ["street", "StreetAddress"],
  ["postalCode", "PostalCode"],
];

function nameJSON(n: px.Name): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const get = (f: string): string[] => {
    try {
      return n.getField(f);
    } catch {
      return [];
    }
  };
  for (const [f, k] of NAME_FIELDS) {
    const v = get(f);
    out[k] = v.length ? v : null;
  }
  out.SerialNumber = get("serialNumber")[0] ?? "";
  out.CommonName = get("CN")[0] ?? "";
  out.Names = n
    .toJSON()
    .flatMap((rdn) =>
      Object.entries(rdn).flatMap(([type, vals]) =>
        (vals as string[]).map((v) => ({ Type: type.split(".").map(Number), Value: v })),
      ),
    );
  out.ExtraNames = null;
  return out;
}

function sanJSON(exts: px.Extension[]): Record<string, unknown> {
  const dns: string[] = [];
  const emails: string[] = [];
  const ips: string[] = [];
  const uris: string[] = [];
  for (const e of exts) {
    if (e instanceof library("x509").SubjectAlternativeNameExtension) {
      for (const g of e.names.items) {
        if (g.type === "dns") dns.push(g.value);
        else if (g.type === "email") emails.push(g.value);
        else if (g.type === "ip") ips.push(g.value);
        else if (g.type === "url") uris.push(g.value);
      }
    }
  }
  const orNull = (a: string[]) => (a.length ? a : null);
  return {
    DNSNames: orNull(dns),
    EmailAddresses: orNull(emails),
    IPAddresses: orNull(ips),
    URIs: orNull(uris),
    URIStrings: orNull(uris),
  };
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}

function certJSON(der: Buffer): Value {
  const x = library("x509");
  let c: px.X509Certificate;
  try {
    c = new x.X509Certificate(new Uint8Array(der));
  } catch {
    throw plainErr(`x509: malformed certificate`);
  }
  const bc = c.getExtension(x.BasicConstraintsExtension);
  const ku = c.getExtension(x.KeyUsagesExtension);
  const obj: Record<string, unknown> = {
    Raw: der.toString("base64"),
    Version: 3,
    SerialNumber: BigInt("0x" + (c.serialNumber || "0")),
    Issuer: nameJSON(c.issuerName),
    Subject: nameJSON(c.subjectName),
    NotBefore: rfc3339(c.notBefore),
    NotAfter: rfc3339(c.notAfter),
    KeyUsage: ku ? ku.usages : 0,
    BasicConstraintsValid: !!bc,
    IsCA: bc ? bc.ca : false,
    MaxPathLen: bc?.pathLength ?? (bc ? -1 : 0),
    SignatureAlgorithmName: c.signatureAlgorithm.name,
    PublicKeyAlgorithmName: c.publicKey.algorithm.name,
    ...sanJSON(c.extensions),
  };
  return fromJSON(obj);
}

function csrJSON(der: Buffer): Value {
  let c: px.Pkcs10CertificateRequest;
  try {
    c = new (library("x509").Pkcs10CertificateRequest)(new Uint8Array(der));
  } catch {
    throw plainErr("x509: malformed certificate request");
  }
  return fromJSON({
    Raw: der.toString("base64"),
    Version: 0,
    Subject: nameJSON(c.subjectName),
    ...sanJSON(c.extensions),
  });
}

// ---- chain verification (x509.Verify with roots = first cert, leaf = last) ----

interface VerifyOpts {
  nowMs: number;
  dnsName?: string;
}

function verifyChain(ders: Buffer[], opts: VerifyOpts): Buffer[] | undefined {
  if (ders.length < 2) return undefined;
  const certs = ders.map((d) => new NodeCert(d));
  const chain = [...certs].reverse(); // leaf ... root
  const now = opts.nowMs;
  if (opts.dnsName !== undefined && opts.dnsName !== "" && chain[0]!.checkHost(opts.dnsName) === undefined)
    return undefined;
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) return undefined;
    const issuer = chain[i + 1] ?? c;
    if (!c.checkIssued(issuer) || !c.verify(issuer.publicKey)) return undefined;
    if (i > 0 && !c.ca) return undefined;
  }
  return [...ders].reverse();
}

// ---- keys as JWK ----

function keyJWK(k: KeyObject): Value {
  return fromJSON(k.export({ format: "jwk" }));
}

function privateKeysFrom(text: string): Value {
  if (text === "") return null;
  let pemText = text;
  if (!text.startsWith("-----BEGIN")) {
    try {
      pemText = b64Std(text).toString("latin1");
    } catch {
      return [];
    }
  }
  const out: Value[] = [];
  for (const b of pemBlocks(pemText)) {
    const type =
      b.type === "RSA PRIVATE KEY"
        ? "pkcs1"
        : b.type === "EC PRIVATE KEY"
          ? "sec1"
          : b.type === "PRIVATE KEY"
            ? "pkcs8"
            : undefined;
    if (!type) continue;
    try {
      out.push(keyJWK(createPrivateKey({ key: b.der, format: "der", type: type as "pkcs1" })));
    } catch {
      /* skip blocks that do not parse, as OPA does */
    }
  }
  return out;
}

function pemOrB64(text: string): string {
  if (text.startsWith("-----BEGIN")) return text;
  return b64Std(text).toString("latin1");
}

export const x509Builtins: BuiltinDef[] = [
  fn("crypto.x509.parse_certificates", [S], T.array(T.object()), (a) => certDERs(str(a, 0)).map(certJSON)),
  fn(
    "crypto.x509.parse_and_verify_certificates",
    [S],
    T.array(A),
    (a, ctx) => {
      let ders: Buffer[];
      try {
        ders = certDERs(str(a, 0));
      } catch {
        return [false, []];
      }
      const chain = verifyChain(ders, { nowMs: Number(ctx.nowNs / 1_000_000n) });
      if (!chain) return [false, []];
      return [true, chain.map(certJSON)];
    },
    { nondeterministic: true },
  ),
  fn(
    "crypto.x509.parse_and_verify_certificates_with_options",
    [S, T.object()],
    T.array(A),
    (a, ctx) => {
      const o = obj(a, 1);
      const opts: VerifyOpts = { nowMs: Number(ctx.nowNs / 1_000_000n) };
      for (const k of o.keys()) {
        const v = o.get(k)!;
        if (k === "DNSName") {
          if (typeof v !== "string") throw plainErr("'DNSName' should be a string");
          opts.dnsName = v;
        } else if (k === "CurrentTime") {
          if (!isNumber(v)) throw plainErr("'CurrentTime' should be a valid int64 number");
          opts.nowMs = Number(BigInt(Math.trunc(Number(v))) / 1_000_000n);
        } else if (k === "MaxConstraintComparisons" || k === "KeyUsages") {
          // accepted; name-constraint and extended-key-usage checks are not enforced
        } else throw plainErr(`invalid key option: ${String(k)}`);
      }
      let ders: Buffer[];
      try {
        ders = certDERs(str(a, 0));
      } catch {
        return [false, []];
      }
      const chain = verifyChain(ders, opts);
      if (!chain) return [false, []];
      return [true, chain.map(certJSON)];
    },
    { nondeterministic: true },
  ),
  fn("crypto.x509.parse_certificate_request", [S], T.object(), (a) => {
    const input = str(a, 0);
    const text = pemOrB64(input);
    let der: Buffer;
    if (text.startsWith("-----BEGIN")) {
      const b = pemBlocks(text).find((x) => x.type.includes("CERTIFICATE REQUEST"));
      if (!b) throw plainErr("invalid PEM-encoded certificate signing request");
      der = b.der;
    } else der = b64Std(input);
    return csrJSON(der);
  }),
  fn("crypto.x509.parse_keypair", [S, S], T.object(), (a) => {
    const certText = pemOrB64(str(a, 0));
    const keyText = pemOrB64(str(a, 1));
    const certs = pemBlocks(certText).filter((b) => b.type === "CERTIFICATE");
    if (!certs.length) throw plainErr("tls: failed to find any PEM data in certificate input");
    const keys = privateKeysFrom(keyText) as Value[];
    if (!keys || (keys as Value[]).length === 0) throw plainErr("tls: failed to find any PEM data in key input");
    return fromJSON({ Certificate: certs.map((c) => c.der.toString("base64")), PrivateKey: keys[0], Leaf: null });
  }),
  fn("crypto.x509.parse_rsa_private_key", [S], T.object(), (a) => {
    const text = pemOrB64(str(a, 0));
    const b = pemBlocks(text)[0];
    if (!b) throw plainErr("failed to parse PEM block containing the key");
    try {
      const type = b.type === "RSA PRIVATE KEY" ? "pkcs1" : "pkcs8";
      return keyJWK(createPrivateKey({ key: b.der, format: "der", type }));
    } catch (e) {
      throw plainErr((e as Error).message);
    }
  }),
  fn("crypto.parse_private_keys", [S], T.array(T.object()), (a) => privateKeysFrom(str(a, 0))),
];

registerLazyBuiltins(
  "x509",
  x509Builtins.map((d) => d.name),
);
