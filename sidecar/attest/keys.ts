// Ed25519 signing keys (SPEC sections 2 and 4): created on first start as PKCS8 PEM files (mode 0600) in
// `<data-dir>/keys/`, with `keys.json` naming the current key and the retired ones. `keys rotate` adds a new current
// key; retired keys stay in the JWKS for MAX_TTL_SECONDS so attestations they signed still verify until they expire.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_TTL_SECONDS } from "../../protocol/index.ts";

export interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  use: "sig";
  alg: "Ed25519";
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicJwk;
}

interface KeyState {
  current: string;
  retired: { kid: string; retired_at: string }[];
}

export class KeyError extends Error {
  constructor(
    readonly code: "key_io" | "key_invalid",
    message: string,
  ) {
    super(message);
  }
}

/** RFC 7638 thumbprint of an Ed25519 public key: SHA-256 over {"crv","kty","x"} in that order, base64url. */
export function ed25519Thumbprint(x: string): string {
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}

function toSigningKey(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const x = (publicKey.export({ format: "jwk" }) as { x: string }).x;
  const kid = ed25519Thumbprint(x);
  return { kid, privateKey, publicKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "Ed25519" } };
}

export function keysDir(dataDir: string): string {
  return join(dataDir, "keys");
}

function writeFileAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function newKeyFile(dir: string): SigningKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const key = toSigningKey(privateKey);
  writeFileAtomic(join(dir, `${key.kid}.pem`), privateKey.export({ format: "pem", type: "pkcs8" }) as string, 0o600);
  return key;
}

function readState(dir: string): KeyState | undefined {
  const file = join(dir, "keys.json");
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as KeyState;
    if (typeof s.current !== "string" || !Array.isArray(s.retired)) throw new Error("bad shape");
    return s;
  } catch (e) {
    throw new KeyError(
      "key_invalid",
      `${file}: not a valid key state file (${(e as Error).message}); restore it from backup`,
    );
  }
}

function readKey(dir: string, kid: string): SigningKey {
  const file = join(dir, `${kid}.pem`);
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (e) {
    throw new KeyError("key_io", `cannot read signing key ${file}: ${(e as Error).message}`);
  }
  const key = toSigningKey(createPrivateKey(pem));
  if (key.kid !== kid) throw new KeyError("key_invalid", `${file} holds key ${key.kid}, not ${kid}`);
  return key;
}

/** Loads the key ring of a data dir, creating the first key when there is none. */
export class KeyRing {
  private keys = new Map<string, SigningKey>();
  private state!: KeyState;
  private stateMtime = 0;
  current!: SigningKey;

  private constructor(readonly dir: string) {}

  static open(dataDir: string): KeyRing {
    const dir = keysDir(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!readState(dir)) {
      const key = newKeyFile(dir);
      writeFileAtomic(join(dir, "keys.json"), JSON.stringify({ current: key.kid, retired: [] }, null, 2) + "\n", 0o600);
    }
    const ring = new KeyRing(dir);
    ring.load();
    return ring;
  }

  private load(): void {
    const state = readState(this.dir)!;
    this.stateMtime = statSync(join(this.dir, "keys.json")).mtimeMs;
    const keys = new Map<string, SigningKey>();
    for (const kid of [state.current, ...state.retired.map((r) => r.kid)]) {
      keys.set(kid, this.keys.get(kid) ?? readKey(this.dir, kid));
    }
    this.keys = keys;
    this.state = state;
    this.current = keys.get(state.current)!;
  }

  /** Re-reads keys.json when it changed on disk (after `keys rotate`). Returns true when the current key changed. */
  refresh(): boolean {
    let mtime: number;
    try {
      mtime = statSync(join(this.dir, "keys.json")).mtimeMs;
    } catch {
      return false;
    }
    if (mtime === this.stateMtime) return false;
    const before = this.current.kid;
    this.load();
    return before !== this.current.kid;
  }

  byKid(kid: string): SigningKey | undefined {
    return this.keys.get(kid);
  }

  /** Public keys to publish: the current key and keys retired less than MAX_TTL_SECONDS ago. */
  jwks(now: Date = new Date()): { keys: PublicJwk[] } {
    const keys = [this.current.jwk];
    for (const r of this.state.retired) {
      if (now.getTime() - Date.parse(r.retired_at) <= MAX_TTL_SECONDS * 1000) {
        const k = this.keys.get(r.kid);
        if (k) keys.push(k.jwk);
      }
    }
    return { keys };
  }
}

/** The public keys of the data dir's key store (current and retired, however long ago), read only: unlike
 * KeyRing.open nothing is created. For verifying what the daemon signed (audit checkpoints). A key whose file cannot
 * be read is left out (it can vouch for nothing). Throws KeyError when there is no key store. */
export function storedPublicKeys(dataDir: string): Map<string, KeyObject> {
  const dir = keysDir(dataDir);
  const state = readState(dir);
  if (!state) throw new KeyError("key_io", `no key store at ${dir} (keys.json is missing)`);
  const out = new Map<string, KeyObject>();
  for (const kid of [state.current, ...state.retired.map((r) => r.kid)]) {
    try {
      out.set(kid, readKey(dir, kid).publicKey);
    } catch {
      // unreadable or mismatched: not a key we can trust
    }
  }
  return out;
}

/** `keys rotate`: a new current key; the previous one is retired (still published for MAX_TTL_SECONDS). */
export function rotateKeys(dataDir: string, now: Date = new Date()): { previous: string; current: string } {
  const dir = keysDir(dataDir);
  KeyRing.open(dataDir); // creates the first key if needed and validates the state
  const state = readState(dir)!;
  const key = newKeyFile(dir);
  const next: KeyState = {
    current: key.kid,
    retired: [{ kid: state.current, retired_at: now.toISOString() }, ...state.retired],
  };
  writeFileAtomic(join(dir, "keys.json"), JSON.stringify(next, null, 2) + "\n", 0o600);
  return { previous: state.current, current: key.kid };
}
