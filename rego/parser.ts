// Recursive-descent parser for Rego v1 (default) and v0 modules, and for queries.
import type { Expr, Import, Module, Rule, RuleHead, Term, With } from "./ast.ts";
import { RegoError, type Location } from "./errors.ts";
import { tokenize, type Token } from "./lexer.ts";
import { literalNumber } from "./value.ts";
import { parse as parseYAML } from "yaml";

export type RegoVersion = "v0" | "v1";

const FUTURE_KEYWORDS = ["in", "every", "contains", "if"];

export class Parser {
  private toks: Token[];
  private p = 0;
  /** bracket nesting: inside ( [ { of terms, newlines do not end expressions */
  private depth = 0;
  /** while parsing the first element of [ or {, `|` starts a comprehension rather than a set union */
  private noOr = false;
  private kw: Set<string>;
  readonly errors: RegoError[] = [];
  v1Rules: boolean;
  /** source edits that turn this v0 module into v1 (for `policy fmt --v0-to-v1`) */
  readonly v1Edits: {
    row: number;
    col: number;
    endRow?: number;
    endCol?: number;
    text: string;
    /** chained v0 bodies: repeat the rule head (source span) before the text */
    head?: { row: number; col: number; endRow: number; endCol: number };
  }[] = [];
  private lastBodyOpen: Token | undefined;
  private lastBracket: [Token, Token] | undefined;
  /** comment text by row, for METADATA annotations */
  private comments = new Map<number, string>();

  constructor(
    src: string,
    readonly file: string,
    readonly version: RegoVersion,
    rowOffset = 0,
    colOffset = 0,
  ) {
    this.toks = tokenize(src, file, rowOffset, colOffset, this.comments);
    this.v1Rules = version === "v1";
    this.kw = new Set(version === "v1" ? FUTURE_KEYWORDS : []);
  }

  // -------------------------------------------------------------------------------------------------------------
  // token helpers

  private get tok(): Token {
    return this.toks[this.p] as Token;
  }
  private cur(): Token {
    return this.toks[this.p] as Token;
  }
  private peek(k = 1): Token {
    return this.toks[Math.min(this.p + k, this.toks.length - 1)]!;
  }
  private loc(t: Token = this.tok): Location {
    return { file: this.file, row: t.row, col: t.col };
  }
  private err(msg: string, t: Token = this.tok): RegoError {
    return new RegoError("rego_parse_error", msg, this.loc(t));
  }
  private isOp(text: string, t: Token = this.tok): boolean {
    return t.kind === "op" && t.text === text;
  }
  private isKw(word: string, t: Token = this.tok): boolean {
    if (t.kind !== "ident" || t.text !== word) return false;
    if (FUTURE_KEYWORDS.includes(word) || word === "and" || word === "or") return this.kw.has(word);
    return true;
  }
  /** a keyword used as a ref head (`as.foo`, `some.bar`): directly followed by `.` or `[` */
  private keywordRef(t: Token = this.tok): boolean {
    const i = this.toks.indexOf(t);
    const n = this.toks[i + 1];
    return !!n && n.kind === "op" && (n.text === "." || n.text === "[") && n.row === t.row && n.col === t.col + t.text.length;
  }
  private expectOp(text: string): Token {
    if (!this.isOp(text)) throw this.err(`unexpected ${this.describe()} token: expected ${text}`);
    return this.toks[this.p++]!;
  }
  private describe(t: Token = this.tok): string {
    if (t.kind === "eof") return "eof";
    if (t.kind === "ident") return KEYWORDS.has(t.text) ? `${t.text} keyword` : "ident";
    if (t.kind === "num") return "number";
    if (t.kind === "str" || t.kind === "rawstr" || t.kind === "tmpl") return "string";
    return OP_NAMES[t.text] ?? t.text;
  }

  // -------------------------------------------------------------------------------------------------------------
  // module

  parseModule(): Module {
    if (!(this.tok.kind === "ident" && this.tok.text === "package")) {
      throw this.err("package expected");
    }
    const pkgTok = this.tok;
    const pkgAnn = this.annotationsAbove(pkgTok.row, "package");
    this.p++;
    const pkgRef = this.parseRefTerm();
    const pkg = refToPath(pkgRef);
    if (!pkg) throw this.err("package must be a reference of strings", pkgTok);
    const mod: Module = {
      file: this.file,
      pkg,
      pkgLoc: this.loc(pkgTok),
      imports: [],
      rules: [],
      regoVersion: this.version,
      v1Rules: this.version === "v1",
    };
    if (pkgAnn) mod.annotations = pkgAnn;
    while (this.cur().kind === "ident" && this.cur().text === "import" && !this.keywordRef()) {
      mod.imports.push(this.parseImport());
    }
    this.v1Rules = mod.v1Rules = this.version === "v1" || mod.imports.some((i) => importPath(i) === "rego.v1");
    while (this.cur().kind !== "eof") {
      if (this.cur().kind === "ident" && this.cur().text === "import" && !this.keywordRef()) {
        throw this.err("import must come before rules");
      }
      try {
        const ann = this.annotationsAbove(this.cur().row, "rule");
        const r = this.parseRule(mod);
        if (r) {
          if (ann) for (const x of r) x.annotations = ann;
          mod.rules.push(...r);
        }
      } catch (e) {
        if (!(e instanceof RegoError)) throw e;
        this.errors.push(e);
        break;
      }
    }
    return mod;
  }

