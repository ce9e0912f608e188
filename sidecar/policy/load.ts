// loadPolicy: reads a YAML or Markdown policy, validates every block with positioned errors, compiles units, globs,
// ABIs and CEL, reads the files it references (relative to the policy file) and builds the block evaluators.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { PolicyError, type PolicyIssue } from "./errors.ts";
import { commentLabels, parseSource, positionInScalar, positionOf, type PolicySource } from "./source.ts";
import { policySchema, type RawPolicy } from "./schema.ts";
import { objectKeys, schemaAt } from "./schema-walk.ts";
import { compilePolicy, type CompileIssue } from "./compile.ts";
import { policyDigest } from "./files.ts";
import { compileNetwork, type NetworkBlock } from "./network.ts";
import type { PolicyConfig } from "./config.ts";
import type { BlockEvaluator } from "./verdict.ts";
import { actionsEvaluator } from "./blocks/actions.ts";
import { evmEvaluator } from "./blocks/evm.ts";
import { toolCallsEvaluator } from "./blocks/tool-calls.ts";
import { customEvaluator } from "./blocks/custom.ts";
import { scopesEvaluator } from "./blocks/scopes.ts";
import { piiEvaluator } from "./blocks/pii.ts";

export interface NamedEvaluator {
  block: "actions" | "evm" | "tool_calls" | "custom" | "scopes" | "pii";
  evaluate: BlockEvaluator;
}

export interface LoadedPolicy {
  /** Absolute path of the policy file. */
  file: string;
  /** sha256 over the policy file and every file it references. */
  digest: string;
  config: PolicyConfig;
  /** actions, evm, tool_calls, custom, scopes (in that order). The network block is `network`. */
  evaluators: NamedEvaluator[];
  network: NetworkBlock | undefined;
  /** Absolute paths of every file the policy read (for watching). */
  files: string[];
  loadedAt: Date;
  /** Names of addresses for people (summaries, console): evm.labels, then trailing comments on address lists. */
  labels: Map<string, string>;
}

export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** Loads and validates a policy. Throws PolicyError (`policy_io` if unreadable, `policy_invalid` otherwise). */
export async function loadPolicy(file: string): Promise<LoadedPolicy> {
  const abs = path.resolve(file);
  const display = displayName(abs);
  let bytes: Buffer;
  try {
    bytes = await readFile(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new PolicyError("policy_io", [
      {
        file: display,
        line: 0,
        column: 0,
        path: "",
        message: `cannot read the policy file (${code}); check the path given with --policy`,
      },
    ]);
  }
  const src = parseSource(abs, display, bytes.toString("utf8"));
  if (src.syntaxIssues.length) throw new PolicyError("policy_invalid", src.syntaxIssues);

  // An empty file (or a Markdown file without yaml blocks) is an empty policy: every action is denied.
  const js =
    (src.doc.contents === null ? {} : undefined) ??
    (src.doc.toJS({
      reviver: (_k: unknown, v: unknown) =>
        typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v,
    }) as unknown);
  if (js === null || js === undefined || typeof js !== "object" || Array.isArray(js)) {
    throw new PolicyError("policy_invalid", [
      {
        file: display,
        line: 1,
        column: 1,
        path: "",
        message:
          "the policy must be a YAML mapping with blocks such as actions, evm, tool_calls (see docs/policy-reference.md)",
      },
    ]);
  }
  const parsed = policySchema.safeParse(js);
  if (!parsed.success)
    throw new PolicyError("policy_invalid", sortIssues(parsed.error.issues.flatMap((i) => zodIssue(src, js, i))));

  const out = await compilePolicy({
    raw: parsed.data as RawPolicy,
    file: abs,
    inlineRego: src.rego.map(({ path: p, source }) => ({ path: p, source })),
  });
  if (!out.config) throw new PolicyError("policy_invalid", sortIssues(out.issues.map((i) => compileIssue(src, i))));
  const config = out.config;

  let network: NetworkBlock | undefined;
  if (config.network) {
    try {
      network = await compileNetwork(config.network);
    } catch (e) {
      if (e instanceof PolicyError) throw e;
      const pos = positionOf(src, ["network"], { key: true });
      throw new PolicyError("policy_invalid", [
        { file: display, ...pos, path: "network", message: `the Rego modules do not compile: ${(e as Error).message}` },
      ]);
    }
  }

  return {
    file: abs,
    digest: policyDigest(abs, bytes, out.referenced),
    config,
    evaluators: [
      { block: "actions", evaluate: actionsEvaluator(config.actions, config.risk) },
      { block: "evm", evaluate: evmEvaluator(config.evm) },
      { block: "tool_calls", evaluate: toolCallsEvaluator(config.toolCalls, config.risk) },
      { block: "custom", evaluate: customEvaluator(config.custom) },
      // per-tenant / per-team sections narrow after the base blocks (deny/hold only, never allow)
      ...(config.scopes?.length ? [{ block: "scopes" as const, evaluate: scopesEvaluator(config) }] : []),
      // PII in params: deny/hold, or a rewrite the pipeline binds (redact)
      ...(config.pii ? [{ block: "pii" as const, evaluate: piiEvaluator(config.pii) }] : []),
    ],
    network,
    files: [abs, ...out.referenced.map((f) => f.path)],
    loadedAt: new Date(),
    labels: new Map([...commentLabels(src), ...(config.evm?.labels ?? [])]),
  };
}

function sortIssues(xs: PolicyIssue[]): PolicyIssue[] {
  return xs.sort((a, b) => a.line - b.line || a.column - b.column);
}

function valueAt(root: unknown, p: readonly (string | number)[]): unknown {
  let cur = root;
  for (const seg of p) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[String(seg)];
  }
  return cur;
}

