// What an intent does, in words an operator reads before approving it: "Send 2,000 USDC to vendor-a (0x1111…1111)
// on Base". One module for the console, webhooks and the CLI. EVM meaning comes from the effects module (the same
// decoding the decision used); names from the policy (evm.labels, address-list comments, token symbols).
import type { Intent } from "../../protocol/index.ts";
import type { LoadedPolicy } from "./load.ts";
import { buildSelectorMap, intentEffects, type EvmEffect, type SelectorMap } from "./effects/index.ts";
import { CHAIN_NAMES } from "./schema.ts";

export interface Summary {
  /** One line per effect (EVM) or one line (other actions). */
  lines: string[];
  /** The lines joined: what a notification or a card title shows. */
  text: string;
}

const CHAINS = new Map<number, string>();
for (const [name, id] of Object.entries(CHAIN_NAMES)) if (!CHAINS.has(id)) CHAINS.set(id, name);
const chainName = (id: number) => {
  const n = CHAINS.get(id);
  return n ? n.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => `${d ? " " : ""}${c.toUpperCase()}`) : `chain ${id}`;
};

const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;

/** Thousands separators and no trailing zeros: 2000000000 units of a 6-decimal token → "2,000". */
export function formatUnitsGrouped(units: bigint, decimals: number): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const base = 10n ** BigInt(decimals);
  const whole = (abs / base).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = decimals > 0 ? (abs % base).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** A compact, bounded rendering of JSON for summaries: {id: r1, amount: 120}. */
export function compactJson(v: unknown, budget = 160): string {
  const out = render(v, 3);
  return out.length > budget ? `${out.slice(0, budget - 1)}…` : out;
}
function render(v: unknown, depth: number): string {
  if (v === null || typeof v !== "object") {
    if (typeof v === "string") return /^[\w.@/:-]{1,40}$/.test(v) ? v : JSON.stringify(v.length > 40 ? `${v.slice(0, 39)}…` : v);
    return String(v);
  }
  if (depth === 0) return Array.isArray(v) ? "[…]" : "{…}";
  if (Array.isArray(v)) return `[${v.slice(0, 5).map((x) => render(x, depth - 1)).join(", ")}${v.length > 5 ? ", …" : ""}]`;
  const entries = Object.entries(v);
  return `{${entries
    .slice(0, 8)
    .map(([k, x]) => `${k}: ${render(x, depth - 1)}`)
    .join(", ")}${entries.length > 8 ? ", …" : ""}}`;
}

export class Summarizer {
  private readonly selectors: SelectorMap;
  constructor(private readonly policy: Pick<LoadedPolicy, "config" | "labels"> | undefined) {
    this.selectors = buildSelectorMap(policy?.config.evm?.abis ?? []);
  }

  /** vendor-a (0x1111…1111), or the short address alone. */
  who(address: string): string {
    const a = address.toLowerCase();
    const label = this.policy?.labels.get(a) ?? this.tokenAt(a)?.symbol;
    return label ? `${label} (${short(a)})` : short(a);
  }

  private tokenAt(address: string, chainId?: number) {
    for (const t of this.policy?.config.evm?.tokens.values() ?? [])
      if (t.address.toLowerCase() === address && (chainId === undefined || t.chain === chainId)) return t;
    return undefined;
  }

  private amount(token: string, units: bigint, chainId: number): string {
    const t = this.tokenAt(token, chainId);
    return t ? `${formatUnitsGrouped(units, t.decimals)} ${t.symbol}` : `${formatUnitsGrouped(units, 0)} units of token ${short(token)}`;
  }

  private tokenName(token: string, chainId: number): string {
    return this.tokenAt(token, chainId)?.symbol ?? `token ${short(token)}`;
  }

  private effectLine(e: EvmEffect, chainId: number): string | undefined {
    switch (e.kind) {
      case "native":
        return `Send ${formatUnitsGrouped(e.amount, 18)} ETH to ${this.who(e.to)}`;
      case "transfer":
        return e.via.startsWith("permit2.signature")
          ? `Let ${this.who(e.to)} take up to ${this.amount(e.token, e.amount, chainId)} (Permit2 signature transfer)`
          : `Send ${this.amount(e.token, e.amount, chainId)} to ${this.who(e.to)}${e.from ? ` from ${this.who(e.from)}` : ""}`;
      case "approval":
        if (e.operator) return `Let ${this.who(e.spender)} move every ${this.tokenName(e.token, chainId)} asset (operator grant)`;
        return `Approve ${this.who(e.spender)} to spend ${e.unlimited ? `unlimited ${this.tokenName(e.token, chainId)}` : this.amount(e.token, e.amount, chainId)}`;
      case "nft_transfer":
        return `Send ${e.amount === 1n ? "" : `${e.amount} of `}NFT #${e.id} of ${this.who(e.token)} to ${this.who(e.to)}`;
      case "delegation":
        return /^0x0{40}$/.test(e.delegate)
          ? "Clear this account's EIP-7702 delegation"
          : `Delegate this account's code to ${this.who(e.delegate)} (EIP-7702${e.chainId === 0 ? ", every chain" : ""})`;
      case "create":
        return `Deploy a contract (${e.initCodeBytes} bytes of init code)`;
      case "fee":
        return e.ceiling !== undefined ? `Pay at most ${formatUnitsGrouped(e.ceiling, 18)} ETH in fees` : undefined;
      case "call":
        return `Call ${e.function}${e.contract ? ` on ${this.who(e.contract)}` : ""}`;
      case "unknown":
        return `Not understood: ${e.message}`;
    }
  }

  summarize(intent: Intent): Summary {
    const lines = this.lines(intent);
    return { lines, text: lines.join("; ") };
  }

  private lines(intent: Intent): string[] {
    const p = intent.params;
    if (intent.action === "evm.transaction" || intent.action === "evm.typed_data") {
      try {
        const fx = intentEffects(intent, {
          selectors: this.selectors,
          denyUnknownCalldata: true,
          typedDataAllowed: (primaryType, contract) =>
            (this.policy?.config.evm?.allowTypedData ?? []).some(
              (t) => t.primaryType === primaryType && (t.contract === undefined || t.contract === contract),
            ),
        });
        const on = ` on ${chainName(fx.chainId)}`;
        const sign = fx.operation === "signTypedData" ? "Sign: " : "";
        const lines = fx.effects
          .map((e) => this.effectLine(e, fx.chainId))
          .filter((l): l is string => l !== undefined)
          .map((l, i) => (i === 0 ? `${sign}${l}${on}` : l));
        return lines.length ? lines : [`${sign}An EVM ${fx.operation === "transaction" ? "transaction" : "signature"} that moves nothing${on}`];
      } catch (e) {
        return [`An ${intent.action} that cannot be read: ${(e as Error).message.split("\n")[0]}`];
      }
    }
    if (intent.action === "tool.call") return [`Call ${String(p.tool)} with ${compactJson(p.args ?? {})}`];
    if (intent.action === "http.request") {
      let target = String(p.url);
      try {
        const u = new URL(target);
        target = `${u.protocol}//${u.host}${u.pathname}`; // no query: it may carry secrets
      } catch {
        target = target.slice(0, 100);
      }
      return [`${String(p.method)} ${target}`];
    }
    return [`${intent.action} with ${compactJson(p)}`];
  }
}
