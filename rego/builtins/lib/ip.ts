// Go net package semantics for IP addresses and CIDR blocks (ParseIP, ParseCIDR, IPNet.Contains, String),
// with addresses as bigints: IPv4 in 32 bits, IPv6 in 128 bits.
// Deliberately separate from the product's address helper (proxy/address.ts, on node:net): the net.* builtins must
// give OPA's answers, and Go differs from Node where policies can see it: ParseIP refuses IPv6 zones
// ("fe80::1%eth0", which node:net accepts), IPv4-mapped IPv6 counts as IPv4 in Contains and String, errors have Go's
// texts, and CIDR arithmetic (cidr_expand, cidr_merge) needs 128-bit values. Do not use this outside rego/.

export class IPError extends Error {}

export interface IP {
  v: bigint;
  bits: 32 | 128;
}

export interface IPNet {
  ip: IP; // as given (for networks built from addresses it may have host bits set)
  prefix: number;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    if (p.length > 1 && p[0] === "0") return undefined; // Go rejects leading zeros
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes("%")) return undefined;
  let tail4: bigint | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    text = s.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = text.split("::");
  if (dbl.length > 2) return undefined;
  const parseGroups = (t: string): number[] | undefined => {
    if (t === "") return [];
    const gs = t.split(":");
    const out: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(dbl[0]!);
  if (!head) return undefined;
  let groups: number[];
  if (dbl.length === 2) {
    const tail = parseGroups(dbl[1]!);
    if (!tail) return undefined;
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    groups = [...head, ...Array(fill).fill(0), ...tail];
  } else groups = head;
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

/** Go net.ParseIP; IPv4 text gives a 32-bit address. */
export function parseIP(s: string): IP | undefined {
  if (s.includes(":")) {
    const v = parseV6(s);
    return v === undefined ? undefined : { v, bits: 128 };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { v, bits: 32 };
}

/** Go net.ParseCIDR: returns the masked network; error text like Go's. */
export function parseCIDR(s: string): IPNet {
  const slash = s.indexOf("/");
  if (slash < 0) throw new IPError(`invalid CIDR address: ${s}`);
  const ip = parseIP(s.slice(0, slash));
  const ps = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(ps) || (ps.length > 1 && ps[0] === "0")) throw new IPError(`invalid CIDR address: ${s}`);
  const prefix = Number(ps);
  if (prefix > ip.bits) throw new IPError(`invalid CIDR address: ${s}`);
  return { ip: { v: ip.v & mask(ip.bits, prefix), bits: ip.bits }, prefix };
}

export function mask(bits: number, prefix: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return all ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/** As a 128-bit IPv4-mapped address when needed (Go stores IPv4 in 16 bytes as ::ffff:a.b.c.d). */
function to16(ip: IP): bigint {
  return ip.bits === 128 ? ip.v : (0xffffn << 32n) | ip.v;
}

/** IPv4 view of an address when it is IPv4 or IPv4-mapped IPv6 (Go's To4). */
function to4(ip: IP): bigint | undefined {
  if (ip.bits === 32) return ip.v;
  return ip.v >> 32n === 0xffffn ? ip.v & 0xffffffffn : undefined;
}

/** Go IPNet.Contains. */
export function contains(n: IPNet, ip: IP): boolean {
  const m = mask(n.ip.bits, n.prefix);
  if (n.ip.bits === 32) {
    const v = to4(ip);
    if (v === undefined) return false;
    return (v & m) === (n.ip.v & m);
  }
  return (to16(ip) & m) === (n.ip.v & m);
}

export function first(n: IPNet): IP {
  return { v: n.ip.v & mask(n.ip.bits, n.prefix), bits: n.ip.bits };
}

export function last(n: IPNet): IP {
  const m = mask(n.ip.bits, n.prefix);
  const all = (1n << BigInt(n.ip.bits)) - 1n;
  return { v: (n.ip.v & m) | (all ^ m), bits: n.ip.bits };
}

/** Go IP.String (IPv6 compressed per RFC 5952, IPv4-mapped shown dotted). */
export function ipString(ip: IP): string {
  const v4 = to4(ip);
  if (v4 !== undefined) return [24n, 16n, 8n, 0n].map((s) => String((v4 >> s) & 255n)).join(".");
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.map((g) => g.toString(16)).join(":");
  const head = groups
    .slice(0, bestStart)
    .map((g) => g.toString(16))
    .join(":");
  const tail = groups
    .slice(bestStart + bestLen)
    .map((g) => g.toString(16))
    .join(":");
  return `${head}::${tail}`;
}

export function netString(n: IPNet): string {
  return `${ipString(n.ip)}/${n.prefix}`;
}

/** Smallest list of CIDRs covering [lo, hi] (netaddr's range-to-CIDR split). */
export function rangeToCIDRs(lo: bigint, hi: bigint, bits: 32 | 128): IPNet[] {
  const out: IPNet[] = [];
  let cur = lo;
  while (cur <= hi) {
    let size = 0;
    while (size < bits) {
      const blk = 1n << BigInt(size + 1);
      if (cur % blk !== 0n || cur + blk - 1n > hi) break;
      size++;
    }
    out.push({ ip: { v: cur, bits }, prefix: bits - size });
    cur += 1n << BigInt(size);
  }
  return out;
}
