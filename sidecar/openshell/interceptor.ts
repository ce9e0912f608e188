// GatewayInterceptor.Evaluate, `validate` phase on CreateSandbox / UpdateConfig: a sandbox policy may not leave a
// governed host (one the sidecar policy lists in `require_attestation`) outside this middleware. Rejected:
//   - an endpoint for a governed host with `tls: skip` (no L7 inspection, so no middleware runs on it);
//   - an endpoint for a governed host that no entry of our middleware selects;
//   - any entry of our middleware with `on_error: fail_open` (an unreachable sidecar would let requests through).
// The proposed operation's layout is read tolerantly: every object with a string `host` is an endpoint, every
// object listed under a `middleware` key is a middleware selection (`name`, host globs in `hosts` / `host` /
// `destinations`, `on_error`). See docs/openshell.md for the policy shape this expects.
import { compileHostGlobs, wildcardMatch } from "../../protocol/glob.ts";
import type { JsonObject, JsonValue } from "./wire.ts";

export interface InterceptorVerdict {
  allowed: boolean;
  reason: string;
  problems: string[];
}

interface Endpoint {
  host: string;
  tls: string | null;
  where: string;
}

interface Selection {
  name: string;
  hosts: string[];
  onError: string | null;
  where: string;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: JsonValue | undefined): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return [];
}

function collect(v: JsonValue, where: string, endpoints: Endpoint[], selections: Selection[], depth = 0): void {
  if (depth > 64) return;
  if (Array.isArray(v)) {
    v.forEach((item, i) => collect(item, `${where}[${i}]`, endpoints, selections, depth + 1));
    return;
  }
  if (!isObject(v)) return;
  if (typeof v.host === "string") {
    endpoints.push({ host: v.host.toLowerCase(), tls: typeof v.tls === "string" ? v.tls.toLowerCase() : null, where });
  }
  for (const [key, child] of Object.entries(v)) {
    if (key === "middleware" || key === "middlewares") {
      const entries: [string, JsonValue][] = Array.isArray(child)
        ? child.map((c, i) => [`${where}.${key}[${i}]`, c])
        : isObject(child)
          ? Object.entries(child).map(([k, c]) => [`${where}.${key}.${k}`, isObject(c) && c.name === undefined ? { ...c, name: k } : c])
          : [];
      for (const [w, entry] of entries) {
        if (!isObject(entry)) continue;
        selections.push({
          name: typeof entry.name === "string" ? entry.name : "",
          hosts: [...strings(entry.hosts), ...strings(entry.host), ...strings(entry.destinations), ...strings(entry.host_globs)].map(
            (h) => h.toLowerCase(),
          ),
          onError: typeof entry.on_error === "string" ? entry.on_error.toLowerCase() : null,
          where: w,
        });
      }
      continue;
    }
    collect(child, `${where}.${key}`, endpoints, selections, depth + 1);
  }
}

/** Whether an endpoint host (possibly a glob itself) may reach a governed host: an exact host is tested against the
 * globs; a glob endpoint is governed when a governed glob matches its suffix, or it matches a governed name. */
function endpointGoverned(host: string, governed: readonly string[]): boolean {
  const set = compileHostGlobs(governed);
  if (!/[*?]/u.test(host)) return set.test(host);
  const probe = host.replace(/\*/gu, "x-probe").replace(/\?/gu, "x");
  if (set.test(probe)) return true;
  return governed.some((g) => !/[*?]/u.test(g) && wildcardMatch(host, g.toLowerCase()));
}

function selects(sel: Selection, host: string): boolean {
  if (sel.hosts.length === 0) return false;
  if (sel.hosts.includes("*")) return true;
  if (!/[*?]/u.test(host)) return compileHostGlobs(sel.hosts).test(host);
  // a glob endpoint is covered when one selector is the same glob or a wider one
  const probe = host.replace(/\*/gu, "x-probe").replace(/\?/gu, "x");
  return sel.hosts.includes(host) || compileHostGlobs(sel.hosts).test(probe);
}

export function validateSandboxPolicy(opts: {
  proposed: JsonObject | null;
  governed: readonly string[];
  middlewareName: string;
}): InterceptorVerdict {
  const endpoints: Endpoint[] = [];
  const selections: Selection[] = [];
  if (opts.proposed) collect(opts.proposed, "$", endpoints, selections);
  const ours = selections.filter((s) => s.name === opts.middlewareName);
  const problems: string[] = [];
  for (const s of ours) {
    if (s.onError === "fail_open") {
      problems.push(`${s.where}: middleware ${opts.middlewareName} has on_error: fail_open; it must fail closed`);
    }
  }
  for (const e of endpoints) {
    if (!endpointGoverned(e.host, opts.governed)) continue;
    if (e.tls === "skip") {
      problems.push(`${e.where}: ${e.host} requires attestations and has tls: skip (no middleware can run on it)`);
      continue;
    }
    if (!ours.some((s) => selects(s, e.host))) {
      problems.push(`${e.where}: ${e.host} requires attestations but middleware ${opts.middlewareName} does not select it`);
    }
  }
  return problems.length === 0
    ? { allowed: true, reason: "", problems }
    : { allowed: false, reason: `intent-sidecar: ${problems.join("; ")}`, problems };
}
