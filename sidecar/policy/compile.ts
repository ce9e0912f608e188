// Turns the validated raw policy into PolicyConfig: units, globs and CEL compiled, referenced files read, cross-field
// checks (duplicate ids, hold overrides naming real rules, evmData functions and params existing in their ABI).
// Problems are collected with their path (and offset inside a CEL string) so load.ts can position them.
import path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { getAddress, parseAbi, toFunctionSelector, type Abi, type AbiFunction, type Address } from "viem";
import type { RawPolicy, RawCriterion } from "./schema.ts";
import { CHAIN_NAMES } from "./schema.ts";
import type {
  AddressLists,
  Criterion,
  CustomRule,
  EvmConfig,
  EvmRule,
  PolicyConfig,
  SoftLimitConfig,
  TokenConfig,
} from "./config.ts";
import { compileGlobs, compileHostGlobs } from "./glob.ts";
import { parseAmount, parseDuration, parseTokenAmount } from "./units.ts";
import { actionGate, CelCompileError, compileCel, compileMeasure } from "./cel.ts";
import { expandGlob, readTracked, type ReadFileRecord } from "./files.ts";
import { NAMED_ABIS, functionNames } from "./effects/abis.ts";
import type { NetworkSpec } from "./network.ts";
import { loadBundle, type BundleInfo } from "./bundle.ts";
import { compileCostPolicy } from "../limits/cost-policy.ts";
import { COST_STREAM_PREFIX } from "../limits/cost.ts";
import { compileGovernance } from "./compile-scopes.ts";
import { compilePii } from "./pii/compile.ts";

export type Path = (string | number)[];
export interface CompileIssue {
  path: Path;
  message: string;
  /** Point at the key rather than the value. */
  key?: boolean;
  /** Offset inside the scalar (CEL errors). */
  index?: number;
  /** A position in another file (data files). */
  at?: { file: string; line: number; column: number };
}

export interface CompileInput {
  raw: RawPolicy;
  file: string;
  inlineRego: { path: string; source: string }[];
}

export interface CompileOutput {
  config?: PolicyConfig;
  issues: CompileIssue[];
  referenced: ReadFileRecord[];
}

const chainId = (c: number | string): number => (typeof c === "number" ? c : CHAIN_NAMES[c]!);
const lower = (xs: readonly string[] | undefined) => new Set((xs ?? []).map((a) => a.toLowerCase()));
const lists = (l: { allow?: string[]; deny?: string[] } | undefined): AddressLists => ({
  ...(l?.allow ? { allow: lower(l.allow) } : {}),
  deny: lower(l?.deny),
});

