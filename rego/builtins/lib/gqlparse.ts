// A GraphQL parser mirroring vektah/gqlparser (as vendored by OPA): same grammar decisions, same error texts,
// and ASTs shaped like gqlparser's JSON encoding after OPA's pruning (no Position, no null/empty fields).

export class GqlError extends Error {
  constructor(
    readonly msg: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(msg);
  }
}

type Kind =
  | "Invalid"
  | "EOF"
  | "!"
  | "$"
  | "&"
  | "("
  | ")"
  | "..."
  | ":"
  | "="
  | "@"
  | "["
  | "]"
  | "{"
  | "}"
  | "|"
  | "Name"
  | "Int"
  | "Float"
  | "String"
  | "BlockString";

interface Tok {
  kind: Kind;
  value: string;
  line: number;
  col: number;
}

const KIND_STRING: Record<string, string> = { Invalid: "<Invalid>", EOF: "<EOF>" };
const kindString = (k: Kind) => KIND_STRING[k] ?? k;

function tokString(t: Tok): string {
  return t.value !== "" ? `${kindString(t.kind)} ${JSON.stringify(t.value)}` : kindString(t.kind);
}

// ---- lexer ----

class Lexer {
  i = 0;
  line = 1;
  lineStart = 0;
  constructor(readonly s: string) {}

  private pos(): [number, number] {
    return [this.line, this.i - this.lineStart + 1];
  }

  private newline(at: number) {
    this.line++;
    this.lineStart = at;
  }

  next(): Tok {
    const s = this.s;
    // skip ignored tokens
    for (;;) {
      if (this.i >= s.length) break;
      const c = s[this.i]!;
      if (c === "\ufeff" || c === " " || c === "\t" || c === ",") this.i++;
      else if (c === "\n") {
        this.i++;
        this.newline(this.i);
      } else if (c === "\r") {
        this.i++;
        if (s[this.i] === "\n") this.i++;
        this.newline(this.i);
      } else if (c === "#") {
        while (this.i < s.length && s[this.i] !== "\n" && s[this.i] !== "\r") this.i++;
      } else break;
    }
    const [line, col] = this.pos();
    const mk = (kind: Kind, value = ""): Tok => ({ kind, value, line, col });
    if (this.i >= s.length) return mk("EOF");
    const c = s[this.i]!;
    if ("!$&()[]{}:=@|".includes(c)) {
      this.i++;
      return mk(c as Kind);
    }
    if (c === ".") {
      if (s.startsWith("...", this.i)) {
        this.i += 3;
        return mk("...");
      }
      return this.invalid();
    }
    if (/[_A-Za-z]/.test(c)) {
      const m = /^[_0-9A-Za-z]*/.exec(s.slice(this.i + 1))!;
      const v = c + m[0];
      this.i += v.length;
      return mk("Name", v);
    }
    if (c === "-" || /[0-9]/.test(c)) {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(s.slice(this.i));
      if (!m) return this.invalid();
      const after = s[this.i + m[0].length];
      if (after !== undefined && /[._A-Za-z0-9]/.test(after)) return this.invalid();
      this.i += m[0].length;
      return mk(m[2] || m[3] ? "Float" : "Int", m[0]);
    }
    if (c === '"') {
      // gqlparser positions string tokens after their opening quotes
      if (s.startsWith('"""', this.i)) return this.blockString(line, col + 3);
      return this.string(line, col + 1);
    }
    return this.invalid();
  }

  private invalid(): Tok {
    const [line, col] = this.pos();
    return { kind: "Invalid", value: "", line, col };
  }