  private parseImport(): Import {
    const t = this.tok;
    this.p++;
    const path = this.parseRefTerm();
    const ps = refToPath(path, true);
    if (!ps || !["data", "input", "future", "rego"].includes(ps[0]!)) {
      throw this.err("invalid import path", t);
    }
    const joined = ps.join(".");
    if (ps[0] === "future") {
      if (ps[1] !== "keywords" || ps.length > 3) throw this.err("invalid import, must be `future.keywords`", t);
      if (ps.length === 3 && ["and", "or", "not"].includes(ps[2]!)) {
        // experimental logic operators and `not { body }`
        this.kw.add(ps[2] === "not" ? "notbody" : ps[2]!);
      } else if (ps.length === 3) {
        if (!FUTURE_KEYWORDS.includes(ps[2]!))
          throw this.err(`unexpected keyword, must be one of [contains every if in]`, t);
        this.kw.add(ps[2]!);
        if (ps[2] === "every") this.kw.add("in");
      } else for (const k of FUTURE_KEYWORDS) this.kw.add(k);
    } else if (ps[0] === "rego") {
      if (joined !== "rego.v1") throw this.err("invalid import `" + joined + "`, must be `rego.v1`", t);
      for (const k of FUTURE_KEYWORDS) this.kw.add(k);
    }
    let alias: string | undefined;
    if (this.tok.kind === "ident" && this.tok.text === "as" && !this.tok.nl) {
      this.p++;
      if (this.tok.kind !== "ident") throw this.err("expected var after as");
      alias = this.tok.text;
      this.p++;
    }
    return { path, alias, loc: this.loc(t) };
  }

  /** A `# METADATA` comment block ending on the line above `row`, parsed as YAML and normalised like OPA. */
  private annotationsAbove(row: number, defaultScope: string): Record<string, unknown> | undefined {
    if (!this.comments.has(row - 1)) return undefined;
    let top = row - 1;
    while (this.comments.has(top - 1)) top--;
    let start = -1;
    for (let r = top; r < row; r++) if (this.comments.get(r)!.trim() === "METADATA") start = r;
    if (start < 0) return undefined;
    const lines: string[] = [];
    for (let r = start + 1; r < row; r++) lines.push(this.comments.get(r)!.replace(/^ /, ""));
    let doc: unknown;
    try {
      doc = parseYAML(lines.join("\n"));
    } catch (e) {
      throw new RegoError("rego_parse_error", `yaml: ${(e as Error).message.split("\n")[0]}`, { file: this.file, row: start, col: 1 });
    }
    const out: Record<string, unknown> = { ...((doc as Record<string, unknown>) ?? {}) };
    out.scope ??= defaultScope;
    if (Array.isArray(out.authors)) {
      out.authors = out.authors.map((a) => {
        if (typeof a !== "string") return a;
        const m = /^(.*?)\s*<([^>]+)>\s*$/.exec(a);
        return m ? (m[1] ? { name: m[1], email: m[2] } : { email: m[2] }) : { name: a };
      });
    }
    if (Array.isArray(out.related_resources)) {
      out.related_resources = out.related_resources.map((x) => (typeof x === "string" ? { ref: x } : x));
    }
    return out;
  }

  /** `a.b["c"].d` with only scalar/var path parts (package, import, with targets). */
  private parseRefTerm(): Term {
    if (this.tok.kind !== "ident") throw this.err(`unexpected ${this.describe()} token: expected ref`);
    const t = this.tok;
    this.p++;
    const head: Term = { t: "var", name: t.text, loc: this.loc(t) };
    const path: Term[] = [];
    for (;;) {
      if (this.isOp(".") && !this.tok.nl) {
        this.p++;
        if (this.tok.kind !== "ident") throw this.err(`unexpected ${this.describe()} token: expected ident`);
        path.push({ t: "val", v: this.tok.text, loc: this.loc() });
        this.p++;
      } else if (this.isOp("[") && !this.tok.nl) {
        const open = this.tok;
        this.p++;
        this.depth++;
        path.push(this.parseTerm());
        this.depth--;
        const close = this.expectOp("]");
        this.lastBracket = [open, close];
      } else break;
    }
    return path.length ? { t: "ref", head, path, loc: head.loc } : head;
  }

  // -------------------------------------------------------------------------------------------------------------
  // rules