export async function compilePolicy(input: CompileInput): Promise<CompileOutput> {
  const { raw, file } = input;
  const dir = path.dirname(file);
  const issues: CompileIssue[] = [];
  const referenced: ReadFileRecord[] = [];
  const ids = new Map<string, Path>();
  const claimId = (id: string, p: Path) => {
    const prev = ids.get(id);
    if (prev)
      issues.push({
        path: p,
        message: `rule id "${id}" is already used at ${prev.join(".")}; rule ids must be unique`,
      });
    else ids.set(id, p);
  };

  // evm
  let evm: EvmConfig | undefined;
  if (raw.evm) {
    const e = raw.evm;
    const tokens = new Map<string, TokenConfig>();
    for (const [symbol, t] of Object.entries(e.tokens ?? {})) {
      let maxTransfer: bigint | undefined;
      if (t.max_transfer !== undefined) {
        const r = parseTokenAmount(t.max_transfer, t.decimals);
        if (r.ok) maxTransfer = r.value;
        else issues.push({ path: ["evm", "tokens", symbol, "max_transfer"], message: r.message });
      }
      const chain = chainId(t.chain);
      tokens.set(`${chain}:${t.address.toLowerCase()}`, {
        symbol,
        address: getAddress(t.address.toLowerCase()) as Address,
        chain,
        decimals: t.decimals,
        ...(maxTransfer !== undefined ? { maxTransfer } : {}),
      });
    }
    const abis: Abi[number][] = [];
    for (const [i, a] of (e.abis ?? []).entries()) {
      const p: Path = ["evm", "abis", i];
      try {
        if (Array.isArray(a)) abis.push(...checkAbi(a as unknown as Abi));
        else if (/^\s*(function|event|error|constructor)\s/.test(a)) abis.push(...checkAbi(parseAbi([a])));
        else {
          const abs = path.resolve(dir, a);
          let text: string;
          try {
            text = (await readTracked(abs, referenced)).toString("utf8");
          } catch (err) {
            issues.push({
              path: p,
              message: `cannot read ABI file ${a} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); paths are relative to the policy file`,
            });
            continue;
          }
          const json = JSON.parse(text) as unknown;
          const arr = Array.isArray(json) ? json : (json as { abi?: unknown }).abi;
          if (!Array.isArray(arr))
            throw new Error(`${a} is neither a JSON ABI array nor an artifact with an "abi" field`);
          abis.push(...checkAbi(arr as Abi));
        }
      } catch (err) {
        issues.push({ path: p, message: `is not a valid ABI: ${firstLine((err as Error).message)}` });
      }
    }
    const rules: EvmRule[] = [];
    for (const [i, r] of (e.rules ?? []).entries()) {
      claimId(r.id, ["evm", "rules", i, "id"]);
      const criteria: Criterion[] = [];
      for (const [j, c] of r.criteria.entries()) {
        const compiled = compileCriterion(c, ["evm", "rules", i, "criteria", j], issues);
        if (compiled) criteria.push(compiled);
        if (compiled && r.operation === "signTypedData" && c.type === "evmData") {
          issues.push({
            path: ["evm", "rules", i, "criteria", j, "type"],
            message: "evmData applies to transactions; it cannot match signTypedData",
          });
        }
      }
      rules.push({
        id: r.id,
        effect: r.effect,
        ...(r.operation ? { operation: r.operation } : {}),
        criteria,
        ...(r.reason ? { reason: r.reason } : {}),
      });
    }
    const maxValue = e.max_value !== undefined ? parseAmount(e.max_value) : undefined;
    const maxFee = e.max_fee !== undefined ? parseAmount(e.max_fee) : undefined;
    if (maxFee && !maxFee.ok) issues.push({ path: ["evm", "max_fee"], message: maxFee.message });
    const fee = maxFee?.ok ? maxFee.value : maxValue?.ok ? maxValue.value : undefined;
    evm = {
      ...(fee !== undefined ? { maxFee: fee } : {}),
      maxFeeExplicit: maxFee?.ok === true,
      delegations: lower(e.delegations?.allow),
      labels: new Map(Object.entries(e.labels ?? {}).map(([a, l]) => [a.toLowerCase(), l])),
      allowContractCreation: e.allow_contract_creation ?? false,
      allowTypedData: (e.allow_typed_data ?? []).map((t) => ({
        primaryType: t.primary_type,
        ...(t.contract ? { contract: t.contract.toLowerCase() } : {}),
      })),
      ...(e.chains ? { chains: new Set(e.chains.map(chainId)) } : {}),
      ...(maxValue?.ok ? { maxValue: maxValue.value } : {}),
      contracts: lists(e.contracts),
      recipients: lists(e.recipients),
      tokens,
      denyUnlimitedApprovals: e.deny_unlimited_approvals ?? true,
      denyUnknownCalldata: e.deny_unknown_calldata ?? true,
      abis: abis as Abi,
      rules,
    };
  }

  // custom
  const custom: CustomRule[] = [];
  for (const [i, r] of (raw.custom ?? []).entries()) {
    claimId(r.id, ["custom", i, "id"]);
    if ((r.deny === undefined) === (r.hold === undefined)) {
      issues.push({
        path: ["custom", i],
        message: `rule ${r.id} needs exactly one of deny or hold (a CEL expression)`,
      });
      continue;
    }
    const effect = r.deny !== undefined ? "deny" : "hold";
    const source = (r.deny ?? r.hold)!;
    const when = r.when !== undefined ? cel(r.when, "bool", ["custom", i, "when"], issues) : undefined;
    const expr = cel(source, "bool", ["custom", i, effect], issues);
    const whenActions = r.when !== undefined ? actionGate(r.when) : undefined;
    if (expr && (r.when === undefined || when))
      custom.push({
        id: r.id,
        effect,
        expr,
        source,
        reason: r.reason,
        ...(when ? { when } : {}),
        ...(whenActions ? { whenActions } : {}),
      });
  }

  // soft_limits
  const softLimits: SoftLimitConfig[] = [];
  for (const [i, s] of (raw.soft_limits ?? []).entries()) {
    claimId(s.id, ["soft_limits", i, "id"]);
    // the cost totals share the ledger's table under these ids
    if (s.id.startsWith(COST_STREAM_PREFIX))
      issues.push({ path: ["soft_limits", i, "id"], message: `ids starting with "${COST_STREAM_PREFIX}" are reserved for cost totals` });
    let measure: SoftLimitConfig["measure"] | undefined;
    try {
      measure = compileMeasure(s.measure);
    } catch (err) {
      issues.push(celIssue(err, ["soft_limits", i, "measure"]));
    }
    const win = parseDuration(s.window);
    if (measure && win.ok) {
      softLimits.push({
        id: s.id,
        ...(s.actions ? { actions: compileGlobs(s.actions) } : {}),
        measureSource: s.measure.trim(),
        measure,
        scope: s.scope,
        windowMs: win.value,
        max: s.max,
      });
    }
  }

  // network
  let network: NetworkSpec | undefined;
  if (raw.network) {
    const n = raw.network;
    const modules: NetworkSpec["modules"] = [];
    for (const [i, pattern] of (n.modules ?? []).entries()) {
      const files = (await expandGlob(dir, pattern)).filter((f) => f.endsWith(".rego") && !f.endsWith("_test.rego"));
      if (files.length === 0)
        issues.push({
          path: ["network", "modules", i],
          message: `"${pattern}" matches no .rego files (relative to ${dir || "."})`,
        });
      for (const f of files) modules.push({ path: f, source: (await readTracked(f, referenced)).toString("utf8") });
    }
    modules.push(...input.inlineRego);
    const data: Record<string, unknown> = {};
    for (const [i, rel] of (n.data ?? []).entries()) {
      const abs = path.resolve(dir, rel);
      let text: string;
      try {
        text = (await readTracked(abs, referenced)).toString("utf8");
      } catch (err) {
        issues.push({
          path: ["network", "data", i],
          message: `cannot read ${rel} (${(err as NodeJS.ErrnoException).code ?? "error"}); paths are relative to the policy file`,
        });
        continue;
      }
      try {
        const doc = parseYaml(text, { prettyErrors: true }) as unknown;
        if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
          issues.push({
            path: ["network", "data", i],
            message: `${rel} must hold a JSON/YAML object (its keys become data.<key>)`,
          });
        } else deepMerge(data, doc as Record<string, unknown>);
      } catch (err) {
        const pos = err instanceof YAMLParseError ? err.linePos?.[0] : undefined;
        issues.push({
          path: ["network", "data", i],
          message: `${rel} is not valid JSON/YAML: ${firstLine((err as Error).message)}`,
          ...(pos ? { at: { file: abs, line: pos.line, column: pos.col } } : {}),
        });
      }
    }
    let bundle: BundleInfo | undefined;
    if (n.bundle) {
      try {
        const keyFile = n.bundle_key ? path.resolve(dir, n.bundle_key) : undefined;
        const b = await loadBundle(path.resolve(dir, n.bundle), keyFile, referenced);
        modules.push(...b.modules);
        deepMerge(data, b.data);
        bundle = b.info;
      } catch (err) {
        issues.push({ path: ["network", "bundle"], message: `bundle ${n.bundle}: ${(err as Error).message}` });
      }
    } else if (n.bundle_key) {
      issues.push({ path: ["network", "bundle_key"], message: "bundle_key needs network.bundle" });
    }
    network = Object.assign(
      {
        package: n.package ?? "nemoclaw.network",
        modules,
        data,
        require_attestation: n.require_attestation ?? [],
        allow_addresses: n.allow_addresses ?? [],
        resolve: n.resolve ?? {},
      },
      bundle ? { bundle } : {},
    );
  } else if (input.inlineRego.length > 0) {
    network = {
      package: "nemoclaw.network",
      modules: [...input.inlineRego],
      data: {},
      require_attestation: [],
      allow_addresses: [],
      resolve: {},
    };
  }

  // scoped rules, scopes sections, risk, rate_limits
  const gov = compileGovernance(raw, issues, claimId);
  const pii = await compilePii(raw.pii, issues, claimId);

  // costs and budgets (sidecar/limits/cost-policy.ts)
  const costs = compileCostPolicy(raw, { issues, claimId, celIssue });

  // holds
  const holdRuleIds = new Set<string>([
    "hold",
    ...gov.holdIds,
    ...pii.holdIds,
    // From the raw policy, so a rule with its own error does not also break the overrides that name it.
    ...(raw.custom ?? []).filter((c) => c.hold !== undefined).map((c) => c.id),
    ...(raw.evm?.rules ?? []).filter((r) => r.effect === "hold").map((r) => r.id),
    ...(raw.soft_limits ?? []).map((s) => s.id),
    ...(raw.budgets ?? []).filter((b) => (b.on_exceed ?? "hold") === "hold").map((b) => b.id),
  ]);
  const ttl = raw.holds?.ttl !== undefined ? parseDuration(raw.holds.ttl) : undefined;
  const ttlMs = ttl?.ok ? ttl.value : 86_400_000;
  const approvalsRequired = raw.holds?.approvals_required ?? 1;
  const overrides = new Map<string, { approvalsRequired: number; ttlMs: number }>();
  for (const [i, o] of (raw.holds?.overrides ?? []).entries()) {
    if (!holdRuleIds.has(o.rule)) {
      issues.push({
        path: ["holds", "overrides", i, "rule"],
        message: `no rule "${o.rule}" can raise a hold; use one of: ${[...holdRuleIds].join(", ")}`,
      });
    }
    const t = o.ttl !== undefined ? parseDuration(o.ttl) : undefined;
    overrides.set(o.rule, {
      approvalsRequired: o.approvals_required ?? approvalsRequired,
      ttlMs: t?.ok ? t.value : ttlMs,
    });
  }

  if (issues.length) return { issues, referenced };
  const config: PolicyConfig = {
    version: 1,
    ...(raw.name !== undefined ? { name: raw.name } : {}),
    ...(raw.actions
      ? {
          actions: {
            allow: compileGlobs(raw.actions.allow),
            deny: compileGlobs(raw.actions.deny),
            ...(gov.actionRules ? { rules: gov.actionRules } : {}),
          },
        }
      : {}),
    ...(evm ? { evm } : {}),
    ...(raw.tool_calls
      ? {
          toolCalls: {
            // Tool names may carry capitals: match case-insensitively so `Shell.exec` cannot dodge `shell.*`.
            allow: compileGlobs(raw.tool_calls.allow, { caseInsensitive: true }),
            deny: compileGlobs(raw.tool_calls.deny, { caseInsensitive: true }),
            hold: compileGlobs(raw.tool_calls.hold, { caseInsensitive: true }),
            ...(raw.tool_calls.domains
              ? {
                  domains: {
                    ...(raw.tool_calls.domains.allow ? { allow: compileHostGlobs(raw.tool_calls.domains.allow) } : {}),
                    deny: compileHostGlobs(raw.tool_calls.domains.deny),
                  },
                }
              : {}),
            ...(raw.tool_calls.max_args_bytes !== undefined ? { maxArgsBytes: raw.tool_calls.max_args_bytes } : {}),
            ...(gov.toolRules ? { rules: gov.toolRules } : {}),
          },
        }
      : {}),
    custom,
    softLimits,
    ...(network ? { network } : {}),
    holds: { ttlMs, approvalsRequired, overrides, maxOpenPerAgent: raw.holds?.max_open_per_agent ?? 100 },
    notify: {
      webhooks: (raw.notify?.webhooks ?? []).map((w) =>
        typeof w === "string" ? { url: w } : { url: w.url, ...(w.events ? { events: w.events } : {}) },
      ),
    },
    ...(costs ? { costs } : {}),
    holdRuleIds,
    ...(gov.risk ? { risk: gov.risk } : {}),
    ...(gov.scopes ? { scopes: gov.scopes } : {}),
    ...(gov.rateLimits ? { rateLimits: gov.rateLimits } : {}),
    ...(pii.pii ? { pii: pii.pii } : {}),
  };
  return { config, issues, referenced };
}

