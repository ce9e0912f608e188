// Tokenizer for Rego source. Produces tokens with 1-based row/col and a flag for "a newline came before this token",
// which the parser uses to end expressions at line breaks.
import { RegoError } from "./errors.ts";

export type TokKind = "ident" | "num" | "str" | "rawstr" | "tmpl" | "op" | "eof";

export interface Token {
  kind: TokKind;
  text: string; // ident name, operator text, number text, decoded string value
  row: number;
  col: number;
  nl: boolean; // a newline separates this token from the previous one
  /** template strings: literal parts and expression sources (parts.length = exprs.length + 1) */
  tmpl?: { parts: string[]; exprs: { src: string; row: number; col: number }[] };
}

const OPS = [":=", "==", "!=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/", "%", "&", "|", "(", ")", "[", "]", "{", "}", ",", ";", ".", ":"];

export function tokenize(src: string, file: string, rowOffset = 0, colOffset = 0, comments?: Map<number, string>): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let row = 1 + rowOffset;
  let lineStart = 0;
  let nl = true;
  const n = src.length;
  const err = (msg: string, r = row, c = i - lineStart + 1): RegoError =>
    new RegoError("rego_parse_error", msg, { file, row: r, col: c + (r === 1 + rowOffset ? colOffset : 0) });
  const col = () => i - lineStart + 1 + (row === 1 + rowOffset ? colOffset : 0);
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      i++;
      row++;
      lineStart = i;
      nl = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    if (c === 35) {
      // # comment (kept by row for METADATA annotations)
      const start = i;
      while (i < n && src.charCodeAt(i) !== 10) i++;
      if (comments) comments.set(row, src.slice(start + 1, i).replace(/\r$/, ""));
      continue;
    }
    const r = row;
    const cl = col();
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(src.charCodeAt(j))) j++;
      toks.push({ kind: "ident", text: src.slice(i, j), row: r, col: cl, nl });
      i = j;
      nl = false;
      continue;
    }
    if (c >= 48 && c <= 57) {
      const m = /^(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(src.slice(i, i + 1000));
      if (!m) throw err("illegal number format");
      const j = i + m[0].length;
      // "01" and "1a" are errors in Rego
      if (j < n && (isIdentPart(src.charCodeAt(j)) || src[j] === "."))
        if (!(src[j] === "." && !/\d/.test(src[j + 1] ?? ""))) throw err(`illegal number format`);
      toks.push({ kind: "num", text: m[0], row: r, col: cl, nl });
      i = j;
      nl = false;
      continue;
    }
    if (c === 34) {
      const [s, j] = readString(src, i, (m, at) => {
        if (m !== "non-terminated string") return err(m);
        // OPA reports where its scanner stopped: after the newline (next row, column 0) or at the last character
        if (at < n && src[at] === "\n") return err(m, row + 1, 0);
        return err(m, row, n - lineStart);
      });
      toks.push({ kind: "str", text: s, row: r, col: cl, nl });
      i = j;
      nl = false;
      continue;
    }
    if (c === 96) {
      const j = src.indexOf("`", i + 1);
      if (j < 0) {
        let r = row;
        let ls = lineStart;
        for (let k = i; k < n; k++) if (src.charCodeAt(k) === 10) {
          r++;
          ls = k + 1;
        }
        throw err("non-terminated string", r, n - ls);
      }
      const s = src.slice(i + 1, j);
      for (let k = i; k < j; k++) if (src.charCodeAt(k) === 10) {
        row++;
        lineStart = k + 1;
      }
      toks.push({ kind: "rawstr", text: s, row: r, col: cl, nl });
      i = j + 1;
      nl = false;
      continue;
    }
    if (c === 36 && (src[i + 1] === '"' || src[i + 1] === "`")) {
      const raw = src[i + 1] === "`";
      const startRow = row;
      const t = readTemplate(src, i + 2, raw, err, () => {
        row++;
      }, (k) => (lineStart = k));
      toks.push({ kind: "tmpl", text: "", row: startRow, col: cl, nl, tmpl: t.tmpl });
      i = t.end;
      nl = false;
      continue;
    }
    let op: string | undefined;
    for (const o of OPS) if (src.startsWith(o, i)) {
      op = o;
      break;
    }
    if (!op) throw err(`illegal token '${src[i]}'`);
    toks.push({ kind: "op", text: op, row: r, col: cl, nl });
    i += op.length;
    nl = false;
  }
  // OPA's scanner leaves the end of input at the last character read: its column, or column 0 of the next row
  // after a final newline
  toks.push({ kind: "eof", text: "", row, col: col() - 1, nl: true });
  return toks;
}

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

function readString(src: string, i: number, err: (m: string, at: number) => RegoError): [string, number] {
  let j = i + 1;
  while (j < src.length && src[j] !== '"') {
    if (src[j] === "\n") throw err("non-terminated string", j);
    j += src[j] === "\\" ? 2 : 1;
  }
  if (j >= src.length) throw err("non-terminated string", src.length);
  try {
    return [JSON.parse(src.slice(i, j + 1)) as string, j + 1];
  } catch {
    throw err("illegal escape sequence", i);
  }
}

/** Template strings: $"a {expr} b" and $`a {expr} b`; `\{` escapes a brace in $"...". */
function readTemplate(
  src: string,
  i: number,
  raw: boolean,
  err: (m: string) => RegoError,
  onNewline: () => void,
  setLineStart: (k: number) => void,
): { end: number; tmpl: NonNullable<Token["tmpl"]> } {
  const parts: string[] = [];
  const exprs: { src: string; row: number; col: number }[] = [];
  let cur = "";
  let j = i;
  const close = raw ? "`" : '"';
  let row = 0;
  while (j < src.length && src[j] !== close) {
    const ch = src[j]!;
    if (ch === "\n") {
      if (!raw) throw err("non-terminated string");
      onNewline();
      setLineStart(j + 1);
      row++;
      cur += ch;
      j++;
      continue;
    }
    if (ch === "\\" && src[j + 1] === "{") {
      // `\{` escapes a brace in both template forms
      cur += "{";
      j += 2;
      continue;
    }
    if (!raw && ch === "\\") {
      const m = /^\\(u[0-9a-fA-F]{4}|["\\/bfnrt])/.exec(src.slice(j, j + 6));
      if (!m) throw err("illegal escape sequence");
      cur += JSON.parse('"' + m[0] + '"') as string;
      j += m[0].length;
      continue;
    }
    if (ch === "{") {
      // find matching close brace, skipping strings
      let depth = 1;
      let k = j + 1;
      while (k < src.length && depth > 0) {
        const d = src[k]!;
        if (d === '"') {
          k++;
          while (k < src.length && src[k] !== '"') k += src[k] === "\\" ? 2 : 1;
        } else if (d === "`" && !raw) {
          k = src.indexOf("`", k + 1);
          if (k < 0) throw err("non-terminated template expression");
        } else if (d === "{") depth++;
        else if (d === "}") depth--;
        k++;
      }
      if (depth !== 0) throw err("non-terminated template expression");
      parts.push(cur);
      cur = "";
      exprs.push({ src: src.slice(j + 1, k - 1), row, col: j + 1 });
      j = k;
      continue;
    }
    cur += ch;
    j++;
  }
  if (j >= src.length) throw err("non-terminated string");
  parts.push(cur);
  return { end: j + 1, tmpl: { parts, exprs } };
}
