// SSRF guard: which upstream addresses the proxy may dial. Loopback, link-local (cloud metadata), private, CGNAT,
// multicast, reserved and unspecified addresses are refused unless the policy's `allow_addresses` names them.
// IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that address.
import { BlockList, isIP } from "node:net";

const BLOCKED_V4: [string, number, string][] = [
  ["0.0.0.0", 8, "unspecified"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "reserved"],
  ["192.0.2.0", 24, "documentation"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
];

const BLOCKED_V6: [string, number, string][] = [
  ["::", 128, "unspecified"],
  ["::1", 128, "loopback"],
  ["fe80::", 10, "link-local"],
  ["fec0::", 10, "site-local"],
  ["fc00::", 7, "private"],
  ["ff00::", 8, "multicast"],
  ["100::", 64, "discard"],
  ["2001:db8::", 32, "documentation"],
];

interface BlockedRange {
  bl: BlockList;
  why: string;
  family: "ipv4" | "ipv6";
}

const blockedRanges: BlockedRange[] = [
  ...BLOCKED_V4.map(([a, p, why]): BlockedRange => {
    const bl = new BlockList();
    bl.addSubnet(a, p, "ipv4");
    return { bl, why, family: "ipv4" };
  }),
  ...BLOCKED_V6.map(([a, p, why]): BlockedRange => {
    const bl = new BlockList();
    bl.addSubnet(a, p, "ipv6");
    return { bl, why, family: "ipv6" };
  }),
];

export class AddressError extends Error {
  constructor(
    readonly code: "bad_cidr" | "bad_address",
    message: string,
  ) {
    super(message);
    this.name = "AddressError";
  }
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a trailing dotted IPv4 part folded into the last two
 * groups, a `%zone` dropped), or null when `addr` is not an IPv6 address (node:net isIP decides). The one IPv6 parser
 * of the proxy: the SSRF guard and process attribution both read addresses through it. */
export function ipv6Groups(addr: string): number[] | null {
  if (isIP(addr) !== 6) return null;
  let s = addr.toLowerCase().split("%")[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1]!.split(".").map(Number);
    s = s.slice(0, -v4[1]!.length) + ((o[0]! << 8) | o[1]!).toString(16) + ":" + ((o[2]! << 8) | o[3]!).toString(16);
  }
  const groups = (t: string) => (t === "" ? [] : t.split(":").map((g) => parseInt(g, 16)));
  const at = s.indexOf("::");
  if (at < 0) return groups(s);
  const head = groups(s.slice(0, at));
  const tail = groups(s.slice(at + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function v4FromGroups(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** The IPv4 address an IPv6 address carries (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16), else null. */
export function embeddedIPv4(addr: string): string | null {
  const g = ipv6Groups(addr);
  if (g === null || g.length !== 8) return null;
  const zero5 = g.slice(0, 5).every((x) => x === 0);
  if (zero5 && g[5] === 0xffff) return v4FromGroups(g[6]!, g[7]!); // IPv4-mapped
  if (zero5 && g[5] === 0 && (g[6]! !== 0 || g[7]! > 1)) return v4FromGroups(g[6]!, g[7]!); // IPv4-compatible
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4FromGroups(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4FromGroups(g[1]!, g[2]!); // 6to4
  return null;
}

/** Parsed `allow_addresses`: CIDRs (or bare addresses) the proxy may dial even though they are not public. */
export class AddressAllowList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[] = []) {
    for (const raw of cidrs) {
      const [addr, bits] = raw.trim().split("/");
      const family = isIP(addr ?? "");
      if (!family) throw new AddressError("bad_cidr", `allow_addresses: "${raw}" is not an IP address or CIDR`);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
        throw new AddressError("bad_cidr", `allow_addresses: "${raw}" has an invalid prefix length (0-${max})`);
      }
      this.list.addSubnet(addr!, prefix, family === 4 ? "ipv4" : "ipv6");
    }
    this.size = cidrs.length;
  }

  has(addr: string): boolean {
    const family = isIP(addr);
    if (!family) return false;
    if (this.list.check(addr, family === 4 ? "ipv4" : "ipv6")) return true;
    const v4 = embeddedIPv4(addr);
    return v4 !== null && this.list.check(v4, "ipv4");
  }
}

/** Why `addr` is not a public unicast address ("loopback", "private", ...), or null when it is public. */
export function nonPublicReason(addr: string): string | null {
  const family = isIP(addr);
  if (!family) return "not an IP address";
  const v4 = family === 6 ? embeddedIPv4(addr) : addr;
  if (v4 !== null) {
    for (const r of blockedRanges) if (r.family === "ipv4" && r.bl.check(v4, "ipv4")) return r.why;
    if (v4 === "255.255.255.255") return "broadcast";
    if (family === 6) {
      // judged by the embedded IPv4 address, which is public
      return null;
    }
    return null;
  }
  for (const r of blockedRanges) if (r.family === "ipv6" && r.bl.check(addr, "ipv6")) return r.why;
  return null;
}

/** Null when the proxy may dial `addr`, else a human reason naming the address class. */
export function addressRefusal(addr: string, allow: AddressAllowList): string | null {
  if (allow.has(addr)) return null;
  const why = nonPublicReason(addr);
  return why === null ? null : `${addr} is a ${why} address; the network policy's allow_addresses does not include it`;
}