  private parseRule(mod: Module): Rule[] | undefined {
    const start = this.tok;
    let isDefault = false;
    if (this.tok.kind === "ident" && this.tok.text === "default" && !this.keywordRef()) {
      isDefault = true;
      this.p++;
    }
    if (this.tok.kind !== "ident") throw this.err(`unexpected ${this.describe()} token`);
    if ((KEYWORDS.has(this.tok.text) || (this.kw.has(this.tok.text) && this.tok.text !== "contains")) && !this.keywordRef())
      throw this.err(`unexpected ${this.tok.text} keyword`);
    const headTok = this.tok;
    this.lastBracket = undefined;
    const refT = this.parseRefTerm();
    const bracket = this.lastBracket as [Token, Token] | undefined;
    const ref: Term[] = refT.t === "ref" ? [refT.head, ...refT.path] : [refT];
    const head: RuleHead = { ref, assign: false, contains: false, loc: this.loc(headTok) };
    if (this.isOp("(") && !this.tok.nl) {
      this.p++;
      this.depth++;
      head.args = [];
      while (!this.isOp(")")) {
        head.args.push(this.parseTerm());
        if (!this.isOp(",")) break;
        this.p++;
      }
      this.depth--;
      this.expectOp(")");
    }
    if (isDefault) {
      if (this.isOp(":=") || this.isOp("=")) {
        head.assign = this.tok.text === ":=";
        this.p++;
        head.value = this.parseTermWithIn(false);
        // OPA's validateDefaultRuleValue: refs, vars and calls are refused (comprehensions are not entered)
        const bad = defaultValueViolations(head.value);
        if (bad.length) {
          for (const b of bad.slice(1)) this.errors.push(this.err(`illegal default rule (value cannot contain ${b})`, start));
          throw this.err(`illegal default rule (value cannot contain ${bad[0]})`, start);
        }
      } else if (!head.args) {
        throw this.err("default rules must have a value");
      }
      if ((this.isOp("{") && !this.tok.nl) || (this.isKw("if") && !this.keywordRef())) throw this.err("default rules cannot have a body", start);
      return [{ head, body: [trueExpr(head.loc)], isDefault: true, loc: this.loc(start), module: mod }];
    }
    if (this.isKw("contains") && !this.tok.nl) {
      this.p++;
      head.contains = true;
      head.key = this.parseTermWithIn(false);
    } else if ((this.isOp(":=") || this.isOp("=")) && !this.tok.nl) {
      head.assign = this.tok.text === ":=";
      this.p++;
      head.value = this.parseTermWithIn(false);
    }
    const rule: Rule = { head, body: [trueExpr(head.loc)], isDefault: false, loc: this.loc(start), module: mod };
    const hasBody = this.parseRuleBody(rule, head.args ? "function" : "rule");
    // v0 partial set `p[x] { ... }` / `p[x]`: last ref element is the key of a set
    if (!head.contains && !head.value && !head.args && ref.length > 1) {
      if (!this.v1Rules) {
        const last = ref[ref.length - 1]!;
        // with the `if` keyword imported, `p[x] if ...` is a single-value rule (key x, value true)
        if (ref.length === 2 && !(hasBody === "if" && this.kw.has("contains"))) {
          head.key = last;
          head.ref = ref.slice(0, -1);
          head.contains = true;
          if (bracket) {
            const [o, c] = bracket;
            this.v1Edits.push({ row: o.row, col: o.col, endRow: o.row, endCol: o.col + 1, text: " contains " });
            this.v1Edits.push({ row: c.row, col: c.col, endRow: c.row, endCol: c.col + 1, text: "" });
          }
        }
      } else if (hasBody === "brace" && ref.length === 2 && ref[1]!.t !== "val") {
        this.errors.push(this.err("`contains` keyword is required for partial set rules", headTok));
      }
    }
    if (head.contains && head.ref.length === 1 && head.ref[0]!.t === "var" && head.ref[0]!.name === "contains" && this.v1Rules === false) {
      // v0 `contains[x]` is an ordinary rule named contains
    }
    // else chains (OPA parses a rule without a body as a query statement, so a following `else` is unexpected)
    if (hasBody === "none" && !head.contains && this.isKw("else") && !this.keywordRef())
      throw this.err("unexpected else keyword");
    let cur = rule;
    while (this.isKw("else") && !this.keywordRef()) {
      if (head.contains || ref.length > 1 && !head.value) throw this.err("else keyword cannot be used on multi-value rules");
      const et = this.tok;
      this.p++;
      const eh: RuleHead = { ref: head.ref, args: head.args, assign: false, contains: false, loc: this.loc(et) };
      if (this.isOp(":=") || this.isOp("=")) {
        eh.assign = this.tok.text === ":=";
        this.p++;
        eh.value = this.parseTermWithIn(false);
      }
      const er: Rule = { head: eh, body: [trueExpr(eh.loc)], isDefault: false, loc: this.loc(et), module: mod };
      this.parseRuleBody(er, "else");
      cur.else = er;
      cur = er;
    }
    // v0 chained bodies `p { a } { b }`: each further body is another rule with the same head
    const rules = [rule];
    const firstOpen = this.lastBodyOpen;
    // chained bodies are valid in v1 too (`p contains x if { x := 1 } { x := 2 }`), as in OPA's parseRules
    while (hasBody !== "none" && this.isOp("{") && (!this.tok.nl || this.v1Rules)) {
      if (rule.else) throw this.err("expected else keyword");
      if (!this.v1Rules && firstOpen && !head.contains)
        this.v1Edits.push({
          row: this.tok.row,
          col: this.tok.col,
          text: " if ",
          head: { row: headTok.row, col: headTok.col, endRow: firstOpen.row, endCol: firstOpen.col },
        });
      const extra: Rule = { ...rule, head: { ...rule.head }, body: this.parseBraceBody(), else: undefined, loc: this.loc() };
      rules.push(extra);
    }
    return rules;
  }

