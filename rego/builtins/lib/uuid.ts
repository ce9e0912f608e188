// UUID parsing as google/uuid does it (formats and version 1/2 fields), for OPA's uuid.parse.

export interface UUIDInfo {
  version: number;
  variant: string;
  time?: bigint; // unix ns (versions 1 and 2)
  clocksequence?: number;
  nodeid?: string;
  macvariables?: string;
  domain?: string;
  id?: number;
}

/** Bytes of a UUID in any google/uuid accepted form, or undefined. */
export function uuidBytes(s: string): Uint8Array | undefined {
  let t = s;
  if (t.length === 45) {
    if (t.slice(0, 9).toLowerCase() !== "urn:uuid:") return undefined;
    t = t.slice(9);
  } else if (t.length === 38) {
    if (t[0] !== "{" || t[37] !== "}") return undefined;
    t = t.slice(1, 37);
  } else if (t.length === 32) {
    if (!/^[0-9a-fA-F]{32}$/.test(t)) return undefined;
    return Uint8Array.from(Buffer.from(t, "hex"));
  }
  if (t.length !== 36) return undefined;
  if (t[8] !== "-" || t[13] !== "-" || t[18] !== "-" || t[23] !== "-") return undefined;
  const hex = t.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

const G1582 = 122192928000000000n; // 100-ns intervals between 1582-10-15 and 1970-01-01

export function parseUUID(s: string): UUIDInfo | undefined {
  const b = uuidBytes(s);
  if (!b) return undefined;
  const version = b[6]! >> 4;
  const v8 = b[8]!;
  const variant =
    (v8 & 0xc0) === 0x80
      ? "RFC4122"
      : (v8 & 0xe0) === 0xc0
        ? "Microsoft"
        : (v8 & 0xe0) === 0xe0
          ? "Future"
          : "Reserved";
  const info: UUIDInfo = { version, variant };
  if (version === 1 || version === 2) {
    const dv = new DataView(b.buffer, b.byteOffset, 16);
    const t = BigInt(dv.getUint32(0)) | (BigInt(dv.getUint16(4)) << 32n) | (BigInt(dv.getUint16(6) & 0xfff) << 48n);
    const d = t - G1582;
    const sec = d / 10_000_000n;
    const nsec = (d % 10_000_000n) * 100n;
    info.time = sec * 1_000_000_000n + nsec;
    info.clocksequence = dv.getUint16(8) & 0x3fff;
    info.nodeid = [...b.slice(10)].map((x) => x.toString(16).padStart(2, "0")).join("-");
    info.macvariables = `${b[10]! & 0x02 ? "local" : "global"}:${b[10]! & 0x01 ? "multicast" : "unicast"}`;
    if (version === 2) {
      const dom = b[9]!;
      info.domain = dom === 0 ? "Person" : dom === 1 ? "Group" : dom === 2 ? "Org" : `Domain${dom}`;
      info.id = dv.getUint32(0);
    }
  }
  return info;
}

/** A version 4 UUID from 16 random bytes. */
export function uuidV4(bytes: Uint8Array): string {
  const b = Uint8Array.from(bytes);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
