// The `network` policy block: Rego rules over the SPEC section 6 input document, used by the proxy for every request
// and by the decision pipeline for `http.request` intents (same rules, same input shape), so an agent can obtain the
// attestation for a governed request before sending it. Bad Rego fails the policy load with file:line:col.
import type { Intent } from "../../protocol/index.ts";
import { buildInput, rfc3339, isJsonContentType } from "../../proxy/input.ts";
import type { NetworkInput } from "../../proxy/input.ts";
import { proxyPolicy, type ProxyPolicy } from "../../proxy/policy.ts";
import { modulesInputUse } from "../../proxy/input-use.ts";
import { normalizeHost } from "../../proxy/resolve.ts";
import { PolicyError } from "./errors.ts";
import { readDeclaredUrl } from "./urls.ts";
import type { BlockEvaluator, BlockVerdict } from "./verdict.ts";
import { compile, RegoBuiltinError, RegoError, type CompiledPolicy } from "../../rego/index.ts";
import { fromJSON, toJSON, type Value } from "../../rego/value.ts";
import { loadLibrariesFor } from "../../rego/builtins/lazy.ts";

export interface NetworkSpec {
  /** Rego package whose `allow`/`deny`/`deny_reason` decide, default `nemoclaw.network`. */
  package: string;
  /** Rego modules: files matched by `network.modules` (tests excluded) and inline ```rego blocks of a Markdown policy. */
  modules: { path: string; source: string }[];
  /** `network.data` files merged into `data`. */
  data: object;
  /** Host globs whose requests must carry an attestation. */
  require_attestation: string[];
  /** CIDRs the proxy may dial even though they are loopback or private. */
  allow_addresses: string[];
  /** host → address overrides (like curl --resolve). */
  resolve: Record<string, string>;
}

export interface NetworkBlock {
  spec: NetworkSpec;
  /** The block evaluator for `http.request` intents (abstains for other actions). */
  evaluator: BlockEvaluator;
  /** Evaluates the SPEC section 6 input document. */
  decide(input: unknown): Promise<{ allow: boolean; reasons: string[] }>;
  /** The same rules packaged for the proxy (address allowances, resolve overrides, attestation globs). */
  proxy: ProxyPolicy;
}

/** The input document for an `http.request` intent: what the proxy will see when the request is sent. The source is
 * unknown at intent time (no connection yet), and no attestation exists yet. */
export function intentInput(intent: Intent, now: Date): NetworkInput {
  const p = intent.params as { method: string; url: string; headers?: Record<string, string>; body?: unknown };
  // the reader checks that curl and Python would contact the host WHATWG names; a URL they disagree on is no request
  const url = readDeclaredUrl(p.url);
  if ("error" in url) throw new Error(`the request url ${p.url.slice(0, 100)} is ambiguous: ${url.error}`);
  // No prototype: a header named __proto__ or constructor is a plain name, as the proxy shows it.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(p.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: unknown = p.body ?? null;
  // a JSON body declared as text is what the proxy would parse
  if (typeof body === "string" && isJsonContentType(headers["content-type"])) {
    try {
      body = JSON.parse(body);
    } catch {
      // stays text
    }
  }
  if (headers.host === undefined) headers.host = url.authority;
  const input = buildInput({
    method: p.method,
    host: normalizeHost(url.host),
    port: url.port,
    pathAndQuery: url.pathAndQuery,
    headers,
    body,
    source: { binary: null, pid: null, sandbox_id: null },
    attestation: null,
    now,
  });
  input.timestamp = rfc3339(now);
  return input;
}

type Rules = ((input: unknown) => Promise<{ allow: boolean; reasons: string[] }>) & { deterministic: boolean };

/** Whether the rules' answer depends only on input and data: no builtin whose result can change between calls
 * (time.now_ns, rand.intn, uuid.rfc4122, http.send, JWT and certificate checks against the clock, ...) is called, and
 * none is even named in the sources (conservative: a mention in a comment or a `with` also counts). */
function rulesDeterministic(compiled: CompiledPolicy, sources: string[]): boolean {
  const names = new Set<string>();
  for (const b of compiled.builtins.values()) if (b.nondeterministic) names.add(b.name);
  for (const name of names) {
    const last = name.slice(name.lastIndexOf(".") + 1);
    if (sources.some((src) => src.includes(last))) return false;
  }
  const seen = new Set<object>();
  const calls = (x: unknown): boolean => {
    if (x === null || typeof x !== "object" || seen.has(x)) return false;
    seen.add(x);
    if (Array.isArray(x)) return x.some(calls);
    const o = x as { t?: unknown; op?: unknown };
    if (o.t === "call" && typeof o.op === "string" && names.has(o.op)) return true;
    return Object.values(o).some(calls);
  };
  return !calls(compiled.modules);
}