  /** Parses `if { ... }`, `if expr`, or v0 `{ ... }`. Returns which form was found. */
  private parseRuleBody(rule: Rule, what: "rule" | "function" | "else"): "if" | "brace" | "none" {
    if (this.isKw("if") && !(this.keywordRef() && this.tok.nl)) {
      this.p++;
      if (this.isOp("{")) {
        // `if {` usually starts a body; when that does not parse (e.g. `if {x: i | ...}`), it is a term expression
        const save = this.p;
        const errs = this.errors.length;
        try {
          rule.body = this.parseBraceBody();
        } catch (e) {
          if (!(e instanceof RegoError)) throw e;
          this.p = save;
          this.errors.length = errs;
          try {
            rule.body = [this.parseExpr()];
          } catch {
            throw e;
          }
        }
      } else {
        rule.body = [this.parseExpr()];
      }
      return "if";
    }
    if (this.isOp("{") && !this.tok.nl) {
      if (this.v1Rules) {
        this.errors.push(new RegoError("rego_parse_error", `\`if\` keyword is required before ${what === "function" ? "function" : "rule"} body`, rule.loc));
      }
      if (!this.v1Rules) this.v1Edits.push({ row: this.tok.row, col: this.tok.col, text: "if " });
      this.lastBodyOpen = this.tok;
      rule.body = this.parseBraceBody();
      return "brace";
    }
    if (this.isOp("{") && this.tok.nl && !this.v1Rules) {
      this.v1Edits.push({ row: this.tok.row, col: this.tok.col, text: "if " });
      rule.body = this.parseBraceBody();
      return "brace";
    }
    return "none";
  }

  private parseBraceBody(): Expr[] {
    this.expectOp("{");
    const saved = this.depth;
    this.depth = 0;
    const body = this.parseBody("}");
    this.depth = saved;
    this.expectOp("}");
    if (body.length === 0) throw this.err("found empty body");
    return body;
  }

  /** Expressions separated by `;` or newlines until `end`. */
  private parseBody(end: string): Expr[] {
    const body: Expr[] = [];
    while (!this.isOp(end) && this.tok.kind !== "eof") {
      body.push(this.parseExpr());
      if (this.isOp(";")) {
        this.p++;
        continue;
      }
      if (this.isOp(end)) break;
      if (!this.tok.nl) throw this.err(`unexpected ${this.describe()} token`);
    }
    return body;
  }

  // -------------------------------------------------------------------------------------------------------------
  // expressions

  parseQuery(): Expr[] {
    const body = this.parseBody("\u0000");
    if (this.tok.kind !== "eof") throw this.err(`unexpected ${this.describe()} token`);
    if (body.length === 0) throw this.err("empty query");
    return body;
  }

  private logicEnabled(): boolean {
    return this.kw.has("and") || this.kw.has("or") || this.kw.has("notbody");
  }

  private parseExpr(): Expr {
    if (this.logicEnabled()) {
      const e = this.parseLogicOr(false);
      this.parseWiths(e);
      return e;
    }
    return this.parseSimpleExpr();
  }

  private asBody(e: Expr): Expr[] {
    return e.k === "logic" && e.operands.length === 1 ? e.operands[0]! : [e];
  }

  private parseLogicOr(operand: boolean): Expr {
    return this.parseLogicChain("or", operand, (o) => this.parseLogicAnd(o));
  }

  private parseLogicAnd(operand: boolean): Expr {
    return this.parseLogicChain("and", operand, (o) => this.parseLogicUnary(o));
  }

  /** `a <op> b <op> c` where each operand is parsed by `next` (the next tighter level); a single operand is
   * returned as it is. */
  private parseLogicChain(op: "or" | "and", operand: boolean, next: (operand: boolean) => Expr): Expr {
    const loc = this.loc();
    const first = next(operand);
    if (!(this.isKw(op) && this.continues())) return first;
    const operands = [this.asBody(first)];
    while (this.isKw(op) && this.continues()) {
      this.p++;
      operands.push(this.asBody(next(true)));
    }
    return { k: "logic", op, operands, loc, negated: false, with: [] };
  }

  private parseLogicUnary(operand: boolean): Expr {
    const t = this.tok;
    const loc = this.loc(t);
    if (t.kind === "ident" && t.text === "not" && !this.keywordRef()) {
      this.p++;
      if (this.isKw("every") && !this.keywordRef()) throw this.err("unexpected every keyword: illegal negation of 'every'");
      const inner = this.parseLogicUnary(true);
      if (inner.k === "term" && !inner.negated && inner.with.length === 0) return { ...inner, negated: true, loc };
      if (inner.k === "every" && !inner.negated) return { ...inner, negated: true };
      return { k: "not", body: this.asBody(inner), loc, negated: true, with: [] };
    }
    if (this.isOp("{")) {
      const save = this.p;
      const savedErrs = this.errors.length;
      try {
        const body = this.parseBraceBody();
        if (operand || ((this.isKw("and") || this.isKw("or")) && this.continues()))
          return { k: "logic", op: "and", operands: [body], loc, negated: false, with: [] };
      } catch (e) {
        if (!(e instanceof RegoError)) throw e;
      }
      this.p = save;
      this.errors.length = savedErrs;
    }
    if (this.isOp("(")) {
      const save = this.p;
      const savedDepth = this.depth;
      try {
        this.p++;
        this.depth++;
        const inner = this.parseLogicOr(true);
        // `(a or b with input as x)`: the modifiers apply to the whole parenthesised expression
        this.parseWiths(inner);
        this.depth = savedDepth;
        if (this.isOp(")") && (inner.k === "logic" || inner.k === "not" || inner.with.length > 0)) {
          this.p++;
          return inner;
        }
      } catch (e) {
        if (!(e instanceof RegoError)) throw e;
      }
      this.p = save;
      this.depth = savedDepth;
    }
    return this.parseSimpleExpr(false);
  }

