// `intent-sidecar policy check|test|eval|fmt`: the Rego tooling, shaped like `opa check|test|eval|fmt`.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { compile, coverageReport, CoverageTracer, errorsToJSON, formatCoverage, RegoError, RegoErrors, runTests, type CompiledPolicy, type TestResult } from "../../../rego/index.ts";
import { loadAllLibraries } from "../../../rego/builtins/lazy.ts";
import { v0ToV1 } from "../../../rego/parser.ts";
import { parseJSON, RObject, toJSONString, type Value, fromJSON } from "../../../rego/value.ts";
import { parse as parseYAML } from "yaml";
import { ExitError } from "../exit.ts";
import { registerPolicyOps } from "./policy-ops.ts";

type Version = "v0" | "v1";

function walkFiles(p: string, exts: string[]): string[] {
  if (!existsSync(p)) throw new ExitError(2, `${p}: no such file or directory`);
  const st = statSync(p);
  if (st.isFile()) return [p];
  const out: string[] = [];
  for (const e of readdirSync(p).sort()) {
    if (e.startsWith(".")) continue;
    const q = path.join(p, e);
    if (statSync(q).isDirectory()) out.push(...walkFiles(q, exts));
    else if (exts.some((x) => e.endsWith(x))) out.push(q);
  }
  return out;
}

/** The policy file names a directory may hold (the names policy-examples/ uses; `start --policy` takes the file). */
export const POLICY_FILE_NAMES = ["policy.yaml", "policy.yml", "policy.md"];

/** The policy files `policy check` validates for one argument: the file itself when it is a .yaml/.yml/.md file, or
 * for a directory its policy.yaml / policy.yml / policy.md. */
function policyFilesIn(arg: string): string[] {
  if (!existsSync(arg)) return [];
  if (statSync(arg).isFile()) return arg.endsWith(".rego") ? [] : [arg];
  return POLICY_FILE_NAMES.map((n) => path.join(arg, n)).filter((f) => existsSync(f) && statSync(f).isFile());
}

function display(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

function compileFiles(files: string[], version: Version): CompiledPolicy {
  const mods = files.map((f) => ({ path: display(f), source: readFileSync(f, "utf8") }));
  try {
    return compile(mods, { regoVersion: version });
  } catch (e) {
    if (e instanceof RegoErrors) throw new ExitError(1, e.message);
    throw e;
  }
}

/** Data files (json/yaml) are merged into the root of `data`, like `opa eval -d`. */
function loadData(files: string[]): Value {
  const root = new RObject();
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    let v: Value;
    try {
      v = f.endsWith(".json") ? parseJSON(text) : fromJSON(parseYAML(text, { intAsBigInt: true }));
    } catch (e) {
      throw new ExitError(2, `${display(f)}: ${(e as Error).message}`);
    }
    if (v instanceof RObject) v.forEachUnordered((val, k) => root.set(k, merge(root.get(k), val)));
  }
  return root;
}

function merge(a: Value | undefined, b: Value): Value {
  if (a instanceof RObject && b instanceof RObject) {
    const o = new RObject();
    a.forEachUnordered((v, k) => o.set(k, v));
    b.forEachUnordered((v, k) => o.set(k, merge(o.get(k), v)));
    return o;
  }
  return b;
}

/** Go-style duration: 1.234567ms, 812.5µs, 2.5s. */
function goDuration(ns: bigint): string {
  const n = Number(ns);
  if (n < 1000) return `${n}ns`;
  if (n < 1e6) return `${trim(n / 1e3)}µs`;
  if (n < 1e9) return `${trim(n / 1e6)}ms`;
  return `${trim(n / 1e9)}s`;
}
function trim(x: number): string {
  return x.toFixed(6).replace(/\.?0+$/, "");
}

const RULE = "-".repeat(80);

