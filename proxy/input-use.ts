// Which parts of the input document compiled network rules can read, decided from the compiled policy (imports and
// aliases resolved, `input.request["body"]` and `input["request"].body` both spelled as one ref), not from the
// source text. Conservative: anything the analysis cannot prove does not reach `input.request.body` counts as
// reading it: `input` as a whole (`walk(input)`, `json.marshal(input)`, `with input as …`, a function given
// `input`), `input.request` as a whole (`object.get(input.request, "body", …)`, `x := input.request`), and any
// dynamic key on the way (`input[k]`, `input.request[k]`).
import type { Term } from "../rego/ast.ts";
import type { Node } from "../rego/compile.ts";
import { compile, type CompiledPolicy, type ModuleSource } from "../rego/index.ts";

export interface InputUse {
  /** The rules may read `input.request.body`. */
  body: boolean;
  /** The rules name `input.request.headers.upgrade` literally (they decide upgrade requests on purpose). */
  upgradeHeader: boolean;
}

function str(t: Term | undefined): string | null {
  return t !== undefined && t.t === "val" && typeof t.v === "string" ? t.v : null;
}

function isInputVar(t: unknown): boolean {
  const v = t as { t?: unknown; name?: unknown; slot?: unknown };
  return v?.t === "var" && v.name === "input" && v.slot === undefined;
}

/** What one reference `input[p0][p1]…` can reach. */
function classify(path: Term[], use: InputUse): void {
  const p0 = str(path[0]);
  if (p0 === null) return void (use.body = true); // input[k]
  if (p0 !== "request") return; // input.source, input.attestation, input.timestamp
  if (path.length === 1) return void (use.body = true); // input.request as a whole
  const p1 = str(path[1]);
  if (p1 === null || p1 === "body") return void (use.body = true);
  if (p1 === "headers" && str(path[2]) === "upgrade") use.upgradeHeader = true;
}

/** How the compiled rules use the input document. */
export function inputUse(compiled: CompiledPolicy): InputUse {
  const use: InputUse = { body: false, upgradeHeader: false };
  const seen = new Set<object>();
  const visit = (x: unknown): void => {
    if (x === null || typeof x !== "object" || seen.has(x)) return;
    seen.add(x);
    if (Array.isArray(x)) {
      for (const y of x) visit(y);
      return;
    }
    const o = x as Record<string, unknown>;
    if (o.t === "ref" && isInputVar(o.head)) {
      classify(o.path as Term[], use);
      visit(o.path); // dynamic keys may hold further refs
      return;
    }
    if (isInputVar(o)) {
      use.body = true; // input as a whole
      return;
    }
    for (const [k, v] of Object.entries(o)) if (k !== "loc" && k !== "module") visit(v);
  };
  const walk = (n: Node): void => {
    for (const r of n.rules) visit(r);
    if (n.defaultRule) visit(n.defaultRule);
    for (const c of n.children.values()) walk(c);
  };
  walk(compiled.tree);
  return use;
}

/** The same for module sources. Sources that do not compile read everything (the policy load reports them). */
export function modulesInputUse(modules: readonly ModuleSource[]): InputUse {
  try {
    return inputUse(compile([...modules]));
  } catch {
    return { body: true, upgradeHeader: false };
  }
}