  private parseWiths(expr: Expr): void {
    while (this.tok.kind === "ident" && this.tok.text === "with" && !this.keywordRef()) {
      const wt = this.tok;
      this.p++;
      const target = this.parseRefTerm();
      if (!(this.cur().kind === "ident" && this.cur().text === "as")) throw this.err("expected as keyword");
      this.p++;
      const value = this.parseTermWithIn(false); // OPA: parseTermInfixCall (`with input.n as input.n + 1`)
      expr.with.push({ target, value, loc: this.loc(wt) });
    }
  }

  private parseSimpleExpr(withs = true): Expr {
    const t = this.tok;
    const loc = this.loc(t);
    let expr: Expr;
    if (this.tok.kind === "ident" && this.tok.text === "some" && !this.keywordRef()) {
      expr = this.parseSome();
    } else if (this.isKw("every") && !this.keywordRef()) {
      expr = this.parseEvery();
    } else if (this.tok.kind === "ident" && this.tok.text === "not" && !this.keywordRef()) {
      this.p++;
      if (this.isKw("every") && !this.keywordRef()) throw this.err("unexpected every keyword: illegal negation of 'every'");
      if (this.cur().kind === "ident" && this.cur().text === "some" && !this.keywordRef())
        throw this.err("unexpected some keyword: illegal negation of 'some'");
      const inner = this.parseExprNoWith();
      if (inner.k !== "term") throw this.err("unexpected some keyword", t);
      else expr = { ...inner, negated: true, loc };
    } else {
      expr = this.parseExprNoWith();
    }
    while (withs && this.tok.kind === "ident" && this.tok.text === "with" && !this.keywordRef()) {
      const wt = this.tok;
      this.p++;
      const target = this.parseRefTerm();
      if (!(this.cur().kind === "ident" && this.cur().text === "as")) throw this.err("expected as keyword");
      this.p++;
      const value = this.parseTermWithIn(false); // OPA: parseTermInfixCall (`with input.n as input.n + 1`)
      const w: With = { target, value, loc: this.loc(wt) };
      expr.with.push(w);
    }
    return expr;
  }

  private parseExprNoWith(): Expr {
    const t = this.tok;
    const loc = this.loc(t);
    if (this.isKw("every") && !this.keywordRef()) return this.parseEvery();
    if (this.isKw("contains") && !this.keywordRef() && !(this.peek().kind === "op" && this.peek().text === "(")) throw this.err("unexpected contains keyword");
    // `x, y in xs` membership with key
    const lhs = this.parseTermWithIn(true);
    if ((this.isOp("=") || this.isOp(":=")) && (!this.tok.nl || this.depth > 0)) {
      const op = this.tok.text === "=" ? "eq" : "assign";
      this.p++;
      const rhs = this.parseTermWithIn(true);
      return { k: "term", term: { t: "call", op, args: [lhs, rhs], loc }, negated: false, with: [], loc };
    }
    return { k: "term", term: lhs, negated: false, with: [], loc };
  }

  private parseSome(): Expr {
    const t = this.tok;
    this.p++;
    const loc = this.loc(t);
    if (this.kw.has("in")) {
      // some x in xs / some k, v in xs / some x, y
      const save = this.p;
      const first = this.parseTermRel();
      if (this.isOp(",")) {
        this.p++;
        const second = this.parseTermRel();
        if (this.isKw("in")) {
          this.p++;
          const domain = this.parseTermRel();
          return { k: "somein", key: first, value: second, domain, loc, negated: false, with: [] };
        }
        this.p = save;
      } else if (this.isKw("in")) {
        this.p++;
        const domain = this.parseTermRel();
        return { k: "somein", value: first, domain, loc, negated: false, with: [] };
      } else if (first.t === "call" && first.op === "internal.member_2") {
        const [v, d] = first.args as [Term, Term];
        return { k: "somein", value: v, domain: d, loc, negated: false, with: [] };
      } else {
        this.p = save;
      }
    }
    const vars: Term[] = [];
    for (;;) {
      if (this.tok.kind !== "ident") throw this.err("expected var after some");
      vars.push({ t: "var", name: this.tok.text, loc: this.loc() });
      this.p++;
      if (!this.isOp(",")) break;
      this.p++;
    }
    return { k: "some", vars, loc, negated: false, with: [] };
  }

  private parseEvery(): Expr {
    const t = this.tok;
    this.p++;
    const loc = this.loc(t);
    let key: Term | undefined;
    let value = this.parseVarTerm();
    if (this.isOp(",")) {
      this.p++;
      key = value;
      value = this.parseVarTerm();
    }
    if (!this.isKw("in")) throw this.err("expected `in` after every variables");
    this.p++;
    const domain = this.parseTermRel();
    const body = this.parseBraceBody();
    return { k: "every", key, value, domain, body, loc, negated: false, with: [] };
  }

  private parseVarTerm(): Term {
    if (this.tok.kind !== "ident") throw this.err(`unexpected ${this.describe()} token: expected var`);
    const v: Term = { t: "var", name: this.tok.text, loc: this.loc() };
    this.p++;
    return v;
  }

