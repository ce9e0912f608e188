// The proxy's local certificate authority: an ECDSA P-256 CA persisted in the data directory (key mode 0600) that
// issues one ECDSA P-256 leaf per host, cached in memory. Concurrent first connections to a host share one
// generation (the cache holds the in-flight promise), so a burst of tunnels never signs the same host twice.
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import { webcrypto, randomBytes } from "node:crypto";
import { promises as fs, constants as fsConstants } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC: EcKeyGenParams & EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as never;
const DAY_MS = 86_400_000;
const CA_VALIDITY_DAYS = 3650;
const LEAF_VALIDITY_DAYS = 30;
/** Leaves are re-issued when they have less than this left, so a long-running proxy never serves an expired one. */
const LEAF_RENEW_MS = DAY_MS;
const DEFAULT_CACHE_SIZE = 2000;

export const CA_CERT_FILE = "proxy-ca.crt.pem";
export const CA_KEY_FILE = "proxy-ca.key.pem";

export class CaError extends Error {
  constructor(
    readonly code: "ca_unreadable" | "ca_invalid" | "bad_host",
    message: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = "CaError";
  }
}

export interface CaFiles {
  certPath: string;
  keyPath: string;
}

/** Paths of the CA files inside a data directory. */
export function caFiles(dataDir: string): CaFiles {
  return { certPath: path.resolve(dataDir, CA_CERT_FILE), keyPath: path.resolve(dataDir, CA_KEY_FILE) };
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

function fromPem(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  if (!m) throw new CaError("ca_invalid", `expected a PEM ${label} block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString("hex");
}

/** Writes a file atomically (temp + rename) with the given mode. */
async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await fs.writeFile(tmp, data, { mode, flag: "wx" });
  await fs.chmod(tmp, mode); // umask may have narrowed/widened the requested mode
  await fs.rename(tmp, file);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

export class CertificateAuthority {
  /** PEM of the CA certificate: what sandboxes trust. */
  readonly certPem: string;
  readonly files: CaFiles | null;
  private readonly cert: x509.X509Certificate;
  private readonly key: CryptoKey;
  private readonly leaves = new Map<string, Promise<{ ctx: tls.SecureContext; notAfter: number }>>();
  private readonly cacheSize: number;

  private constructor(cert: x509.X509Certificate, key: CryptoKey, files: CaFiles | null, cacheSize: number) {
    this.cert = cert;
    this.key = key;
    this.certPem = cert.toString("pem") + "\n";
    this.files = files;
    this.cacheSize = cacheSize;
  }

  /** Loads the CA from `dataDir`, creating it (and the directory) on first use. The key file is mode 0600. */
  static async loadOrCreate(dataDir: string, opts: { cacheSize?: number } = {}): Promise<CertificateAuthority> {
    const files = caFiles(dataDir);
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; ; attempt++) {
      if ((await exists(files.certPath)) && (await exists(files.keyPath)))
        return CertificateAuthority.load(files, opts);
      // Creation is serialized by an exclusive lock file, so a `ca export` racing the daemon's first start cannot
      // leave a key from one CA next to the certificate of another.
      const lock = path.join(dataDir, "proxy-ca.lock");
      let handle: FileHandle;
      try {
        handle = await fs.open(lock, "wx", 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const age =
          Date.now() -
          (await fs.stat(lock).then(
            (st) => st.mtimeMs,
            () => Date.now(),
          ));
        if (age > 30_000 || attempt > 200) await fs.rm(lock, { force: true }); // a creator that died
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      try {
        if ((await exists(files.certPath)) && (await exists(files.keyPath)))
          return CertificateAuthority.load(files, opts);
        const ca = await CertificateAuthority.generate(files, opts.cacheSize);
        const keyPem = toPem(await subtle.exportKey("pkcs8", ca.key), "PRIVATE KEY");
        await writeFileAtomic(files.keyPath, keyPem, 0o600);
        await writeFileAtomic(files.certPath, ca.certPem, 0o644);
        return ca;
      } finally {
        await handle.close();
        await fs.rm(lock, { force: true });
      }
    }
  }

  private static async load(files: CaFiles, opts: { cacheSize?: number }): Promise<CertificateAuthority> {
    let certPem: string, keyPem: string;
    try {
      [certPem, keyPem] = await Promise.all([fs.readFile(files.certPath, "utf8"), fs.readFile(files.keyPath, "utf8")]);
    } catch (err) {
      throw new CaError("ca_unreadable", `cannot read the proxy CA (${files.certPath}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    return CertificateAuthority.fromPem(certPem, keyPem, files, opts.cacheSize);
  }

  /** An in-memory CA (tests, benchmarks). */
  static async ephemeral(opts: { cacheSize?: number } = {}): Promise<CertificateAuthority> {
    return CertificateAuthority.generate(null, opts.cacheSize);
  }

  static async fromPem(certPem: string, keyPem: string, files: CaFiles | null = null, cacheSize?: number) {
    try {
      const cert = new x509.X509Certificate(certPem);
      const key = await subtle.importKey("pkcs8", new Uint8Array(fromPem(keyPem, "PRIVATE KEY")), EC, false, ["sign"]);
      return new CertificateAuthority(cert, key, files, cacheSize ?? DEFAULT_CACHE_SIZE);
    } catch (err) {
      const where = files ? ` (${files.certPath}, ${files.keyPath})` : "";
      throw new CaError(
        "ca_invalid",
        `the proxy CA${where} is not a valid ECDSA P-256 certificate and key: ${
          (err as Error).message
        }; delete both files to generate a new CA`,
        { cause: err },
      );
    }
  }

  private static async generate(files: CaFiles | null, cacheSize = DEFAULT_CACHE_SIZE): Promise<CertificateAuthority> {
    const keys = (await subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=intent-sidecar proxy CA ${randomBytes(4).toString("hex")}, O=intent-sidecar`,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
      keys,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert, keys.privateKey, files, cacheSize);
  }

  /** A TLS server context presenting a leaf for `host` (DNS name or IP literal), from cache when possible. */
  async contextFor(host: string): Promise<tls.SecureContext> {
    const name = host.toLowerCase();
    const cached = this.leaves.get(name);
    if (cached) {
      const hit = await cached;
      if (hit.notAfter - Date.now() > LEAF_RENEW_MS) {
        // refresh LRU position
        this.leaves.delete(name);
        this.leaves.set(name, cached);
        return hit.ctx;
      }
      if (this.leaves.get(name) === cached) this.leaves.delete(name);
      return this.contextFor(name);
    }
    const pending = this.issue(name);
    this.leaves.set(name, pending);
    pending.catch(() => {
      if (this.leaves.get(name) === pending) this.leaves.delete(name);
    });
    while (this.leaves.size > this.cacheSize) this.leaves.delete(this.leaves.keys().next().value!);
    return (await pending).ctx;
  }

  /** Issues a leaf certificate PEM and key PEM for `host` (exposed for tests and tooling). */
  async issueLeafPem(host: string): Promise<{ certPem: string; keyPem: string; notAfter: number }> {
    const name = host.toLowerCase();
    if (!isIP(name) && !/^[a-z0-9*]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(name)) {
      throw new CaError("bad_host", `cannot issue a certificate for "${host}": not a host name or IP address`);
    }
    const keys = (await subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const notAfter = now + LEAF_VALIDITY_DAYS * DAY_MS;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: isIP(name) ? "CN=intent-sidecar proxy leaf" : `CN=${name}`,
      issuer: this.cert.subject,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(notAfter),
      signingKey: this.key,
      publicKey: keys.publicKey,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: isIP(name) ? "ip" : "dns", value: name }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    const keyPem = toPem(await subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
    return { certPem: cert.toString("pem"), keyPem, notAfter };
  }

  private async issue(host: string): Promise<{ ctx: tls.SecureContext; notAfter: number }> {
    const leaf = await this.issueLeafPem(host);
    const ctx = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem, minVersion: "TLSv1.2" });
    return { ctx, notAfter: leaf.notAfter };
  }

  /** Number of host leaves currently cached or being issued. */
  get cachedHosts(): number {
    return this.leaves.size;
  }
}