  private string(line: number, col: number): Tok {
    const s = this.s;
    let i = this.i + 1;
    let out = "";
    while (i < s.length) {
      const c = s[i]!;
      if (c === '"') {
        this.i = i + 1;
        return { kind: "String", value: out, line, col };
      }
      if (c === "\n" || c === "\r") break;
      if (c === "\\") {
        const e = s[i + 1];
        const map: Record<string, string> = {
          '"': '"',
          "\\": "\\",
          "/": "/",
          b: "\b",
          f: "\f",
          n: "\n",
          r: "\r",
          t: "\t",
        };
        if (e !== undefined && map[e] !== undefined) {
          out += map[e];
          i += 2;
          continue;
        }
        if (e === "u" && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        this.i = i;
        return this.invalid();
      }
      out += c;
      i++;
    }
    this.i = i;
    return this.invalid();
  }

  private blockString(line: number, col: number): Tok {
    const s = this.s;
    let i = this.i + 3;
    let raw = "";
    while (i < s.length) {
      if (s.startsWith('"""', i)) {
        this.i = i + 3;
        return { kind: "BlockString", value: blockStringValue(raw), line, col };
      }
      if (s.startsWith('\\"""', i)) {
        raw += '"""';
        i += 4;
        continue;
      }
      const c = s[i]!;
      if (c === "\n") {
        this.i = i + 1;
        this.newline(i + 1);
      } else if (c === "\r") {
        const skip = s[i + 1] === "\n" ? 2 : 1;
        this.newline(i + skip);
        raw += s.slice(i, i + skip);
        i += skip;
        continue;
      }
      raw += c;
      i++;
    }
    this.i = i;
    return this.invalid();
  }
}

/** GraphQL spec BlockStringValue: common indentation removed, blank leading/trailing lines dropped. */
function blockStringValue(raw: string): string {
  const lines = raw.split(/\r\n|\n|\r/);
  let common: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const indent = l.length - l.replace(/^[ \t]*/, "").length;
    if (indent < l.length && (common === undefined || indent < common)) common = indent;
  }
  if (common) for (let i = 1; i < lines.length; i++) lines[i] = lines[i]!.slice(common);
  while (lines.length && /^[ \t]*$/.test(lines[0]!)) lines.shift();
  while (lines.length && /^[ \t]*$/.test(lines[lines.length - 1]!)) lines.pop();
  return lines.join("\n");
}

// ---- parser ----

export type Obj = Record<string, unknown>;

const DIRECTIVE_LOCATIONS = new Set([
  "QUERY",
  "MUTATION",
  "SUBSCRIPTION",
  "FIELD",
  "FRAGMENT_DEFINITION",
  "FRAGMENT_SPREAD",
  "INLINE_FRAGMENT",
  "VARIABLE_DEFINITION",
  "SCHEMA",
  "SCALAR",
  "OBJECT",
  "FIELD_DEFINITION",
  "ARGUMENT_DEFINITION",
  "INTERFACE",
  "UNION",
  "ENUM",
  "ENUM_VALUE",
  "INPUT_OBJECT",
  "INPUT_FIELD_DEFINITION",
]);

/** Only keeps what OPA's pruning keeps: strings/booleans/numbers always, arrays/objects when non-empty. */
function node(fields: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === "object" && !Array.isArray(v) && Object.keys(v as Obj).length === 0) continue;
    out[k] = v;
  }
  return out;
}

class Parser {
  private lx: Lexer;
  private tok: Tok;
  private prevTok: Tok;
  constructor(src: string) {
    this.lx = new Lexer(src);
    this.tok = this.lx.next();
    this.prevTok = this.tok;
  }

  private peek(): Tok {
    return this.tok;
  }
  private next(): Tok {
    const t = this.tok;
    this.prevTok = t;
    this.tok = this.lx.next();
    return t;
  }
  private fail(t: Tok, msg: string): never {
    throw new GqlError(msg, t.line, t.col);
  }
  private unexpected(t: Tok = this.peek()): never {
    this.fail(t, `Unexpected ${tokString(t)}`);
  }
  private skip(k: Kind): boolean {
    if (this.peek().kind === k) {
      this.next();
      return true;
    }
    return false;
  }
  private expect(k: Kind): Tok {
    const t = this.peek();
    if (t.kind === k) return this.next();
    this.fail(t, `Expected ${k}, found ${kindString(t.kind)}`);
  }
  private expectKeyword(v: string): Tok {
    const t = this.peek();
    if (t.kind === "Name" && t.value === v) return this.next();
    this.fail(t, `Expected ${JSON.stringify(v)}, found ${tokString(t)}`);
  }
  private many(start: Kind, end: Kind, cb: () => void): void {
    if (!this.skip(start)) return;
    while (this.peek().kind !== end) {
      if (this.peek().kind === "EOF") this.unexpected();
      cb();
    }
    this.next();
  }
  private some(start: Kind, end: Kind, cb: () => void): void {
    if (!this.skip(start)) return;
    let called = false;
    while (this.peek().kind !== end) {
      called = true;
      if (this.peek().kind === "EOF") this.unexpected();
      cb();
    }
    if (!called) this.fail(this.peek(), `expected at least one definition, found ${kindString(this.peek().kind)}`);
    this.next();
  }
  private name(): string {
    return this.expect("Name").value;
  }

  // -- values, types, directives --

