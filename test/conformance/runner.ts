// Runs OPA's YAML conformance cases (../shared/rego-conformance, see its README) against our engine.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse as parseYAML } from "yaml";
import { compile, RegoError, RegoErrors } from "../../rego/index.ts";
import { Ctx, evalTerm } from "../../rego/eval.ts";
import { Parser, type RegoVersion } from "../../rego/parser.ts";
import type { Term } from "../../rego/ast.ts";
import { FloatLit, fromJSON, RObject, RSet, toJSONString, type Value } from "../../rego/value.ts";

export interface Case {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  sort_bindings?: boolean;
  ignore_generated_vars?: boolean;
  want_error_code?: string;
  want_error?: string;
  strict_error?: boolean;
}

export interface CaseResult {
  file: string; // relative to the corpus root
  dir: string; // e.g. v1/every
  note: string;
  pass: boolean;
  why?: string;
}

export function findCorpus(repoRoot: string): string | undefined {
  const p = join(repoRoot, "..", "shared", "rego-conformance");
  return existsSync(p) ? p : undefined;
}

function listYaml(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listYaml(p));
    else if (e.endsWith(".yaml") || e.endsWith(".yml")) out.push(p);
  }
  return out.sort();
}

/** YAML with exact big integers; integer mapping keys become strings (as upstream does). */
function loadCases(file: string): Case[] {
  const doc = parseYAML(readFileSync(file, "utf8"), { intAsBigInt: true }) as { cases?: Case[] };
  return doc?.cases ?? [];
}

export function runCorpus(root: string, filter?: (file: string) => boolean): CaseResult[] {
  const base = join(root, "v1", "test", "cases", "testdata");
  const results: CaseResult[] = [];
  for (const file of listYaml(base)) {
    const rel = relative(base, file);
    if (filter && !filter(rel)) continue;
    const dir = rel.split("/").slice(0, 2).join("/");
    let cases: Case[];
    try {
      cases = loadCases(file);
    } catch (e) {
      results.push({ file: rel, dir, note: "(yaml)", pass: false, why: String(e) });
      continue;
    }
    for (const c of cases) {
      let r: { pass: boolean; why?: string };
      try {
        r = runCase(c, rel.startsWith("v0/") ? "v0" : "v1");
      } catch (e) {
        r = { pass: false, why: `crash: ${(e as Error)?.message ?? e}` };
      }
      results.push({ file: rel, dir, note: c.note, ...r });
    }
  }
  return results;
}

/** Numbers compare by value, as upstream's runner does: a float-written literal (`3.0`) equals 3. */
function byValue(v: Value): Value {
  if (v instanceof FloatLit) return v.n;
  if (Array.isArray(v)) return v.map(byValue);
  if (v instanceof RObject) {
    const o = new RObject();
    for (const [k, x] of v.entries()) o.set(byValue(k), byValue(x));
    return o;
  }
  if (v instanceof RSet) {
    const s = new RSet();
    for (const x of v.values()) s.add(byValue(x));
    return s;
  }
  return v;
}

function canon(v: Value): string {
  return toJSONString(byValue(v));
}

function expectedRow(row: Record<string, unknown>, sortBindings: boolean): string {
  const keys = Object.keys(row).sort();
  return keys
    .map((k) => {
      let v = fromJSON(fixKeys(row[k]));
      if (sortBindings && Array.isArray(v)) v = [...v].sort((a, b) => (canon(a) < canon(b) ? -1 : canon(a) > canon(b) ? 1 : 0));
      return `${k}=${canon(v)}`;
    })
    .join("&");
}

/** Upstream converts integer mapping keys to strings. */
function fixKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(fixKeys);
  if (x && typeof x === "object" && !(x instanceof Map)) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = fixKeys(v);
    return o;
  }
  return x;
}

export function runCase(c: Case, version: "v0" | "v1"): { pass: boolean; why?: string } {
  const wantErr = c.want_error_code !== undefined || c.want_error !== undefined;
  let rows: Map<string, Value>[] = [];
  let err: { code?: string; message: string } | undefined;
  try {
    const policy = compile(
      (c.modules ?? []).map((source, i) => ({ path: `test-${i}.rego`, source })),
      { regoVersion: version, strictBuiltinErrors: !!c.strict_error, limits: { maxMillis: 3000 } },
    );
    let input: unknown = c.input === undefined ? undefined : fixKeys(c.input);
    if (c.input_term !== undefined) {
      const t = parseTermSource(c.input_term, version);
      const ctx = policy.newCtx({});
      let v: Value | undefined;
      evalTerm(t, [], ctx as Ctx, (x) => {
        v = x;
        return true;
      });
      input = v;
    }
    const q = policy.prepare(c.query);
    const res = q.eval({ input, data: c.data === undefined ? undefined : fixKeys(c.data), strictBuiltinErrors: !!c.strict_error });
    rows = res.map((r) => r.bindings);
  } catch (e) {
    if (e instanceof RegoErrors) err = { code: e.errors[0]!.code, message: e.message };
    else if (e instanceof RegoError) err = { code: e.code, message: e.message };
    else err = { message: (e as Error)?.message ?? String(e) };
  }
  if (wantErr) {
    if (!err) return { pass: false, why: `expected error ${c.want_error_code ?? ""} ${c.want_error ?? ""}, got ${rows.length} rows` };
    if (c.want_error_code && err.code !== c.want_error_code)
      return { pass: false, why: `error code ${err.code}, want ${c.want_error_code}: ${err.message}` };
    if (c.want_error && !err.message.includes(c.want_error))
      return { pass: false, why: `error message ${JSON.stringify(err.message)} lacks ${JSON.stringify(c.want_error)}` };
    return { pass: true };
  }
  if (err) return { pass: false, why: `unexpected error: ${err.message}` };
  const want = new Set((c.want_result ?? []).map((r) => expectedRow(r, !!c.sort_bindings)));
  const got = new Set(
    rows.map((b) => {
      const keys = [...b.keys()].filter((k) => !(c.ignore_generated_vars && k.startsWith("__localq"))).sort();
      return keys
        .map((k) => {
          let v = b.get(k)!;
          if (c.sort_bindings && v instanceof RSet) v = v.values().slice();
          if (c.sort_bindings && Array.isArray(v)) v = [...v].sort((x, y) => (canon(x) < canon(y) ? -1 : canon(x) > canon(y) ? 1 : 0));
          return `${k}=${canon(v)}`;
        })
        .join("&");
    }),
  );
  if (want.size !== got.size || [...want].some((w) => !got.has(w))) {
    const show = (s: Set<string>) => [...s].slice(0, 3).join(" | ").slice(0, 300);
    return { pass: false, why: `got ${show(got)} want ${show(want)}` };
  }
  return { pass: true };
}

/** Per-directory pass/fail table. */
export function summarize(results: CaseResult[]): { dir: string; pass: number; fail: number }[] {
  const m = new Map<string, { pass: number; fail: number }>();
  for (const r of results) {
    const e = m.get(r.dir) ?? { pass: 0, fail: 0 };
    if (r.pass) e.pass++;
    else e.fail++;
    m.set(r.dir, e);
  }
  return [...m].sort().map(([dir, e]) => ({ dir, ...e }));
}

/** Parses a single term (a case's `input_term`). */
function parseTermSource(src: string, version: RegoVersion = "v1"): Term {
  const p = new Parser(src, "term", version);
  const t = p.parseTerm();
  if (!p.atEOF()) throw new RegoError("rego_parse_error", "unexpected token after term");
  return t;
}
