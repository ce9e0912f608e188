// Scopes: where a call comes from and what it reaches, `org:<tenant>/team:<team>/server:<server>/tool:<tool>`.
// Tenant and team are the agent's principal (sidecar config `principals`), never the intent's context (the agent
// writes that). Server and tool come from a tool call's name `server.tool` (the MCP gateway names tools the same
// way); other actions have neither. A missing piece is MISSING (`-`), which no wildcard matches: a pattern must say
// `team:-` to mean "agents without a team", so `team:*` never catches them by accident.
//
// Scope patterns are `/`-separated `key:glob` segments (org, team, server, tool; any order, each at most once); an
// omitted key matches anything, missing pieces included. Each segment is matched on its own with the project's one
// glob matcher (protocol/glob.ts), so a `*` never crosses `/`: matching is per field, never on the joined string.
import type { Intent } from "../../protocol/index.ts";
import type { Principal } from "../principals.ts";
import { compileGlobs, globProblem, type GlobSet } from "./glob.ts";

export const SCOPE_KEYS = ["org", "team", "server", "tool"] as const;
export type ScopeKey = (typeof SCOPE_KEYS)[number];

/** The placeholder of a missing piece in scope strings and the only pattern that matches one. */
export const MISSING = "-";

/** One call's scope; an absent field is missing (no principal, no team, not a tool call). */
export type CallScope = Partial<Record<ScopeKey, string>>;

/** The scope of an intent: tenant/team from the principal, server/tool from a tool call's `server.tool` name. */
export function callScope(intent: Intent, principal: Principal | undefined): CallScope {
  const s: CallScope = {};
  if (principal) {
    s.org = principal.tenant;
    if (principal.team !== undefined) s.team = principal.team;
  }
  const tool = intent.action === "tool.call" ? intent.params.tool : undefined;
  if (typeof tool === "string") {
    const dot = tool.indexOf(".");
    if (dot > 0) {
      s.server = tool.slice(0, dot);
      s.tool = tool.slice(dot + 1);
    }
  }
  return s;
}

/** `org:acme/team:payments/server:stripe/tool:refund`, missing pieces as `-`. `%` and `/` inside a value (a tenant
 * name may hold one) are percent-encoded so the string reads back unambiguously; matching never uses this string. */
export function scopeString(s: CallScope): string {
  const enc = (v: string | undefined) => (v === undefined ? MISSING : v.replace(/%/g, "%25").replace(/\//g, "%2F"));
  return SCOPE_KEYS.map((k) => `${k}:${enc(s[k])}`).join("/");
}

export interface ScopePattern {
  source: string;
  segments: { key: ScopeKey; glob: string; set: GlobSet }[];
}

/** Parses and validates a scope pattern; an error says what to fix and where (`index`: offset in the string). */
export function parseScopePattern(source: string): { pattern: ScopePattern } | { error: string; index: number } {
  if (source.length === 0) return { error: 'is empty; write segments such as "org:acme/team:*"', index: 0 };
  const segments: ScopePattern["segments"] = [];
  let at = 0;
  for (const seg of source.split("/")) {
    const colon = seg.indexOf(":");
    const key = colon < 0 ? seg : seg.slice(0, colon);
    if (colon < 0 || !(SCOPE_KEYS as readonly string[]).includes(key)) {
      return {
        error:
          `segment ${JSON.stringify(seg)} of scope ${JSON.stringify(source)} is not key:glob with a key among ` +
          `${SCOPE_KEYS.join(", ")} (e.g. "org:acme/team:*/server:jira/tool:read_*")`,
        index: at,
      };
    }
    if (segments.some((s) => s.key === key))
      return { error: `scope ${JSON.stringify(source)} names ${key} twice; give each key once`, index: at };
    const glob = seg.slice(colon + 1);
    const problem = globProblem(glob);
    if (problem) return { error: `${key} in scope ${JSON.stringify(source)}: ${problem}`, index: at + colon + 1 };
    // tool and server names match case-insensitively like tool_calls globs; tenants and teams as the config writes them
    const set = compileGlobs([glob], { caseInsensitive: key === "server" || key === "tool" });
    segments.push({ key: key as ScopeKey, glob, set });
    at += seg.length + 1;
  }
  return { pattern: { source, segments } };
}

/** Parses a pattern the schema already validated (throws on a bad one: a programming error). */
export function compileScopePattern(source: string): ScopePattern {
  const r = parseScopePattern(source);
  if ("error" in r) throw new Error(`scope ${source}: ${r.error}`);
  return r.pattern;
}

/** Whether a call's scope matches: every segment of the pattern matches its field. A missing field matches only the
 * literal `-`; a present field never matches `-`. */
export function matchScope(p: ScopePattern, s: CallScope): boolean {
  for (const seg of p.segments) {
    const v = s[seg.key];
    if (v === undefined) {
      if (seg.glob !== MISSING) return false;
    } else if (seg.glob === MISSING || !seg.set.test(v)) return false;
  }
  return true;
}

/** Whether a pattern string is a scope pattern (has a `key:` segment) rather than a name glob: names of tools and
 * actions cannot contain `:`. */
export function isScopePattern(s: string): boolean {
  return s.includes(":");
}
