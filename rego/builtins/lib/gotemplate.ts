// A subset of Go's text/template for strings.render_template: field paths, variables, if/else/range/with,
// comparison and logic functions, len/index/print/printf, trim markers and comments.
import { sprintf, intArg, type GoArg } from "./gofmt.ts";

export class TemplateError extends Error {}

type J = unknown;

type Node =
  | { k: "text"; s: string }
  | { k: "action"; pipe: string }
  | { k: "if" | "with"; pipe: string; then: Node[]; else: Node[] }
  | { k: "range"; pipe: string; vars: string[]; body: Node[]; else: Node[] };

const MISSING = Symbol("missing");

function tokenize(src: string): ({ t: "text"; s: string } | { t: "act"; s: string })[] {
  const out: ({ t: "text"; s: string } | { t: "act"; s: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open < 0) {
      out.push({ t: "text", s: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    if (src[j] === "-" && /\s/.test(src[j + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      j += 1;
    }
    if (text) out.push({ t: "text", s: text });
    const close = src.indexOf("}}", j);
    if (close < 0) throw new TemplateError("template: unclosed action");
    let inner = src.slice(j, close);
    let next = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      while (next < src.length && /\s/.test(src[next]!)) next++;
    }
    inner = inner.trim();
    if (!(inner.startsWith("/*") && inner.endsWith("*/"))) out.push({ t: "act", s: inner });
    i = next;
  }
  return out;
}

function parse(src: string): Node[] {
  const toks = tokenize(src);
  let p = 0;
  const parseIf = (kind: "if" | "with", pipe: string): Node => {
    const [body, end] = block(["else", "end"]);
    let els: Node[] = [];
    if (end.startsWith("else")) {
      const rest = end.slice(4).trim();
      if (rest.startsWith("if ")) els = [parseIf("if", rest.slice(3).trim())];
      else if (rest.startsWith("with ")) els = [parseIf("with", rest.slice(5).trim())];
      else [els] = block(["end"]);
    }
    return { k: kind, pipe, then: body, else: els };
  };
  const block = (stop: string[]): [Node[], string] => {
    const nodes: Node[] = [];
    while (p < toks.length) {
      const t = toks[p++]!;
      if (t.t === "text") {
        nodes.push({ k: "text", s: t.s });
        continue;
      }
      const word = t.s.split(/\s+/)[0]!;
      if (stop.includes(word) || (word === "else" && stop.includes("else"))) return [nodes, t.s];
      if (word === "if" || word === "with") {
        nodes.push(parseIf(word, t.s.slice(word.length).trim()));
      } else if (word === "range") {
        let expr = t.s.slice(5).trim();
        let vars: string[] = [];
        const m = /^(\$\w*)\s*(?:,\s*(\$\w*))?\s*:=\s*(.*)$/.exec(expr);
        if (m) {
          vars = [m[1]!, ...(m[2] ? [m[2]] : [])];
          expr = m[3]!;
        }
        const [body, end] = block(["else", "end"]);
        let els: Node[] = [];
        if (end.startsWith("else")) [els] = block(["end"]);
        nodes.push({ k: "range", pipe: expr, vars, body, else: els });
      } else nodes.push({ k: "action", pipe: t.s });
    }
    if (stop.length) throw new TemplateError("template: unexpected EOF");
    return [nodes, ""];
  };
  return block([])[0];
}

function truthy(v: J): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === 0 || v === 0n || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

export function goPrint(v: J): string {
  if (v === MISSING) return "<undefined>";
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "[" + v.map(goPrint).join(" ") + "]";
  const o = v as Record<string, J>;
  return (
    "map[" +
    Object.keys(o)
      .sort()
      .map((k) => `${k}:${goPrint(o[k])}`)
      .join(" ") +
    "]"
  );
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (/\s/.test(s[i]!)) {
      i++;
      continue;
    }
    if (s[i] === '"' || s[i] === "`") {
      const q = s[i]!;
      let j = i + 1;
      while (j < s.length && s[j] !== q) j += s[j] === "\\" && q === '"' ? 2 : 1;
      out.push(s.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (s[i] === "(") {
      let depth = 0;
      let j = i;
      for (; j < s.length; j++) {
        if (s[j] === "(") depth++;
        else if (s[j] === ")" && --depth === 0) break;
      }
      out.push(s.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < s.length && !/\s/.test(s[j]!)) j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

function cmp(a: J, b: J): number {
  const x = typeof a === "bigint" ? Number(a) : a;
  const y = typeof b === "bigint" ? Number(b) : b;
  if (typeof x === "number" && typeof y === "number") return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === "string" && typeof y === "string") return x < y ? -1 : x > y ? 1 : 0;
  throw new TemplateError("template: incompatible types for comparison");
}

function toGoArg(v: J): GoArg {
  if (typeof v === "bigint") return intArg(v);
  if (typeof v === "number") return Number.isInteger(v) ? intArg(BigInt(v)) : { t: "float", v };
  return { t: "string", v: goPrint(v) };
}

class Exec {
  vars: Map<string, J>[] = [];
  constructor(readonly root: J) {}

  lookup(name: string): J {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.has(name)) return this.vars[i]!.get(name);
    if (name === "$") return this.root;
    throw new TemplateError(`template: undefined variable "${name}"`);
  }

  field(base: J, path: string[]): J {
    let cur = base;
    for (const p of path) {
      if (cur === MISSING) return MISSING;
      if (cur && typeof cur === "object" && !Array.isArray(cur)) {
        const o = cur as Record<string, J>;
        cur = Object.prototype.hasOwnProperty.call(o, p) ? o[p] : MISSING;
      } else return MISSING;
    }
    return cur;
  }

  term(tok: string, dot: J): J {
    if (tok === ".") return dot;
    if (tok.startsWith("(")) return this.pipe(tok.slice(1, -1), dot);
    if (tok.startsWith(".")) return this.field(dot, tok.slice(1).split("."));
    if (tok.startsWith("$")) {
      const [v, ...path] = tok.split(".");
      return this.field(this.lookup(v!), path);
    }
    if (tok.startsWith('"')) return JSON.parse(tok);
    if (tok.startsWith("`")) return tok.slice(1, -1);
    if (/^-?\d+$/.test(tok)) return Number(tok);
    if (/^-?\d*\.\d+([eE][+-]?\d+)?$/.test(tok)) return Number(tok);
    if (tok === "true") return true;
    if (tok === "false") return false;
    if (tok === "nil") return null;
    throw new TemplateError(`template: function "${tok}" not defined`);
  }

  call(name: string, args: string[], dot: J, piped: J[]): J {
    const vals = () => [...args.map((a) => this.term(a, dot)), ...piped];
    switch (name) {
      case "and": {
        let last: J = true;
        for (const v of vals()) {
          last = v;
          if (!truthy(v)) return v;
        }
        return last;
      }
      case "or": {
        let last: J = false;
        for (const v of vals()) {
          last = v;
          if (truthy(v)) return v;
        }
        return last;
      }
      case "not":
        return !truthy(vals()[0]);
      case "len": {
        const v = vals()[0];
        if (typeof v === "string") return Buffer.byteLength(v);
        if (Array.isArray(v)) return v.length;
        if (v && typeof v === "object") return Object.keys(v).length;
        throw new TemplateError("template: len of invalid value");
      }
      case "index": {
        const [b, ...ks] = vals();
        let cur = b;
        for (const k of ks) {
          if (Array.isArray(cur)) cur = cur[Number(k)];
          else if (cur && typeof cur === "object") cur = (cur as Record<string, J>)[String(k)] ?? MISSING;
          else return MISSING;
        }
        return cur;
      }
      case "eq": {
        const [a, ...bs] = vals();
        return bs.some((b) => goPrint(a) === goPrint(b) && typeof a === typeof b);
      }
      case "ne": {
        const [a, b] = vals();
        return goPrint(a) !== goPrint(b);
      }
      case "lt": {
        const [a, b] = vals();
        return cmp(a, b) < 0;
      }
      case "le": {
        const [a, b] = vals();
        return cmp(a, b) <= 0;
      }
      case "gt": {
        const [a, b] = vals();
        return cmp(a, b) > 0;
      }
      case "ge": {
        const [a, b] = vals();
        return cmp(a, b) >= 0;
      }
      case "print":
        return vals().map(goPrint).join("");
      case "println":
        return vals().map(goPrint).join(" ") + "\n";
      case "printf": {
        const [f, ...rest] = vals();
        return sprintf(String(f), rest.map(toGoArg));
      }
      default:
        return this.term(name, dot);
    }
  }

  command(cmd: string, dot: J, piped: J[]): J {
    const parts = splitArgs(cmd);
    if (parts.length === 0) throw new TemplateError("template: empty command");
    const head = parts[0]!;
    if (/^[a-z]\w*$/.test(head) && !["true", "false", "nil"].includes(head))
      return this.call(head, parts.slice(1), dot, piped);
    if (parts.length > 1 || piped.length)
      throw new TemplateError(`template: can't give argument to non-function ${head}`);
    return this.term(head, dot);
  }

  pipe(src: string, dot: J): J {
    let s = src.trim();
    let decl: string | undefined;
    const m = /^(\$\w*)\s*:?=\s*(.*)$/s.exec(s);
    if (m) {
      decl = m[1];
      s = m[2]!;
    }
    const cmds = s.split(/\|(?=(?:[^"`]*["`][^"`]*["`])*[^"`]*$)/);
    let val: J = undefined;
    cmds.forEach((c, i) => {
      val = this.command(c.trim(), dot, i === 0 ? [] : [val]);
    });
    if (decl) this.vars[this.vars.length - 1]!.set(decl, val);
    return val;
  }

  run(nodes: Node[], dot: J): string {
    let out = "";
    this.vars.push(new Map());
    for (const n of nodes) {
      switch (n.k) {
        case "text":
          out += n.s;
          break;
        case "action": {
          const isDecl = /^\$\w*\s*:?=/.test(n.pipe);
          const v = this.pipe(n.pipe, dot);
          if (!isDecl) out += goPrint(v);
          break;
        }
        case "if":
          out += truthy(this.pipe(n.pipe, dot)) ? this.run(n.then, dot) : this.run(n.else, dot);
          break;
        case "with": {
          const v = this.pipe(n.pipe, dot);
          out += truthy(v) ? this.run(n.then, v) : this.run(n.else, dot);
          break;
        }
        case "range": {
          const v = this.pipe(n.pipe, dot);
          const entries: [J, J][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === "object"
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, (v as Record<string, J>)[k]])
              : typeof v === "number"
                ? Array.from({ length: Math.min(Math.max(0, v), 1_000_000) }, (_x, i) => [i, i])
                : [];
          if (entries.length === 0) {
            out += this.run(n.else, dot);
            break;
          }
          for (const [k, x] of entries) {
            const scope = new Map<string, J>();
            if (n.vars.length === 1) scope.set(n.vars[0]!, x);
            else if (n.vars.length === 2) {
              scope.set(n.vars[0]!, k);
              scope.set(n.vars[1]!, x);
            }
            this.vars.push(scope);
            out += this.run(n.body, x);
            this.vars.pop();
          }
          break;
        }
      }
    }
    this.vars.pop();
    return out;
  }
}

export function renderTemplate(src: string, data: J): string {
  return new Exec(data).run(parse(src), data);
}
