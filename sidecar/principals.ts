// Principals: the tenant (and optionally team) an agent belongs to, set by the operator in the sidecar's config file
// (`principals:`). Soft limits with `scope: tenant` / `scope: team` key on these, never on what the intent carries
// (`context.tenant` is written by the agent: an agent could spread spend over invented tenants). An intent whose
// `context.tenant` / `context.team` contradicts its agent's principal is refused before anything is recorded.
import type { Intent } from "../protocol/index.ts";

export interface Principal {
  tenant: string;
  team?: string;
}

/** agent name → principal. */
export type Principals = Readonly<Record<string, Principal>>;

/** How the pipeline and the ledger look an agent's principal up. */
export type PrincipalLookup = (agent: string) => Principal | undefined;

export function principalLookup(principals: Principals | undefined): PrincipalLookup {
  const map = new Map(Object.entries(principals ?? {}));
  return (agent) => map.get(agent);
}

/** Validates the config file's `principals` mapping; throws an Error naming the path of the first problem. */
export function parsePrincipals(raw: unknown, where = "principals"): Record<string, Principal> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${where} must be a mapping of agent name to {tenant, team?}`);
  }
  const out: Record<string, Principal> = {};
  for (const [agent, v] of Object.entries(raw as Record<string, unknown>)) {
    const at = `${where}.${agent}`;
    if (agent.trim() === "") throw new Error(`${where}: agent names must be non-empty`);
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new Error(`${at} must be a mapping with tenant (and optionally team)`);
    }
    const entry = v as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((k) => k !== "tenant" && k !== "team");
    if (unknown.length > 0) throw new Error(`${at}: unknown key(s) ${unknown.join(", ")} (known: tenant, team)`);
    if (typeof entry.tenant !== "string" || entry.tenant.trim() === "") {
      throw new Error(`${at}.tenant must be a non-empty string`);
    }
    const p: Principal = { tenant: entry.tenant };
    if (entry.team !== undefined) {
      if (typeof entry.team !== "string" || entry.team.trim() === "") {
        throw new Error(`${at}.team must be a non-empty string when present`);
      }
      p.team = entry.team;
    }
    out[agent] = p;
  }
  return out;
}

/**
 * Why an intent is refused for contradicting its agent's principal, or undefined when it does not. An agent without
 * a principal has nothing to contradict; an intent without `context.tenant` / `context.team` is fine.
 */
export function principalConflict(intent: Intent, lookup: PrincipalLookup | undefined): string | undefined {
  const p = lookup?.(intent.agent);
  if (!p) return undefined;
  const ctx = (intent.context ?? {}) as Record<string, unknown>;
  if (ctx.tenant !== undefined && ctx.tenant !== p.tenant) {
    return `context.tenant ${JSON.stringify(ctx.tenant)} contradicts the principal of agent ${intent.agent} (tenant ${p.tenant})`;
  }
  if (ctx.team !== undefined && ctx.team !== p.team) {
    return `context.team ${JSON.stringify(ctx.team)} contradicts the principal of agent ${intent.agent} (${p.team === undefined ? "no team" : `team ${p.team}`})`;
  }
  return undefined;
}