function formatTests(results: TestResult[], verbose: boolean): string {
  const lines: string[] = [];
  const failed = results.filter((r) => r.status === "FAIL" || r.status === "ERROR");
  const line = (r: TestResult) => {
    const status = r.status === "ERROR" ? `ERROR (${goDuration(r.durationNs)})\n  ${r.error}` : r.status === "SKIPPED" ? "SKIPPED" : `${r.status} (${goDuration(r.durationNs)})`;
    return `${r.name}: ${status}`;
  };
  if (failed.length) {
    lines.push("FAILURES", RULE);
    for (const r of failed) {
      lines.push(line(r));
      for (const p of r.printed) lines.push(`  ${p}`);
      lines.push("");
    }
    lines.push("SUMMARY", RULE);
  }
  if (verbose || failed.length) {
    const byFile = new Map<string, TestResult[]>();
    for (const r of results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
    for (const [file, rs] of byFile) {
      lines.push(`${file}:`);
      for (const r of rs) {
        if (!verbose && r.status === "PASS") continue;
        lines.push(line(r));
        if (verbose && r.printed.length) for (const p of r.printed) lines.push(`  ${p}`);
      }
      lines.push("");
    }
    if (lines[lines.length - 1] === "") lines.pop();
    lines.push(RULE);
  }
  const counts = (s: TestResult["status"]) => results.filter((r) => r.status === s).length;
  const total = results.length;
  for (const s of ["PASS", "FAIL", "SKIPPED", "ERROR"] as const) {
    const n = counts(s);
    if (n) lines.push(`${s}: ${n}/${total}`);
  }
  if (total === 0) lines.push("no tests found");
  return lines.join("\n");
}

interface TestOpts {
  verbose?: boolean;
  run?: string;
  v0Compatible?: boolean;
  strictBuiltinErrors?: boolean;
  coverage?: boolean;
  format: string;
  threshold?: string;
}

export function registerPolicy(program: Command): void {
  const policy = program.command("policy").description("check, test, evaluate and format policies (Rego like opa)");
  registerPolicyOps(policy);

  policy
    .command("check")
    .description(
      "validate policy files (FILE, or DIR's policy.yaml / policy.md) and compile .rego modules together; " +
        "errors as file:line:col; exit 1 invalid, 2 unreadable",
    )
    .argument("<paths...>", "policy files, .rego files, or directories")
    .option("--v0-compatible", "parse .rego modules as Rego v0")
    .action(async (files: string[], o: { v0Compatible?: boolean }) => {
      const version: Version = o.v0Compatible ? "v0" : "v1";
      const rego = files.flatMap((f) => walkFiles(f, [".rego"])).filter((f) => f.endsWith(".rego"));
      const others = files.flatMap(policyFilesIn);
      for (const f of files) {
        if (!statSync(f).isDirectory() || policyFilesIn(f).length > 0) continue;
        if (!walkFiles(f, [".rego"]).some((r) => r.endsWith(".rego"))) {
          throw new ExitError(2, `${f}: no ${POLICY_FILE_NAMES.join(", ")} or .rego files in this directory`);
        }
      }
      const problems: string[] = [];
      if (rego.length) {
        try {
          compileFiles(rego, version);
        } catch (e) {
          if (e instanceof ExitError) problems.push(e.message);
          else throw e;
        }
      }
      if (others.length) {
        const { loadPolicy } = await import("../../policy/load.ts");
        for (const f of others) {
          try {
            await loadPolicy(f);
          } catch (e) {
            const err = e as Error & { code?: string };
            if (err.code === "policy_io") throw new ExitError(2, err.message);
            problems.push(err.message);
          }
        }
      }
      // a policy's network rules are compiled twice (with the policy and as .rego files): say each problem once
      if (problems.length) throw new ExitError(1, [...new Set(problems.flatMap((p) => p.split("\n")))].join("\n"));
    });

  policy
    .command("test")
    .description("run test_* rules in *_test.rego files like `opa test`")
    .argument("<paths...>")
    .option("-v, --verbose", "list every test")
    .option("-r, --run <regex>", "only tests whose full name matches")
    .option("--v0-compatible", "parse modules as Rego v0")
    .option("--strict-builtin-errors", "a failing builtin call is a test ERROR instead of undefined")
    .option("-c, --coverage", "report which lines the tests evaluated (covered / not covered per file, percentage)")
    .option("-f, --format <format>", "with --coverage: pretty (default, readable) or json (OPA's coverage report)", "pretty")
    .option("--threshold <percent>", "with --coverage: exit 1 when total coverage is under this percentage")
    .action(async (paths: string[], o: TestOpts) => {
      await loadAllLibraries(); // graphql/x509 builtins: their libraries live in the bundle once installed
      const files = paths.flatMap((p) => walkFiles(p, [".rego", ".json", ".yaml", ".yml"]));
      const rego = files.filter((f) => f.endsWith(".rego"));
      const data = loadData(files.filter((f) => !f.endsWith(".rego")));
      const compiled = compileFiles(rego, o.v0Compatible ? "v0" : "v1");
      let run: RegExp | undefined;
      try {
        run = o.run ? new RegExp(o.run) : undefined;
      } catch (e) {
        throw new ExitError(2, `invalid --run regex: ${(e as Error).message}`);
      }
      if (o.format !== "pretty" && o.format !== "json") throw new ExitError(2, `--format: expected pretty or json, got ${o.format}`);
      let threshold: number | undefined;
      if (o.threshold !== undefined) {
        threshold = Number(o.threshold);
        if (!o.coverage) throw new ExitError(2, "--threshold needs --coverage");
        if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) throw new ExitError(2, `--threshold: expected a percentage 0..100, got ${o.threshold}`);
      }
      const tracer = o.coverage ? new CoverageTracer() : undefined;
      const results = runTests(compiled, { run, data, strictBuiltinErrors: o.strictBuiltinErrors, cover: tracer?.hit });
      const failed = results.some((r) => r.status === "FAIL" || r.status === "ERROR");
      if (!tracer) {
        process.stdout.write(formatTests(results, !!o.verbose) + "\n");
        if (failed) throw new ExitError(1);
        return;
      }
      const report = coverageReport(compiled.modules, tracer);
      if (o.format === "json") process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else process.stdout.write(formatTests(results, !!o.verbose) + "\n\n" + formatCoverage(report) + "\n");
      if (failed) throw new ExitError(1, o.format === "json" ? formatTests(results, false) : "");
      if (threshold !== undefined && report.coverage < threshold)
        throw new ExitError(1, `Code coverage threshold not met: got ${report.coverage.toFixed(2)} instead of ${threshold.toFixed(2)}`);
    });

  policy
    .command("eval")
    .description("evaluate a query like `opa eval` (-f json gives OPA's JSON shape)")
    .argument("<query>")
    .option("-d, --data <path>", "Rego, JSON or YAML file or directory (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("-i, --input <file>", "input document (JSON or YAML)")
    .option("-f, --format <format>", "json (default), raw or pretty", "json")
    .option("--v0-compatible", "parse modules as Rego v0")
    .option("--strict-builtin-errors", "report builtin errors instead of treating calls as undefined")
    .action(async (query: string, o: { data: string[]; input?: string; format: string; v0Compatible?: boolean; strictBuiltinErrors?: boolean }) => {
      await loadAllLibraries();
      const files = o.data.flatMap((p) => walkFiles(p, [".rego", ".json", ".yaml", ".yml"]));
      const rego = files.filter((f) => f.endsWith(".rego"));
      const data = loadData(files.filter((f) => !f.endsWith(".rego")));
      let input: Value | undefined;
      if (o.input) {
        if (!existsSync(o.input)) throw new ExitError(2, `${o.input}: no such file`);
        const text = readFileSync(o.input, "utf8");
        try {
          input = o.input.endsWith(".json") ? parseJSON(text) : fromJSON(parseYAML(text, { intAsBigInt: true }));
        } catch (e) {
          throw new ExitError(2, `${o.input}: ${(e as Error).message}`);
        }
      }
      // compile errors come in the output format asked for, like `opa eval -f json`
      const mods = rego.map((f) => ({ path: display(f), source: readFileSync(f, "utf8") }));
      let compiled: CompiledPolicy;
      try {
        compiled = compile(mods, { regoVersion: o.v0Compatible ? "v0" : "v1" });
      } catch (e) {
        if (!(e instanceof RegoErrors)) throw e;
        if (o.format !== "json") throw new ExitError(1, e.message);
        process.stdout.write(errorsToJSON(e.errors, Object.fromEntries(mods.map((m) => [m.path, m.source]))) + "\n");
        throw new ExitError(1);
      }
      let rows;
      try {
        const q = compiled.prepare(query);
        rows = q.eval({ input, data, strictBuiltinErrors: o.strictBuiltinErrors, print: (l) => process.stderr.write(l + "\n") });
      } catch (e) {
        if (e instanceof RegoErrors || e instanceof RegoError) {
          if (o.format === "json") {
            process.stdout.write(errorsToJSON(e instanceof RegoErrors ? e.errors : [e], { query }) + "\n");
            throw new ExitError(1);
          }
          throw new ExitError(1, e.message);
        }
        throw e;
      }
      if (o.format === "json") {
        if (rows.length === 0) {
          process.stdout.write("{}\n");
          return;
        }
        const exprTexts = splitQuery(query);
        const result = rows.map((r) => {
          const parts: string[] = [];
          parts.push(
            `"expressions":[${r.expressions
              .map((v, i) => `{"value":${toJSONString(v)},"text":${JSON.stringify(exprTexts[i] ?? query)},"location":{"row":1,"col":${1 + exprOffset(query, exprTexts, i)}}}`)
              .join(",")}]`,
          );
          if (r.bindings.size) {
            const b = new RObject();
            for (const [k, v] of r.bindings) b.set(k, v);
            parts.push(`"bindings":${toJSONString(b)}`);
          }
          return `{${parts.join(",")}}`;
        });
        // re-indent through JSON.parse only when the numbers are safe; keep exact text otherwise
        const text = `{"result":[${result.join(",")}]}`;
        process.stdout.write(prettyJSON(text) + "\n");
        return;
      }
      if (rows.length === 0) {
        if (o.format === "pretty") process.stdout.write("undefined\n");
        return;
      }
      for (const r of rows) {
        if (r.bindings.size && o.format === "pretty") {
          const b = new RObject();
          for (const [k, v] of r.bindings) b.set(k, v);
          process.stdout.write(toJSONString(b, "  ") + "\n");
        } else {
          for (const v of r.expressions) process.stdout.write((o.format === "raw" && typeof v === "string" ? v : toJSONString(v, "  ")) + "\n");
        }
      }
    });

  policy
    .command("fmt")
    .description("rewrite Rego v0 modules into v1 syntax")
    .argument("<files...>")
    .option("--v0-to-v1", "rewrite v0 syntax into v1 (adds `if`, `contains`)")
    .option("-w, --write", "overwrite the files instead of printing")
    .action((files: string[], o: { v0ToV1?: boolean; write?: boolean }) => {
      if (!o.v0ToV1) throw new ExitError(2, "policy fmt: only --v0-to-v1 is supported");
      const errors: string[] = [];
      for (const f of files.flatMap((p) => walkFiles(p, [".rego"]))) {
        let out: string;
        try {
          out = v0ToV1(readFileSync(f, "utf8"), display(f));
          compile([{ path: display(f), source: out }], { regoVersion: "v1" });
        } catch (e) {
          errors.push(e instanceof RegoError || e instanceof RegoErrors ? e.message : String(e));
          continue;
        }
        if (o.write) writeFileSync(f, out);
        else process.stdout.write(out);
      }
      if (errors.length) throw new ExitError(1, errors.join("\n"));
    });
}

/** Split a query into its top-level expressions (by `;` and newlines outside brackets/strings). */
function splitQuery(q: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  let inStr: string | undefined;
  for (let i = 0; i < q.length; i++) {
    const ch = q[i]!;
    if (inStr) {
      cur += ch;
      if (ch === "\\" && inStr === '"') cur += q[++i] ?? "";
      else if (ch === inStr) inStr = undefined;
      continue;
    }
    if (ch === '"' || ch === "`") inStr = ch;
    if ("([{".includes(ch)) depth++;
    if (")]}".includes(ch)) depth--;
    if ((ch === ";" || ch === "\n") && depth === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function exprOffset(q: string, parts: string[], i: number): number {
  const p = parts[i];
  if (!p) return 0;
  let from = 0;
  for (let j = 0; j < i; j++) from = q.indexOf(parts[j]!, from) + parts[j]!.length;
  return Math.max(0, q.indexOf(p, from));
}

/** Indent compact JSON text without re-parsing numbers (keeps big integers exact). */
function prettyJSON(s: string): string {
  let out = "";
  let ind = 0;
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (inStr) {
      out += ch;
      if (ch === "\\") out += s[++i];
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') {
      inStr = true;
      out += ch;
    } else if (ch === "{" || ch === "[") {
      const close = ch === "{" ? "}" : "]";
      if (s[i + 1] === close) {
        out += ch + close;
        i++;
        continue;
      }
      ind++;
      out += ch + "\n" + "  ".repeat(ind);
    } else if (ch === "}" || ch === "]") {
      ind--;
      out += "\n" + "  ".repeat(ind) + ch;
    } else if (ch === ",") out += ",\n" + "  ".repeat(ind);
    else if (ch === ":") out += ": ";
    else out += ch;
  }
  return out;
}