  value(isConst: boolean): Obj {
    const t = this.peek();
    let kind: number;
    switch (t.kind) {
      case "[": {
        const children: Obj[] = [];
        this.many("[", "]", () => children.push(node({ Value: this.value(isConst) })));
        return node({ Children: children, ExpectedTypeHasDefault: false, Kind: 8, Raw: "" });
      }
      case "{": {
        const children: Obj[] = [];
        this.many("{", "}", () => {
          const n = this.name();
          this.expect(":");
          children.push(node({ Name: n, Value: this.value(isConst) }));
        });
        return node({ Children: children, ExpectedTypeHasDefault: false, Kind: 9, Raw: "" });
      }
      case "$":
        if (isConst) this.unexpected();
        this.next();
        return { ExpectedTypeHasDefault: false, Kind: 0, Raw: this.name() };
      case "Int":
        kind = 1;
        break;
      case "Float":
        kind = 2;
        break;
      case "String":
        kind = 3;
        break;
      case "BlockString":
        kind = 4;
        break;
      case "Name":
        kind = t.value === "true" || t.value === "false" ? 5 : t.value === "null" ? 6 : 7;
        break;
      default:
        this.unexpected();
    }
    this.next();
    return { ExpectedTypeHasDefault: false, Kind: kind, Raw: t.value };
  }

  typeRef(): Obj {
    let t: Obj;
    if (this.skip("[")) {
      const elem = this.typeRef();
      this.expect("]");
      t = { Elem: elem, NamedType: "" };
    } else t = { NamedType: this.name() };
    t.NonNull = this.skip("!");
    return t;
  }

  directives(isConst: boolean): Obj[] {
    const out: Obj[] = [];
    while (this.peek().kind === "@") {
      this.next();
      const n = this.name();
      out.push(node({ Arguments: this.arguments(isConst), Location: "", Name: n }));
    }
    return out;
  }

  arguments(isConst: boolean): Obj[] {
    const out: Obj[] = [];
    this.many("(", ")", () => {
      const n = this.name();
      this.expect(":");
      out.push(node({ Name: n, Value: this.value(isConst) }));
    });
    return out;
  }

  description(): string {
    const t = this.peek();
    if (t.kind === "String" || t.kind === "BlockString") {
      this.next();
      return t.value;
    }
    return "";
  }

  // -- schema documents --

  schemaDocument(): Obj {
    const doc: Record<string, Obj[]> = {
      Schema: [],
      SchemaExtension: [],
      Directives: [],
      Definitions: [],
      Extensions: [],
    };
    while (this.peek().kind !== "EOF") {
      const desc = this.description();
      if (this.peek().kind !== "Name") this.unexpected();
      switch (this.peek().value) {
        case "scalar":
        case "type":
        case "interface":
        case "union":
        case "enum":
        case "input":
          doc.Definitions!.push(this.typeDefinition(desc));
          break;
        case "schema":
          doc.Schema!.push(this.schemaDefinition(desc));
          break;
        case "directive":
          doc.Directives!.push(this.directiveDefinition(desc));
          break;
        case "extend":
          if (desc !== "") this.unexpected(this.prevTok);
          this.typeSystemExtension(doc);
          break;
        default:
          this.unexpected();
      }
    }
    return node(doc);
  }

  private implementsInterfaces(): string[] {
    const out: string[] = [];
    if (this.peek().kind === "Name" && this.peek().value === "implements") {
      this.next();
      this.skip("&");
      out.push(this.name());
      while (this.skip("&")) out.push(this.name());
    }
    return out;
  }

  private fieldsDefinition(): Obj[] {
    const out: Obj[] = [];
    this.some("{", "}", () => {
      const desc = this.description();
      const n = this.name();
      const args = this.argumentDefs();
      this.expect(":");
      const type = this.typeRef();
      out.push(node({ Arguments: args, Description: desc, Directives: this.directives(true), Name: n, Type: type }));
    });
    return out;
  }

  private argumentDefs(): Obj[] {
    const out: Obj[] = [];
    this.some("(", ")", () => out.push(this.inputValueDef()));
    return out;
  }

  private inputValueDef(): Obj {
    const desc = this.description();
    const n = this.name();
    this.expect(":");
    const type = this.typeRef();
    const dflt = this.skip("=") ? this.value(true) : undefined;
    return node({ DefaultValue: dflt, Description: desc, Directives: this.directives(true), Name: n, Type: type });
  }

  private unionMembers(): string[] {
    const out: string[] = [];
    if (this.skip("=")) {
      this.skip("|");
      out.push(this.name());
      while (this.skip("|")) out.push(this.name());
    }
    return out;
  }