function cel(source: string, want: "bool" | "number", p: Path, issues: CompileIssue[]) {
  try {
    return compileCel(source, want);
  } catch (err) {
    issues.push(celIssue(err, p));
    return undefined;
  }
}

function celIssue(err: unknown, p: Path): CompileIssue {
  if (err instanceof CelCompileError) return { path: p, message: err.message, index: err.index };
  return { path: p, message: `cannot compile CEL: ${(err as Error).message}` };
}

function checkAbi(abi: Abi): Abi {
  for (const item of abi) if (item.type === "function") toFunctionSelector(item as AbiFunction);
  return abi;
}

function compileCriterion(c: RawCriterion, p: Path, issues: CompileIssue[]): Criterion | undefined {
  switch (c.type) {
    case "ethValue": {
      const v = c.ethValue ?? c.value;
      if (v === undefined) {
        issues.push({ path: p, message: 'ethValue criterion needs `ethValue` (an amount such as "0.01 ether")' });
        return undefined;
      }
      const r = parseAmount(v);
      return r.ok ? { type: "ethValue", operator: c.operator, value: r.value } : undefined;
    }
    case "evmAddress":
      return { type: "evmAddress", operator: c.operator, addresses: lower(c.addresses) };
    case "evmNetwork":
      return { type: "evmNetwork", operator: c.operator, chains: new Set(c.networks.map(chainId)) };
    case "evmData": {
      const abiName = typeof c.abi === "string" ? c.abi : "inline";
      let abi: Abi;
      try {
        abi = typeof c.abi === "string" ? NAMED_ABIS[c.abi]! : checkAbi(c.abi as unknown as Abi);
      } catch (err) {
        issues.push({ path: [...p, "abi"], message: `is not a valid ABI: ${firstLine((err as Error).message)}` });
        return undefined;
      }
      const fns = abi.filter((i): i is AbiFunction => i.type === "function" && i.name === c.function);
      if (fns.length === 0) {
        issues.push({
          path: [...p, "function"],
          message: `function "${c.function}" is not in the ${abiName} ABI; known: ${functionNames(abi).join(", ")}`,
        });
        return undefined;
      }
      const params = c.params ?? [];
      for (const [k, prm] of params.entries()) {
        const inputs = fns.flatMap((f) => f.inputs);
        if (!inputs.some((i) => i.name === prm.name)) {
          issues.push({
            path: [...p, "params", k, "name"],
            message: `${c.function} has no argument "${prm.name}"; its arguments: ${[...new Set(inputs.map((i) => i.name))].join(", ")}`,
          });
        }
        const set = prm.operator === "in" || prm.operator === "not in";
        if (set && !prm.values)
          issues.push({ path: [...p, "params", k], message: `operator "${prm.operator}" needs \`values\` (a list)` });
        if (!set && prm.value === undefined)
          issues.push({ path: [...p, "params", k], message: `operator "${prm.operator}" needs \`value\`` });
        const type = inputs.find((i) => i.name === prm.name)?.type ?? "";
        if (/^u?int/.test(type) && prm.value !== undefined && !/^-?\d+$/.test(String(prm.value))) {
          issues.push({
            path: [...p, "params", k, "value"],
            message: `${prm.name} is a ${type}; write the value as an integer string in base units, e.g. "1000000000"`,
          });
        }
      }
      return {
        type: "evmData",
        abi,
        abiName,
        function: c.function,
        params: params.map((x) => ({
          name: x.name,
          operator: x.operator,
          ...(x.value !== undefined ? { value: x.value } : {}),
          ...(x.values ? { values: x.values } : {}),
        })),
      };
    }
  }
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (cur && typeof cur === "object" && !Array.isArray(cur) && v && typeof v === "object" && !Array.isArray(v))
      deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0]!;
}