  /** Term with `in` (lowest term precedence). `allowKey`: `k, v in xs` at expression level. */
  private parseTermWithIn(allowKey: boolean): Term {
    const loc = this.loc();
    let lhs = this.parseTermRel();
    if (allowKey && this.isOp(",") && this.kw.has("in")) {
      const save = this.p;
      this.p++;
      const v = this.parseTermRel();
      if (this.isKw("in")) {
        this.p++;
        const d = this.parseTermRel();
        lhs = { t: "call", op: "internal.member_3", args: [lhs, v, d], loc };
      } else this.p = save;
    }
    while (this.isKw("in") && this.continues()) {
      this.p++;
      const d = this.parseTermRel();
      lhs = { t: "call", op: "internal.member_2", args: [lhs, d], loc };
    }
    return lhs;
  }

  /** An infix operator continues the term only on the same line (or inside brackets). */
  private continues(): boolean {
    return !this.tok.nl || this.depth > 0;
  }

  private parseTermRel(): Term {
    const loc = this.loc();
    let lhs = this.parseTermOr();
    while (this.tok.kind === "op" && REL_OPS[this.tok.text] && this.continues()) {
      const op = REL_OPS[this.tok.text]!;
      this.p++;
      const rhs = this.parseTermOr();
      lhs = { t: "call", op, args: [lhs, rhs], loc };
    }
    return lhs;
  }
  private parseTermOr(): Term {
    const loc = this.loc();
    let lhs = this.parseTermAnd();
    while (this.isOp("|") && this.continues() && !this.noOr) {
      this.p++;
      lhs = { t: "call", op: "or", args: [lhs, this.parseTermAnd()], loc };
    }
    return lhs;
  }
  private parseTermAnd(): Term {
    const loc = this.loc();
    let lhs = this.parseTermArith();
    while (this.isOp("&") && this.continues()) {
      this.p++;
      lhs = { t: "call", op: "and", args: [lhs, this.parseTermArith()], loc };
    }
    return lhs;
  }
  private parseTermArith(): Term {
    const loc = this.loc();
    let lhs = this.parseTermFactor();
    while ((this.isOp("+") || this.isOp("-")) && this.continues()) {
      const op = this.tok.text === "+" ? "plus" : "minus";
      this.p++;
      lhs = { t: "call", op, args: [lhs, this.parseTermFactor()], loc };
    }
    return lhs;
  }
  private parseTermFactor(): Term {
    const loc = this.loc();
    let lhs = this.parseTermUnary();
    while ((this.isOp("*") || this.isOp("/") || this.isOp("%")) && this.continues()) {
      const op = this.tok.text === "*" ? "mul" : this.tok.text === "/" ? "div" : "rem";
      this.p++;
      lhs = { t: "call", op, args: [lhs, this.parseTermUnary()], loc };
    }
    return lhs;
  }
  private parseTermUnary(): Term {
    if (this.isOp("-") && this.peek().kind === "num" && !this.peek().nl) {
      const t = this.peek();
      const n = literalNumber("-" + t.text);
      if (n === undefined) throw this.err("illegal number format", t);
      this.p += 2;
      const lit: Term = { t: "val", v: n, loc: this.loc(t) };
      if (!/^\d+$/.test(t.text) || t.text === "0") lit.raw = "-" + t.text;
      return this.parseRefTail(lit);
    }
    if (this.isOp("-")) {
      const loc = this.loc();
      this.p++;
      const inner = this.parseTermUnary();
      return { t: "call", op: "minus", args: [{ t: "val", v: 0 }, inner], loc };
    }
    return this.parseTerm();
  }

  /** A single term with ref/call suffixes (no infix operators). Public for `with ... as <term>` etc. */
  parseTerm(): Term {
    const t = this.tok;
    const loc = this.loc(t);
    let term: Term;
    switch (t.kind) {
      case "num": {
        this.p++;
        const n = literalNumber(t.text);
        if (n === undefined) throw this.err("illegal number format", t);
        term = { t: "val", v: n, loc };
        if (!/^\d+$/.test(t.text)) term.raw = t.text;
        break;
      }
      case "str":
      case "rawstr":
        this.p++;
        term = { t: "val", v: t.text, loc };
        break;
      case "tmpl":
        this.p++;
        term = this.templateTerm(t);
        break;
      case "ident": {
        if ((t.text === "true" || t.text === "false" || t.text === "null") && this.keywordRef(t)) {
          this.p++;
          term = { t: "var", name: t.text, loc };
        } else if (t.text === "true" || t.text === "false") {
          this.p++;
          term = { t: "val", v: t.text === "true", loc };
        } else if (t.text === "null") {
          this.p++;
          term = { t: "val", v: null, loc };
        } else if (t.text === "set" && this.isOp("(", this.peek()) && this.isOp(")", this.peek(2))) {
          this.p += 3;
          term = { t: "set", items: [], loc };
        } else {
          const callNext = this.peek().kind === "op" && this.peek().text === "(" && !KEYWORDS.has(t.text);
          if ((KEYWORDS.has(t.text) || this.kw.has(t.text)) && !this.keywordRef(t) && !callNext) throw this.err(`unexpected ${t.text} keyword`, t);
          this.p++;
          term = { t: "var", name: t.text, loc };
        }
        break;
      }
      case "op":
        if (t.text === "(") {
          this.p++;
          this.depth++;
          const savedNoOr = this.noOr;
          this.noOr = false;
          term = this.parseTermWithIn(true);
          this.noOr = savedNoOr;
          this.depth--;
          this.expectOp(")");
        } else if (t.text === "[") {
          term = this.parseArray();
        } else if (t.text === "{") {
          term = this.parseBraces();
        } else if (t.text === "-" && this.peek().kind === "num") {
          return this.parseTermUnary();
        } else {
          throw this.err(`unexpected ${this.describe()} token`, t);
        }
        break;
      default:
        throw this.err(`unexpected ${this.describe()} token`, t);
    }
    return this.parseRefTail(term);
  }

