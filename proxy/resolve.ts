// Host → checked address. The proxy resolves once, checks the address, and dials exactly that address, so a DNS
// answer that changes between check and connect (rebinding) cannot reach anything the check refused.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { addressRefusal, type AddressAllowList } from "./address.ts";

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

export class TargetRefused extends Error {
  constructor(
    readonly code: "bad_host" | "unresolvable" | "address_refused",
    message: string,
  ) {
    super(message);
    this.name = "TargetRefused";
  }
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Lower-cases a host, strips IPv6 brackets and one trailing dot; throws on anything that is not a host. */
export function normalizeHost(raw: string): string {
  let h = raw.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (isIP(h)) return h;
  if (!HOST_NAME.test(h)) throw new TargetRefused("bad_host", `"${raw}" is not a valid host name`);
  return h;
}

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: Lookup = (host) => lookup(host, { all: true, verbatim: true });

/** Resolves `host` (already normalized) to one address the policy lets the proxy dial. `overrides` are the
 * policy's `resolve` map (host → address). Every address is checked; the first permitted one is returned. */
export async function resolveTarget(
  host: string,
  allow: AddressAllowList,
  overrides: Readonly<Record<string, string>> = {},
  dnsLookup: Lookup = systemLookup,
): Promise<ResolvedTarget> {
  let candidates: { address: string; family: number }[];
  const pinned = Object.hasOwn(overrides, host) ? overrides[host] : undefined;
  if (isIP(host)) candidates = [{ address: host, family: isIP(host) }];
  else if (pinned !== undefined) candidates = [{ address: pinned, family: isIP(pinned) }];
  else {
    try {
      candidates = await dnsLookup(host);
    } catch (err) {
      throw new TargetRefused("unresolvable", `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  let firstRefusal: string | null = null;
  for (const c of candidates) {
    if (c.family !== 4 && c.family !== 6) continue;
    const refusal = addressRefusal(c.address, allow);
    if (refusal === null) return { address: c.address, family: c.family };
    firstRefusal ??= refusal;
  }
  if (firstRefusal) throw new TargetRefused("address_refused", `${host}: ${firstRefusal}`);
  throw new TargetRefused("unresolvable", `cannot resolve ${host}: no usable address`);
}
