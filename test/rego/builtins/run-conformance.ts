// Dev tool (not a test): runs the shared conformance cases of the given directories and prints failures.
// Usage: npx tsx test/rego/builtins/run-conformance.ts [dir-substring...]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { compile } from "../../../rego/index.ts";
import { fromJSON, makeObject, toJSONString, type Value } from "../../../rego/value.ts";

const ROOT = "/work/shared/rego-conformance/v1/test/cases/testdata";
const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const verbose = process.argv.includes("-v");

function norm(v: unknown): unknown {
  if (typeof v === "bigint") return v;
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = norm(x);
    return o;
  }
  return v;
}

function canon(v: Value): string {
  return toJSONString(v);
}

let pass = 0;
let fail = 0;
const perDir = new Map<string, [number, number]>();
for (const ver of ["v0", "v1"]) {
  for (const dir of readdirSync(join(ROOT, ver))) {
    if (filters.length && !filters.some((f) => dir.includes(f))) continue;
    for (const file of readdirSync(join(ROOT, ver, dir))) {
      const doc = YAML.parse(readFileSync(join(ROOT, ver, dir, file), "utf8"), { intAsBigInt: true }) as {
        cases: Record<string, unknown>[];
      };
      for (const c of doc.cases) {
        let ok = false;
        let why = "";
        try {
          const policy = compile(
            ((c.modules as string[]) ?? []).map((s, i) => ({ path: `test-${i}.rego`, source: s })),
            { regoVersion: ver as "v0" | "v1" },
          );
          const q = policy.prepare(c.query as string);
          let input: Value | undefined = c.input === undefined ? undefined : fromJSON(norm(c.input));
          if (typeof c.input_term === "string") {
            const t = compile([{ path: "input.rego", source: `package __input\n\nv := ${c.input_term}\n` }]);
            input = t.prepare("data.__input.v").eval()[0]?.expressions[0];
          }
          const rows = q.eval({
            input,
            data: c.data === undefined ? undefined : fromJSON(norm(c.data)),
            strictBuiltinErrors: !!c.strict_error,
          });
          if (c.want_error || c.want_error_code) {
            why = `expected error ${c.want_error_code ?? ""} ${c.want_error ?? ""}, got ${rows.length} rows`;
          } else {
            const got = new Set(
              rows.map((r) => canon(makeObject([...r.bindings].filter(([k]) => !k.startsWith("__"))))),
            );
            const want = new Set((c.want_result as unknown[]).map((w) => canon(fromJSON(norm(w)))));
            ok = got.size === want.size && [...want].every((w) => got.has(w));
            if (!ok) why = `want ${[...want].join(" | ")}\n      got  ${[...got].join(" | ")}`;
          }
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          if (c.want_error || c.want_error_code) {
            const codeOk =
              !c.want_error_code ||
              msg.includes(c.want_error_code as string) ||
              (e as { code?: string }).code === c.want_error_code;
            ok = codeOk && (!c.want_error || msg.includes(c.want_error as string));
            if (!ok) why = `want error ${c.want_error_code ?? ""} "${c.want_error ?? ""}"\n      got ${msg}`;
          } else why = `error: ${msg.split("\n").slice(0, 3).join(" / ")}`;
        }
        const key = `${ver}/${dir}`;
        const pd = perDir.get(key) ?? [0, 0];
        if (ok) {
          pass++;
          pd[0]++;
        } else {
          fail++;
          pd[1]++;
          if (verbose) console.log(`FAIL ${key}/${file}: ${c.note}\n      ${why}`);
        }
        perDir.set(key, pd);
      }
    }
  }
}
for (const [k, [p, f]] of [...perDir].sort()) if (f) console.log(`${k}: ${p} pass, ${f} fail`);
console.log(`TOTAL ${pass} pass, ${fail} fail`);