  private templateTerm(t: Token): Term {
    const tm = t.tmpl!;
    const withs: With[][] = [];
    const exprs: Term[] = tm.exprs.map((e) => {
      const sub = new Parser(e.src, this.file, this.version, t.row - 1 + e.row, e.row === 0 ? t.col + 1 + e.col : e.col);
      sub.kw = this.kw;
      sub.depth = 1;
      const term = sub.parseTermWithIn(false);
      // `{a with input as x}`: with modifiers scoped to this template expression
      const holder: Expr = { k: "term", term, negated: false, with: [], loc: this.loc(t) };
      sub.parseWiths(holder);
      withs.push(holder.with);
      if (sub.tok.kind !== "eof") throw sub.err(`unexpected ${sub.describe()} token`);
      return term;
    });
    const out: Term = { t: "tmpl", parts: tm.parts, exprs, loc: this.loc(t) };
    if (withs.some((w) => w.length)) out.withs = withs;
    return out;
  }

  /** .field, [term], and (args) suffixes. */
  private parseRefTail(base: Term): Term {
    let term = base;
    for (;;) {
      if (this.isOp(".") && !this.tok.nl) {
        this.p++;
        if (this.tok.kind !== "ident") throw this.err(`unexpected ${this.describe()} token: expected ident`);
        term = appendRef(term, { t: "val", v: this.tok.text, loc: this.loc() });
        this.p++;
      } else if (this.isOp("[") && !this.tok.nl) {
        this.p++;
        this.depth++;
        const idx = this.parseTermWithIn(false);
        this.depth--;
        this.expectOp("]");
        term = appendRef(term, idx);
      } else if (this.isOp("(") && !this.tok.nl && (term.t === "var" || term.t === "ref")) {
        const name = refName(term);
        if (name === undefined) throw this.err("invalid function name");
        this.p++;
        this.depth++;
        const args: Term[] = [];
        while (!this.isOp(")")) {
          args.push(this.parseTermWithIn(false));
          if (!this.isOp(",")) break;
          this.p++;
        }
        this.depth--;
        this.expectOp(")");
        term = { t: "call", op: name, args, loc: term.loc, opRef: term };
      } else break;
    }
    return term;
  }

  private parseArray(): Term {
    const loc = this.loc();
    this.p++;
    this.depth++;
    const items: Term[] = [];
    if (this.isOp("]")) {
      this.p++;
      this.depth--;
      return { t: "array", items, loc };
    }
    const savedNoOr = this.noOr;
    this.noOr = true;
    const first = this.parseTermWithIn(false);
    this.noOr = savedNoOr;
    if (this.isOp("|")) {
      this.p++;
      const saved = this.depth;
      this.depth = 0;
      const body = this.parseBody("]");
      this.depth = saved - 1;
      this.expectOp("]");
      return { t: "arraycomp", head: first, body, loc };
    }
    items.push(first);
    while (this.isOp(",")) {
      this.p++;
      if (this.isOp("]")) break;
      items.push(this.parseTermWithIn(false));
    }
    this.depth--;
    this.expectOp("]");
    return { t: "array", items, loc };
  }

  private parseBraces(): Term {
    const loc = this.loc();
    this.p++;
    this.depth++;
    if (this.isOp("}")) {
      this.p++;
      this.depth--;
      return { t: "object", items: [], loc };
    }
    const savedNoOr = this.noOr;
    this.noOr = true;
    const first = this.parseTermWithIn(false);
    this.noOr = savedNoOr;
    if (this.isOp(":")) {
      this.p++;
      this.noOr = true;
      const v = this.parseTermWithIn(false);
      this.noOr = savedNoOr;
      if (this.isOp("|")) {
        this.p++;
        const saved = this.depth;
        this.depth = 0;
        const body = this.parseBody("}");
        this.depth = saved - 1;
        this.expectOp("}");
        return { t: "objcomp", key: first, value: v, body, loc };
      }
      const items: [Term, Term][] = [[first, v]];
      while (this.isOp(",")) {
        this.p++;
        if (this.isOp("}")) break;
        const k = this.parseTermWithIn(false);
        this.expectOp(":");
        items.push([k, this.parseTermWithIn(false)]);
      }
      this.depth--;
      this.expectOp("}");
      return { t: "object", items, loc };
    }
    if (this.isOp("|")) {
      this.p++;
      const saved = this.depth;
      this.depth = 0;
      const body = this.parseBody("}");
      this.depth = saved - 1;
      this.expectOp("}");
      return { t: "setcomp", head: first, body, loc };
    }
    const items: Term[] = [first];
    while (this.isOp(",")) {
      this.p++;
      if (this.isOp("}")) break;
      items.push(this.parseTermWithIn(false));
    }
    this.depth--;
    this.expectOp("}");
    return { t: "set", items, loc };
  }

