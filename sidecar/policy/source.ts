// Reads a policy file's text into one YAML document whose positions are the file's own lines and columns.
// Markdown: every line outside ```yaml fences is blanked (so line numbers stay those of the .md file) and the
// fenced blocks parse as one document; duplicate top-level keys across blocks are reported like any YAML duplicate.
// Fenced ```rego blocks become inline network modules.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { PolicyIssue } from "./errors.ts";

export interface PolicySource {
  file: string;
  /** Name used in messages (as the operator passed it). */
  display: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** Inline Rego modules from a Markdown policy, named `<file>#L<line>`. */
  rego: { path: string; source: string; line: number }[];
  /** Syntax errors (already positioned). */
  syntaxIssues: PolicyIssue[];
  /** Markdown: columns stripped from a line (indented fences), added back when reporting positions. */
  colOffset: Map<number, number>;
}

export function isMarkdown(file: string): boolean {
  return /\.(md|markdown)$/i.test(file);
}

/** Splits Markdown into YAML text (same line count) and Rego blocks. */
export function extractMarkdown(
  text: string,
  display: string,
): { yaml: string; rego: { path: string; source: string; line: number }[]; colOffset: Map<number, number> } {
  const colOffset = new Map<number, number>();
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  const rego: { path: string; source: string; line: number }[] = [];
  let fence: { marker: string; lang: string; indent: number; start: number; body: string[] } | undefined;
  lines.forEach((line, i) => {
    if (!fence) {
      const m = /^( {0,3})(`{3,}|~{3,})\s*([A-Za-z0-9_-]*)/.exec(line);
      if (m) fence = { marker: m[2]!, lang: m[3]!.toLowerCase(), indent: m[1]!.length, start: i + 1, body: [] };
      out.push("");
      return;
    }
    const close = new RegExp(`^ {0,3}${fence.marker[0] === "`" ? "`" : "~"}{${fence.marker.length},}\\s*$`);
    if (close.test(line)) {
      if (fence.lang === "rego")
        rego.push({
          path: `${display}#L${fence.start + 1}`,
          source: fence.body.join("\n") + "\n",
          line: fence.start + 1,
        });
      fence = undefined;
      out.push("");
      return;
    }
    const body = line.startsWith(" ".repeat(fence.indent)) ? line.slice(fence.indent) : line.trimStart();
    if (body.length !== line.length) colOffset.set(i + 1, line.length - body.length);
    fence.body.push(body);
    out.push(fence.lang === "yaml" || fence.lang === "yml" ? body : "");
  });
  return { yaml: out.join("\n"), rego, colOffset };
}

export function parseSource(file: string, display: string, text: string): PolicySource {
  let yamlText = text;
  let rego: PolicySource["rego"] = [];
  let colOffset = new Map<number, number>();
  if (isMarkdown(file)) ({ yaml: yamlText, rego, colOffset } = extractMarkdown(text, display));
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lines, intAsBigInt: true, uniqueKeys: true, prettyErrors: false });
  const syntaxIssues: PolicyIssue[] = [...doc.errors].map((e) => {
    const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    return {
      file: display,
      line: pos.line,
      column: pos.col + (colOffset.get(pos.line) ?? 0),
      path: "",
      message: `YAML syntax: ${firstLine(e.message)}`,
    };
  });
  return { file, display, doc, lines, rego, syntaxIssues, colOffset };
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

/** The YAML node at a path, walking up to the nearest existing ancestor. `key: true` points at the key itself. */
export function nodeAt(
  doc: Document.Parsed,
  path: readonly (string | number)[],
  opts: { key?: boolean } = {},
): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = (doc.contents as Node | null) ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return last;
      if (opts.key && i === path.length - 1) return pair.key as Node;
      node = pair.value;
      if (node) last = node as Node;
      else return pair.key as Node;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (!item) return last;
      node = item;
      last = item as Node;
    } else {
      return last;
    }
  }
  return last;
}

/** Line and column (1-based) of a path's node in the source. */
export function positionOf(
  src: PolicySource,
  path: readonly (string | number)[],
  opts: { key?: boolean } = {},
): { line: number; column: number } {
  const node = nodeAt(src.doc, path, opts);
  const offset = node?.range?.[0] ?? 0;
  const p = src.lines.linePos(offset);
  return { line: p.line, column: p.col + (src.colOffset.get(p.line) ?? 0) };
}

/** Position of a character inside a scalar string (for CEL errors): best effort for plain and quoted scalars. */
export function positionInScalar(
  src: PolicySource,
  path: readonly (string | number)[],
  index: number,
): { line: number; column: number } {
  const node = nodeAt(src.doc, path);
  if (!node || !isScalar(node) || !node.range) return positionOf(src, path);
  const quoted = node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE" ? 1 : 0;
  const start = src.lines.linePos(node.range[0]);
  const end = src.lines.linePos(node.range[1]);
  const shift = src.colOffset.get(start.line) ?? 0;
  if (start.line !== end.line) return { line: start.line, column: start.col + shift };
  return { line: start.line, column: start.col + shift + quoted + index };
}

/** Address labels written as trailing comments on address-list entries (`- "0x1111…"   # vendor-a`) under
 * evm.recipients, evm.contracts and evm.delegations: the reference policy names its vendors this way, and operators
 * read those names when they approve. Lower-case address → label. */
export function commentLabels(src: PolicySource): Map<string, string> {
  const out = new Map<string, string>();
  const lists = [
    ["evm", "recipients", "allow"],
    ["evm", "recipients", "deny"],
    ["evm", "contracts", "allow"],
    ["evm", "contracts", "deny"],
    ["evm", "delegations", "allow"],
  ];
  for (const p of lists) {
    const seq = nodeAt(src.doc, p);
    if (!isSeq(seq)) continue;
    for (const item of seq.items) {
      if (!isScalar(item) || typeof item.value !== "string" || !item.comment) continue;
      const label = item.comment.trim().split("\n")[0]!.trim();
      if (/^0x[0-9a-fA-F]{40}$/.test(item.value) && label) out.set(item.value.toLowerCase(), label.slice(0, 64));
    }
  }
  return out;
}