/** Compiles the modules; the decision is `data.<pkg>.allow == true` and no `deny` / `deny_reason` messages. */
async function compileRules(spec: NetworkSpec): Promise<Rules> {
  let compiled: CompiledPolicy;
  try {
    compiled = compile(spec.modules);
  } catch (e) {
    throw regoLoadError(e);
  }
  // graphql / x509 builtins' libraries load here, only when the rules call them (not on the request path)
  await loadLibrariesFor(compiled);
  const pkg = spec.package.split(".");
  const data = fromJSON(spec.data);
  const messages = (v: Value | undefined): string[] => {
    if (v === undefined) return [];
    const js = toJSON(v);
    const list = Array.isArray(js) ? js : [js];
    return list.map((m) => (typeof m === "string" ? m : JSON.stringify(m)));
  };
  // Strict builtin errors (OPA's --strict-builtin-errors): a failing builtin call anywhere in the rules raises instead
  // of making a deny rule silently undefined (`to_number(" 5000")` must not switch a deny off). Whatever throws is
  // turned into a denial by compileNetwork's decide. allow is read last and only as the boolean true.
  const rules = async (input: unknown) => {
    const d = compiled.decide(pkg, { input, data, strictBuiltinErrors: true });
    const reasons = [...messages(d.deny), ...messages(d.deny_reason)];
    const allow = reasons.length === 0 && d.allow === true;
    return { allow, reasons };
  };
  const deterministic = rulesDeterministic(
    compiled,
    spec.modules.map((m) => m.source),
  );
  return Object.assign(rules, { deterministic });
}

/** The denial reason for a Rego evaluation error: module file and line, the rule when known, OPA's code and message,
 * e.g. `network rules failed: egress.rego:12: rule data.nemoclaw.network.deny: eval_builtin_error: to_number:
 * strconv.ParseFloat: parsing " 5000": invalid syntax (strict mode: builtin errors deny)`. */
export function evaluationFailure(e: unknown): string {
  if (e instanceof RegoError) {
    const where = e.location ? `${e.location.file}:${e.location.row}: ` : "";
    const rule = e.rule ? `rule ${e.rule}: ` : "";
    const why = e instanceof RegoBuiltinError ? " (strict mode: builtin errors deny)" : " (evaluation errors deny)";
    return `network rules failed: ${where}${rule}${e.code}: ${e.detail}${why}`;
  }
  let msg: string;
  try {
    msg = (e as Error)?.message ?? String(e);
  } catch {
    msg = "unknown error";
  }
  return `network rules failed: ${msg} (evaluation errors deny)`;
}

/** A Rego compile error as a policy error at the module's file:line:col. */
function regoLoadError(e: unknown): Error {
  const errs: {
    message: string;
    code?: string;
    detail?: string;
    location?: { file: string; row: number; col: number };
  }[] = (e as { errors?: never[] })?.errors ?? [e as never];
  return new PolicyError(
    "policy_invalid",
    errs.map((er) => ({
      file: er.location?.file ?? "",
      line: er.location?.row ?? 0,
      column: er.location?.col ?? 0,
      path: "network.modules",
      message: er.detail !== undefined ? `${er.code}: ${er.detail}` : String(er.message ?? er),
    })),
  );
}

export async function compileNetwork(spec: NetworkSpec): Promise<NetworkBlock> {
  const rules = await compileRules(spec);
  // fail closed: an evaluation error is a denial with the error as its reason; an answer is allow only when the rules
  // returned normally with allow === true and no reasons
  const decide = async (input: unknown): Promise<{ allow: boolean; reasons: string[] }> => {
    try {
      const d = await rules(input);
      if (d.allow === true && d.reasons.length === 0) return { allow: true, reasons: [] };
      return { allow: false, reasons: d.reasons };
    } catch (e) {
      return { allow: false, reasons: [evaluationFailure(e)] };
    }
  };

  // from the compiled rules (imports, aliases, `input.request["body"]`, `walk(input)` ... all count): whether they may
  // read the body (then bodies they cannot see are refused), and whether they decide upgrade requests on purpose
  const inputUse = modulesInputUse(spec.modules);
  let proxy: ProxyPolicy;
  try {
    proxy = proxyPolicy({
      decide,
      requireAttestation: spec.require_attestation,
      allowAddresses: spec.allow_addresses,
      resolve: spec.resolve,
      inspectsBody: inputUse.body,
      upgrades: inputUse.upgradeHeader,
      deterministic: rules.deterministic,
    });
  } catch (e) {
    throw new PolicyError("policy_invalid", [
      { file: "", line: 0, column: 0, path: "network.allow_addresses", message: (e as Error).message },
    ]);
  }

  const evaluator: BlockEvaluator = async (intent, env): Promise<BlockVerdict> => {
    if (intent.action !== "http.request") return { block: "network", effect: "abstain", reasons: [] };
    const input = intentInput(intent, env.now);
    const d = await decide(input);
    if (d.allow && d.reasons.length === 0) return { block: "network", effect: "allow", reasons: [] };
    const reasons = d.reasons.length
      ? d.reasons.map((message) => ({ block: "network", rule: "rules", message }))
      : [
          {
            block: "network",
            rule: "rules",
            message: `no network rule allows ${input.request.method} ${input.request.host}${input.request.path}`,
          },
        ];
    return { block: "network", effect: "deny", reasons };
  };

  return { spec, evaluator, decide, proxy };
}