  private enumValues(): Obj[] {
    const out: Obj[] = [];
    this.some("{", "}", () => {
      const desc = this.description();
      const t = this.peek();
      if (t.kind === "Name" && (t.value === "true" || t.value === "false" || t.value === "null")) {
        this.fail(t, `${t.value} is reserved and cannot be used for an enum value`);
      }
      const n = this.name();
      out.push(node({ Description: desc, Directives: this.directives(true), Name: n }));
    });
    return out;
  }

  private inputFields(): Obj[] {
    const out: Obj[] = [];
    this.some("{", "}", () => out.push(this.inputValueDef()));
    return out;
  }

  private typeDefinition(desc: string): Obj {
    const kw = this.next().value;
    const n = this.name();
    const base = { BuiltIn: false, Description: desc, Name: n };
    switch (kw) {
      case "scalar":
        return node({ ...base, Directives: this.directives(true), Kind: "SCALAR" });
      case "type": {
        const ifs = this.implementsInterfaces();
        const dirs = this.directives(true);
        return node({ ...base, Directives: dirs, Fields: this.fieldsDefinition(), Interfaces: ifs, Kind: "OBJECT" });
      }
      case "interface": {
        const ifs = this.implementsInterfaces();
        const dirs = this.directives(true);
        return node({ ...base, Directives: dirs, Fields: this.fieldsDefinition(), Interfaces: ifs, Kind: "INTERFACE" });
      }
      case "union": {
        const dirs = this.directives(true);
        return node({ ...base, Directives: dirs, Kind: "UNION", Types: this.unionMembers() });
      }
      case "enum": {
        const dirs = this.directives(true);
        return node({ ...base, Directives: dirs, EnumValues: this.enumValues(), Kind: "ENUM" });
      }
      default: {
        const dirs = this.directives(true);
        return node({ ...base, Directives: dirs, Fields: this.inputFields(), Kind: "INPUT_OBJECT" });
      }
    }
  }

  private operationTypes(many: boolean): Obj[] {
    const out: Obj[] = [];
    const cb = () => {
      const t = this.peek();
      if (t.kind !== "Name" || !["query", "mutation", "subscription"].includes(t.value)) this.unexpected();
      this.next();
      this.expect(":");
      out.push({ Operation: t.value, Type: this.name() });
    };
    if (many) this.many("{", "}", cb);
    else this.some("{", "}", cb);
    return out;
  }

  private schemaDefinition(desc: string): Obj {
    this.expectKeyword("schema");
    const dirs = this.directives(true);
    return node({ Description: desc, Directives: dirs, OperationTypes: this.operationTypes(false) });
  }

  private directiveDefinition(desc: string): Obj {
    this.expectKeyword("directive");
    this.expect("@");
    const n = this.name();
    const args = this.argumentDefs();
    let repeatable = false;
    if (this.peek().kind === "Name" && this.peek().value === "repeatable") {
      this.next();
      repeatable = true;
    }
    this.expectKeyword("on");
    const locs: string[] = [];
    this.skip("|");
    const loc = () => {
      const t = this.expect("Name");
      if (!DIRECTIVE_LOCATIONS.has(t.value)) this.unexpected(t);
      locs.push(t.value);
    };
    loc();
    while (this.skip("|")) loc();
    return node({ Arguments: args, Description: desc, IsRepeatable: repeatable, Locations: locs, Name: n });
  }

  private typeSystemExtension(doc: Record<string, Obj[]>): void {
    this.expectKeyword("extend");
    const t = this.peek();
    if (t.kind !== "Name") this.unexpected();
    if (t.value === "schema") {
      this.next();
      const dirs = this.directives(true);
      const ops = this.operationTypes(true);
      if (dirs.length === 0 && ops.length === 0) this.unexpected();
      doc.SchemaExtension!.push(node({ Description: "", Directives: dirs, OperationTypes: ops }));
      return;
    }
    if (!["scalar", "type", "interface", "union", "enum", "input"].includes(t.value)) this.unexpected();
    this.next();
    const n = this.name();
    const base = { BuiltIn: false, Description: "", Name: n };
    let def: Obj;
    let empty: boolean;
    switch (t.value) {
      case "scalar": {
        const dirs = this.directives(true);
        empty = dirs.length === 0;
        def = node({ ...base, Directives: dirs, Kind: "SCALAR" });
        break;
      }
      case "type":
      case "interface": {
        const ifs = this.implementsInterfaces();
        const dirs = this.directives(true);
        const fields = this.fieldsDefinition();
        empty = ifs.length === 0 && dirs.length === 0 && fields.length === 0;
        def = node({
          ...base,
          Directives: dirs,
          Fields: fields,
          Interfaces: ifs,
          Kind: t.value === "type" ? "OBJECT" : "INTERFACE",
        });
        break;
      }
      case "union": {
        const dirs = this.directives(true);
        const types = this.unionMembers();
        empty = dirs.length === 0 && types.length === 0;
        def = node({ ...base, Directives: dirs, Kind: "UNION", Types: types });
        break;
      }
      case "enum": {
        const dirs = this.directives(true);
        const vals = this.enumValues();
        empty = dirs.length === 0 && vals.length === 0;
        def = node({ ...base, Directives: dirs, EnumValues: vals, Kind: "ENUM" });
        break;
      }
      default: {
        const dirs = this.directives(true);
        const fields = this.inputFields();
        empty = dirs.length === 0 && fields.length === 0;
        def = node({ ...base, Directives: dirs, Fields: fields, Kind: "INPUT_OBJECT" });
      }
    }
    if (empty) this.unexpected();
    doc.Extensions!.push(def);
  }