function zodIssue(src: PolicySource, js: unknown, i: z.core.$ZodIssue): PolicyIssue[] {
  const p = i.path.map((s) => (typeof s === "symbol" ? String(s) : s)) as (string | number)[];
  if (i.code === "unrecognized_keys") {
    const known = objectKeys(schemaAt(policySchema, p));
    return i.keys.map((k) => {
      const full = [...p, k];
      const hint = suggest(k, known);
      return {
        file: src.display,
        ...positionOf(src, full, { key: true }),
        path: full.join("."),
        message: `unknown field "${k}"${hint ? `; did you mean "${hint}"?` : ""}${known.length ? ` Known fields: ${known.join(", ")}` : ""}`,
      };
    });
  }
  if (i.code === "invalid_key") {
    const inner = (i as { issues?: { message: string }[] }).issues?.[0]?.message ?? i.message;
    return [
      {
        file: src.display,
        ...positionOf(src, p, { key: true }),
        path: p.join("."),
        message: `the key ${JSON.stringify(String(p.at(-1)))} is not valid: ${inner}`,
      },
    ];
  }
  let message = i.message.replace(/^Invalid input: /, "");
  if (i.code === "invalid_type" && /^expected \w+, received \w+$/.test(message)) {
    const want = (i as { expected?: string }).expected ?? "";
    const value = valueAt(js, p);
    const got =
      value === undefined
        ? ""
        : ` (got ${Array.isArray(value) ? "a list" : value === null ? "null" : typeof value === "object" ? "a mapping" : JSON.stringify(typeof value === "bigint" ? String(value) : value)})`;
    message = `${WANT[want] ?? `must be ${want}`}${got}`;
  }
  if (i.code === "invalid_type" && valueAt(js, p) === undefined) message = `is required (${message})`;
  return [{ file: src.display, ...positionOf(src, p), path: p.join("."), message }];
}

const WANT: Record<string, string> = {
  array: "must be a list",
  object: "must be a mapping",
  string: "must be a string",
  number: "must be a number",
  boolean: "must be true or false",
  bigint: "must be an integer",
};

function compileIssue(src: PolicySource, i: CompileIssue): PolicyIssue {
  if (i.at)
    return {
      file: displayName(i.at.file),
      line: i.at.line,
      column: i.at.column,
      path: i.path.join("."),
      message: i.message,
    };
  const pos =
    i.index !== undefined ? positionInScalar(src, i.path, i.index) : positionOf(src, i.path, { key: !!i.key });
  return { file: src.display, ...pos, path: i.path.join("."), message: i.message };
}

/** Nearest known name within edit distance 2. */
function suggest(word: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
