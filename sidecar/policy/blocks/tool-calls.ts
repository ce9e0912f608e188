// `tool_calls`: allow/deny/hold globs over `params.tool` (deny wins), host globs checked against every URL found
// anywhere in `args` (keys, values, nested, inside longer strings), and `max_args_bytes`. The domain rules also apply
// to http.request's url (deny or abstain: the network block decides those).
import type { BlockEvaluator, BlockVerdict } from "../verdict.ts";
import type { ToolCallsConfig } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { abstain, allow, deny, hold, reason } from "./verdicts.ts";

// The scheme is bounded so that a long run of word characters and dots cannot make the scan quadratic.
const URL_RE = /\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}:\/\/[^\s"'<>`\\]+/g;

/** Every URL-looking substring in a JSON value (keys and values, at any depth; iterative, so deep nesting can
 * neither hide a URL nor overflow the stack). */
export function findUrls(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (v.includes("://")) for (const m of v.matchAll(URL_RE)) out.push(m[0]);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) stack.push(entries[i]![1], entries[i]![0]);
    }
  }
  return out;
}

function hostOf(url: string): string | undefined {
  try {
    const h = new URL(url).hostname.toLowerCase();
    return h.startsWith("[") ? h.slice(1, -1) : h.replace(/\.$/, "");
  } catch {
    return undefined;
  }
}

function checkDomains(domains: NonNullable<ToolCallsConfig["domains"]>, urls: string[], where: string): Reason[] {
  const reasons: Reason[] = [];
  const seen = new Set<string>();
  for (const url of urls) {
    const host = hostOf(url);
    if (host === undefined) {
      reasons.push(
        reason("tool_calls", "domains", `${where} contains a URL that cannot be parsed: ${url.slice(0, 100)}`),
      );
      continue;
    }
    if (seen.has(host)) continue;
    seen.add(host);
    const denied = domains.deny.match(host);
    if (denied)
      reasons.push(reason("tool_calls", "domains", `host ${host} in ${where} matches domains.deny "${denied}"`));
    else if (domains.allow && !domains.allow.test(host))
      reasons.push(reason("tool_calls", "domains", `host ${host} in ${where} is not in domains.allow`));
  }
  return reasons;
}

export function toolCallsEvaluator(cfg: ToolCallsConfig | undefined): BlockEvaluator {
  return (intent): BlockVerdict => {
    if (intent.action === "http.request") {
      if (!cfg?.domains) return abstain("tool_calls");
      const url = intent.params.url;
      const reasons = checkDomains(cfg.domains, typeof url === "string" ? [url] : [], "the request url");
      return reasons.length ? deny("tool_calls", reasons) : abstain("tool_calls");
    }
    if (intent.action !== "tool.call") return abstain("tool_calls");
    if (!cfg)
      return deny("tool_calls", [
        reason("tool_calls", "missing", "the policy has no tool_calls block, so tool calls are denied"),
      ]);
    const tool = intent.params.tool;
    if (typeof tool !== "string") return deny("tool_calls", [reason("tool_calls", "tool", "params.tool is missing")]);
    const args = intent.params.args ?? {};
    const reasons: Reason[] = [];
    const denied = cfg.deny.match(tool);
    if (denied) reasons.push(reason("tool_calls", "deny", `tool ${tool} matches tool_calls.deny "${denied}"`));
    const held = cfg.hold.match(tool);
    if (!denied && !held && !cfg.allow.test(tool))
      reasons.push(reason("tool_calls", "allow", `tool ${tool} is not in tool_calls.allow`));
    if (cfg.maxArgsBytes !== undefined) {
      const size = Buffer.byteLength(JSON.stringify(args), "utf8");
      if (size > cfg.maxArgsBytes)
        reasons.push(
          reason("tool_calls", "max_args_bytes", `args are ${size} bytes, over max_args_bytes ${cfg.maxArgsBytes}`),
        );
    }
    if (cfg.domains) reasons.push(...checkDomains(cfg.domains, findUrls(args), "args"));
    if (reasons.length) return deny("tool_calls", reasons);
    if (held)
      return hold("tool_calls", [
        reason("tool_calls", "hold", `tool ${tool} matches tool_calls.hold "${held}" and needs human review`),
      ]);
    return allow("tool_calls", [reason("tool_calls", "allow", `tool ${tool} is allowed`)]);
  };
}