  // -- query documents --

  queryDocument(): Obj {
    const ops: Obj[] = [];
    const frags: Obj[] = [];
    while (this.peek().kind !== "EOF") {
      const t = this.peek();
      if (t.kind === "Name") {
        if (["query", "mutation", "subscription"].includes(t.value)) ops.push(this.operationDefinition());
        else if (t.value === "fragment") frags.push(this.fragmentDefinition());
        else this.unexpected();
      } else if (t.kind === "{") ops.push(this.operationDefinition());
      else this.unexpected();
    }
    return node({ Fragments: frags, Operations: ops });
  }

  private operationDefinition(): Obj {
    if (this.peek().kind === "{")
      return node({ Name: "", Operation: "query", SelectionSet: this.requiredSelectionSet() });
    const op = this.next().value;
    const n = this.peek().kind === "Name" ? this.next().value : "";
    const vars = this.variableDefinitions();
    const dirs = this.directives(false);
    return node({
      Directives: dirs,
      Name: n,
      Operation: op,
      SelectionSet: this.requiredSelectionSet(),
      VariableDefinitions: vars,
    });
  }

  private variableDefinitions(): Obj[] {
    const out: Obj[] = [];
    this.many("(", ")", () => {
      this.expect("$");
      const v = this.name();
      this.expect(":");
      const type = this.typeRef();
      const dflt = this.skip("=") ? this.value(true) : undefined;
      out.push(node({ DefaultValue: dflt, Directives: this.directives(true), Type: type, Used: false, Variable: v }));
    });
    return out;
  }

  private requiredSelectionSet(): Obj[] {
    if (this.peek().kind !== "{") this.fail(this.peek(), `Expected {, found ${kindString(this.peek().kind)}`);
    const out: Obj[] = [];
    this.some("{", "}", () => out.push(this.selection()));
    return out;
  }

  private selection(): Obj {
    if (this.peek().kind === "...") {
      this.next();
      const t = this.peek();
      if (t.kind === "Name" && t.value !== "on") {
        const n = this.name();
        return node({ Directives: this.directives(false), Name: n });
      }
      let cond = "";
      if (t.kind === "Name" && t.value === "on") {
        this.next();
        cond = this.name();
      }
      const dirs = this.directives(false);
      return node({ Directives: dirs, SelectionSet: this.requiredSelectionSet(), TypeCondition: cond });
    }
    let alias = this.name();
    let name = alias;
    if (this.skip(":")) name = this.name();
    else alias = name;
    const args = this.arguments(false);
    const dirs = this.directives(false);
    let sel: Obj[] = [];
    if (this.peek().kind === "{") {
      sel = [];
      this.some("{", "}", () => sel.push(this.selection()));
    }
    return node({ Alias: alias, Arguments: args, Directives: dirs, Name: name, SelectionSet: sel });
  }

  private fragmentDefinition(): Obj {
    this.expectKeyword("fragment");
    if (this.peek().value === "on") this.unexpected();
    const n = this.name();
    const vars = this.variableDefinitions();
    this.expectKeyword("on");
    const cond = this.name();
    const dirs = this.directives(false);
    return node({
      Directives: dirs,
      Name: n,
      SelectionSet: this.requiredSelectionSet(),
      TypeCondition: cond,
      VariableDefinition: vars,
    });
  }
}

export function parseSchemaDoc(src: string): Obj {
  return new Parser(src).schemaDocument();
}

export function parseQueryDoc(src: string): Obj {
  return new Parser(src).queryDocument();
}
