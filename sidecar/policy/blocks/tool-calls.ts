// `tool_calls`: allow/deny/hold globs over `params.tool` (deny wins), host globs checked against every host of every
// URL that ../urls.ts reads anywhere in `args` (keys, values, nested, inside longer strings, in any spelling a client
// accepts), and `max_args_bytes`. A URL the clients read differently is denied. The domain rules also apply to
// http.request's url (deny or abstain: the network block decides those).
import type { BlockEvaluator, BlockVerdict } from "../verdict.ts";
import type { ToolCallsConfig } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { abstain, allow, deny, hold, reason } from "./verdicts.ts";
import { readDeclaredUrl, readUrls, type UrlFinding } from "../urls.ts";
import type { RiskConfig } from "../risk.ts";
import { riskReason } from "../risk.ts";
import { callFacts, ruleMatches, ruleReason } from "./scopes.ts";

const clip = (url: string) => (url.length > 100 ? `${url.slice(0, 100)}…` : url);

/** Checks every host of every finding against domains.deny / domains.allow; an ambiguous finding (the clients would
 * contact different hosts, or none can name one) is denied whatever the lists say. */
function checkDomains(
  domains: NonNullable<ToolCallsConfig["domains"]>,
  findings: readonly UrlFinding[],
  where: string,
): Reason[] {
  const reasons: Reason[] = [];
  const seen = new Set<string>();
  for (const f of findings) {
    if (f.ambiguous) {
      const why =
        f.hosts.length > 1
          ? `clients would contact different hosts (${f.hosts.join(", ")})`
          : `its host cannot be determined (${f.error ?? "no client reads one"}${f.hosts.length ? `; ${f.hosts.join(", ")}` : ""})`;
      reasons.push(reason("tool_calls", "domains", `${where} contains an ambiguous URL, ${why}: ${clip(f.text)}`));
    }
    for (const host of f.hosts) {
      if (seen.has(host)) continue;
      seen.add(host);
      const denied = domains.deny.match(host);
      if (denied)
        reasons.push(reason("tool_calls", "domains", `host ${host} in ${where} matches domains.deny "${denied}"`));
      else if (domains.allow && !domains.allow.test(host))
        reasons.push(reason("tool_calls", "domains", `host ${host} in ${where} is not in domains.allow`));
    }
  }
  return reasons;
}

/** The declared url of an http.request as a finding: one host, or ambiguous with the hosts the clients disagree on. */
function declaredFinding(url: string): UrlFinding {
  const r = readDeclaredUrl(url);
  return "error" in r
    ? { text: url, hosts: r.hosts, ambiguous: true, error: r.error }
    : { text: url, host: r.host, hosts: [r.host], ambiguous: false };
}

/** `risk`: the policy's risk classes; when set, every tool-call verdict names the call's class (block `risk`). */
export function toolCallsEvaluator(cfg: ToolCallsConfig | undefined, risk?: RiskConfig): BlockEvaluator {
  return (intent, env): BlockVerdict => {
    if (intent.action === "http.request") {
      if (!cfg?.domains) return abstain("tool_calls");
      const url = intent.params.url;
      const reasons = checkDomains(
        cfg.domains,
        [
          typeof url === "string"
            ? declaredFinding(url)
            : { text: String(url), hosts: [], ambiguous: true, error: "it is not a string" },
        ],
        "the request url",
      );
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
    // tool_calls.rules: by scope (the agent's principal and the tool), tool and risk; deny > hold > allow
    const facts = cfg.rules?.length || risk ? callFacts({ risk }, intent, env) : undefined;
    const ruleHolds: Reason[] = [];
    let ruleAllows: Reason | undefined;
    for (const r of cfg.rules ?? []) {
      if (!ruleMatches(r, tool, facts!)) continue;
      const why = ruleReason("tool_calls", r, `tool ${tool}`, facts!);
      if (r.effect === "deny") reasons.push(why);
      else if (r.effect === "hold") ruleHolds.push(why);
      else ruleAllows ??= why;
    }
    if (!denied && !held && !ruleHolds.length && !ruleAllows && reasons.length === 0 && !cfg.allow.test(tool))
      reasons.push(
        reason(
          "tool_calls",
          "allow",
          `tool ${tool} is not in tool_calls.allow${cfg.rules?.length ? " and no tool_calls.rules allows it" : ""}`,
        ),
      );
    if (cfg.maxArgsBytes !== undefined) {
      const size = Buffer.byteLength(JSON.stringify(args), "utf8");
      if (size > cfg.maxArgsBytes)
        reasons.push(
          reason("tool_calls", "max_args_bytes", `args are ${size} bytes, over max_args_bytes ${cfg.maxArgsBytes}`),
        );
    }
    if (cfg.domains) reasons.push(...checkDomains(cfg.domains, readUrls(args), "args"));
    const named = risk && facts ? [riskReason(facts.risk, intent)] : [];
    if (reasons.length) return deny("tool_calls", [...reasons, ...named]);
    if (held || ruleHolds.length)
      return hold("tool_calls", [
        ...(held
          ? [reason("tool_calls", "hold", `tool ${tool} matches tool_calls.hold "${held}" and needs human review`)]
          : []),
        ...ruleHolds,
        ...named,
      ]);
    return allow("tool_calls", [ruleAllows ?? reason("tool_calls", "allow", `tool ${tool} is allowed`), ...named]);
  };
}
