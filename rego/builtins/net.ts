// net.cidr_* builtins (OPA topdown/cidr.go) on the Go-compatible IP library.
import type { Value } from "../value.ts";
import { isObject, isSet, makeSet } from "../value.ts";
import type { BuiltinContext, BuiltinDef } from "./api.ts";
import { A, B, S, T, anyOf, fn, plainErr, str } from "./util.ts";
import * as ip from "./lib/ip.ts";

function netOperand(a: Value[], i: number): ip.IPNet {
  return ip.parseCIDR(str(a, i));
}

function cidrContains(aStr: string, bStr: string): boolean {
  const n = ip.parseCIDR(aStr);
  const addr = ip.parseIP(bStr);
  if (addr) return ip.contains(n, addr);
  let m: ip.IPNet;
  try {
    m = ip.parseCIDR(bStr);
  } catch {
    throw plainErr(`not a valid textual representation of an IP address or CIDR: ${bStr}`);
  }
  if (!ip.contains(n, ip.first(m))) return false;
  return ip.contains(n, ip.last(m));
}

function matchOperand(operand: number, v: Value, each: (cidr: Value, index: Value) => void): void {
  const cidrOf = (x: Value): Value => {
    if (typeof x === "string") return x;
    if (Array.isArray(x) && x.length > 0) return x[0]!;
    throw plainErr(`operand ${operand}: element must be string or non-empty array`);
  };
  if (typeof v === "string") each(v, v);
  else if (Array.isArray(v)) v.forEach((x, i) => each(cidrOf(x), i));
  else if (isSet(v)) for (const x of v.values()) each(cidrOf(x), x);
  else if (isObject(v)) for (const [k, x] of v.entries()) each(cidrOf(x), k);
}

function toBytes(a: ip.IP): number[] {
  const n = a.bits / 8;
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Number((a.v >> BigInt(i * 8)) & 255n));
  return out;
}

function cmpBytes(a: ip.IP, b: ip.IP): number {
  const x = toBytes(a);
  const y = toBytes(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/** IPv4 address without a prefix gets its classful default mask, as Go's IP.DefaultMask does. */
function generateIPNet(x: Value): ip.IPNet {
  if (typeof x !== "string") throw plainErr("element must be string");
  const addr = ip.parseIP(x);
  if (!addr) return ip.parseCIDR(x);
  if (addr.bits === 32) {
    const firstOctet = Number(addr.v >> 24n);
    const prefix = firstOctet < 0x80 ? 8 : firstOctet < 0xc0 ? 16 : firstOctet < 0xe0 ? 24 : 32;
    return { ip: addr, prefix };
  }
  throw plainErr("IPv6 invalid: needs prefix length");
}

interface Range {
  first: ip.IP;
  last: ip.IP;
  net?: ip.IPNet;
}

function merge(nets: ip.IPNet[]): ip.IPNet[] {
  if (nets.length === 0) return [];
  let ranges: Range[] = nets.map((n) => ({ first: ip.first(n), last: ip.last(n), net: n }));
  ranges.sort((a, b) => cmpBytes(a.last, b.last) || cmpBytes(a.first, b.first));
  for (let i = ranges.length - 1; i > 0; i--) {
    const cur = ranges[i]!;
    const prevRange = ranges[i - 1]!;
    const prevIP = cur.first.v === 0n ? undefined : { v: cur.first.v - 1n, bits: cur.first.bits };
    if (prevIP === undefined || cmpBytes(prevIP, prevRange.last) <= 0) {
      const first = cmpBytes(prevRange.first, cur.first) < 0 ? prevRange.first : cur.first;
      ranges[i - 1] = { first, last: cur.last };
      ranges = [...ranges.slice(0, i), ...ranges.slice(i + 1)];
    }
  }
  const out: ip.IPNet[] = [];
  for (const r of ranges) {
    if (r.net) out.push(r.net);
    else if (r.first.bits === r.last.bits) out.push(...ip.rangeToCIDRs(r.first.v, r.last.v, r.first.bits));
    else out.push(...ip.rangeToCIDRs(r.first.v, r.last.v, 128));
  }
  return out;
}

const MAX_EXPAND = 1n << 22n;

function expand(s: string, ctx: BuiltinContext): Value {
  const n = ip.parseCIDR(s);
  const lo = ip.first(n).v;
  const hi = ip.last(n).v;
  if (hi - lo + 1n > MAX_EXPAND)
    throw plainErr(`network too large to expand: ${s} has ${hi - lo + 1n} addresses (limit ${MAX_EXPAND})`);
  const out = makeSet([]);
  let k = 0;
  for (let v = lo; v <= hi; v++) {
    if (++k % 4096 === 0) ctx.checkBudget();
    out.add(ip.ipString({ v, bits: n.ip.bits }));
  }
  return out;
}

export const netBuiltins: BuiltinDef[] = [
  fn("net.cidr_contains", [S, S], B, (a) => cidrContains(str(a, 0), str(a, 1))),
  fn("net.cidr_overlap", [S, S], B, (a) => cidrContains(str(a, 0), str(a, 1)), { deprecated: true }),
  fn("net.cidr_intersects", [S, S], B, (a) => {
    const x = netOperand(a, 0);
    const y = netOperand(a, 1);
    return ip.contains(x, y.ip) || ip.contains(y, x.ip);
  }),
  fn("net.cidr_contains_matches", [A, A], T.set(T.array(A)), (a) => {
    const out = makeSet([]);
    matchOperand(1, a[0]!, (c1, i1) => {
      matchOperand(2, a[1]!, (c2, i2) => {
        if (typeof c1 !== "string") throw plainErr(`operand 1 must be string but got ${typeof c1}`);
        if (typeof c2 !== "string") throw plainErr(`operand 2 must be string but got ${typeof c2}`);
        if (cidrContains(c1, c2)) out.add([i1, i2]);
      });
    });
    return out;
  }),
  fn("net.cidr_expand", [S], T.set(S), (a, ctx) => expand(str(a, 0), ctx)),
  fn("net.cidr_is_valid", [A], B, (a) => {
    if (typeof a[0] !== "string") return false;
    try {
      ip.parseCIDR(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  fn("net.cidr_merge", [anyOf(T.array(S), T.set(S))], T.set(S), (a) => {
    const v = a[0]!;
    const xs = Array.isArray(v) ? v : isSet(v) ? v.values() : undefined;
    if (!xs) throw plainErr("operand must be an array");
    return makeSet(merge(xs.map(generateIPNet)).map(ip.netString));
  }),
];