  atEOF(): boolean {
    return this.tok.kind === "eof";
  }
}

const KEYWORDS = new Set(["package", "import", "default", "else", "not", "some", "with", "as", "true", "false", "null"]);
const REL_OPS: Record<string, string> = { "==": "equal", "!=": "neq", "<": "lt", ">": "gt", "<=": "lte", ">=": "gte" };
const OP_NAMES: Record<string, string> = {
  "{": "{",
  "}": "}",
  "[": "[",
  "]": "]",
  "(": "(",
  ")": ")",
};

/** OPA's validateDefaultRuleValue: the kinds (`ref`, `var`, `call`) found in a default value, outside comprehensions. */
function defaultValueViolations(t: Term): string[] {
  const out: string[] = [];
  const go = (x: Term): void => {
    switch (x.t) {
      case "ref":
        out.push("ref");
        return;
      case "var":
        out.push("var");
        return;
      case "call":
        out.push("call");
        return;
      case "tmpl":
        out.push("call");
        return;
      case "array":
      case "set":
        x.items.forEach(go);
        return;
      case "object":
        for (const [k, v] of x.items) {
          go(k);
          go(v);
        }
        return;
      default:
        return;
    }
  };
  go(t);
  return out;
}

function trueExpr(loc: Location): Expr {
  return { k: "term", term: { t: "val", v: true, loc }, negated: false, with: [], loc };
}

function appendRef(base: Term, part: Term): Term {
  if (base.t === "ref") return { t: "ref", head: base.head, path: [...base.path, part], loc: base.loc };
  return { t: "ref", head: base, path: [part], loc: base.loc };
}

/** Dotted name of a var or a ref of string parts: `time.clock`; undefined for dynamic refs. */
export function refName(t: Term): string | undefined {
  if (t.t === "var") return t.name;
  if (t.t !== "ref" || t.head.t !== "var") return undefined;
  let s = t.head.name;
  for (const p of t.path) {
    if (p.t !== "val" || typeof p.v !== "string") return undefined;
    s += "." + p.v;
  }
  return s;
}

function refToPath(t: Term, allowHead = true): string[] | undefined {
  if (t.t === "var") return allowHead ? [t.name] : undefined;
  if (t.t !== "ref" || t.head.t !== "var") return undefined;
  const out: string[] = [t.head.name];
  for (const p of t.path) {
    if (p.t !== "val" || typeof p.v !== "string") return undefined;
    out.push(p.v);
  }
  return out;
}

export function importPath(i: Import): string {
  return (refToPath(i.path) ?? []).join(".");
}

/** Parse one module. Throws RegoErrors (several parse errors at once). */
export function parseModule(src: string, file: string, version: RegoVersion): { module: Module; errors: RegoError[] } {
  let parser: Parser;
  try {
    parser = new Parser(src, file, version);
  } catch (e) {
    if (e instanceof RegoError) return { module: undefined as unknown as Module, errors: [e] };
    throw e;
  }
  try {
    const m = parser.parseModule();
    // package path: "package a.b" -> data.a.b (drop nothing: refToPath gave ["a","b"])
    return { module: m, errors: parser.errors };
  } catch (e) {
    if (e instanceof RegoError) return { module: undefined as unknown as Module, errors: [...parser.errors, e] };
    throw e;
  }
}

export function parseQuery(src: string, version: RegoVersion = "v1", file = "query"): Expr[] {
  const p = new Parser(src, file, version);
  return p.parseQuery();
}

/**
 * Rewrite a v0 module into v1 syntax, keeping comments and layout: adds `if` before rule bodies and turns v0
 * partial set rules `p[x] { ... }` into `p contains x if { ... }`. Throws RegoErrors when the v0 source does not parse.
 */
export function v0ToV1(src: string, file: string): string {
  // `import rego.v1` would make the v0 parser demand v1 keywords; it is a no-op in v1, so drop it (same line count)
  src = src.replace(/^[ \t]*import[ \t]+rego\.v1[ \t]*$/gm, "");
  const p = new Parser(src, file, "v0");
  p.parseModule();
  if (p.errors.length) throw p.errors[0];
  const lines = src.split("\n");
  const starts: number[] = [];
  let off = 0;
  for (const l of lines) {
    starts.push(off);
    off += l.length + 1;
  }
  const at = (row: number, col: number) => starts[row - 1]! + col - 1;
  const edits = p.v1Edits
    .map((e) => ({
      start: at(e.row, e.col),
      end: e.endRow ? at(e.endRow, e.endCol!) : at(e.row, e.col),
      text: e.head ? "\n" + src.slice(at(e.head.row, e.head.col), at(e.head.endRow, e.head.endCol)).trimEnd() + e.text : e.text,
    }))
    .sort((a, b) => b.start - a.start || b.end - a.end);
  let out = src;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  // ` contains x if {` from `p[x] {`: tidy the space before the key and after it
  out = out.replace(/ contains ([^\n]*?) if \{/g, " contains $1 if {").replace(/(\S) +contains /g, "$1 contains ");
  out = out.replace(/\bimport rego\.v1\n/g, "").replace(/^([ \t]*)\} +\n/gm, "$1}\n");
  return out;
}
