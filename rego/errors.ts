// Errors raised by the engine, with OPA's codes and message formats.

export type RegoErrorCode =
  | "rego_parse_error"
  | "rego_compile_error"
  | "rego_type_error"
  | "rego_unsafe_var_error"
  | "rego_recursion_error"
  | "eval_conflict_error"
  | "eval_type_error"
  | "eval_builtin_error"
  | "eval_cancel_error"
  | "eval_budget_error"
  | "input_limit_error";

export interface Location {
  file: string;
  row: number;
  col: number;
}

export class RegoError extends Error {
  /**
   * The innermost rule or function (e.g. `data.nemoclaw.network.deny`) whose evaluation raised this error; set by
   * the evaluator as the error leaves that rule. Undefined for errors outside rules (queries) and compile errors.
   */
  rule: string | undefined = undefined;
  constructor(
    readonly code: RegoErrorCode,
    readonly detail: string,
    readonly location?: Location,
  ) {
    super(formatOne(code, detail, location));
    this.name = "RegoError";
  }
}

/**
 * A failing builtin call under strict builtin errors (OPA's `--strict-builtin-errors` / `StrictBuiltinErrors`):
 * code `eval_builtin_error`, or `eval_type_error` for operand type errors as OPA reports them
 * (`plus: operand 1 must be number but got string`); `builtin` is the builtin's name (`to_number`), `location` the
 * call's file/row/col. Without strict mode the same failure makes the call undefined and nothing is thrown.
 */
export class RegoBuiltinError extends RegoError {
  constructor(
    code: "eval_builtin_error" | "eval_type_error",
    detail: string,
    location: Location | undefined,
    readonly builtin: string,
  ) {
    super(code, detail, location);
    this.name = "RegoBuiltinError";
  }
}

function formatOne(code: string, msg: string, loc?: Location): string {
  if (!loc) return `${code}: ${msg}`;
  // evaluation errors use OPA's runtime form (file:row); parse/compile errors carry the column too
  if (code.startsWith("eval_")) return `${loc.file}:${loc.row}: ${code}: ${msg}`;
  return `${loc.file}:${loc.row}:${loc.col}: ${code}: ${msg}`;
}

/** Several errors at once (compile), formatted like OPA: "N errors occurred:\n<each>". */
export class RegoErrors extends Error {
  constructor(readonly errors: RegoError[]) {
    super(formatErrors(errors));
    this.name = "RegoErrors";
  }
  get code(): RegoErrorCode {
    return this.errors[0]!.code;
  }
}

export function formatErrors(errors: RegoError[]): string {
  const head = errors.length === 1 ? "1 error occurred" : `${errors.length} errors occurred`;
  return errors.length === 1 ? `${head}: ${errors[0]!.message}` : `${head}:\n${errors.map((e) => e.message).join("\n")}`;
}

/**
 * OPA's JSON error output (`opa eval -f json`): `{"errors":[{message, code, location, details?}]}`, indented by two
 * spaces. The message is the first line (a type error's have/want lines are details in OPA); queries have file "";
 * parse errors carry OPA's `details` (`line`, `idx`) when the source text is given.
 */
export function errorsToJSON(errs: RegoError[], sources: Record<string, string> = {}): string {
  const out = errs.map((e) => {
    const o: Record<string, unknown> = { message: e.detail.split("\n")[0], code: e.code };
    if (e.location) {
      const file = e.location.file === "query" ? "" : e.location.file;
      o.location = { file, row: e.location.row, col: e.location.col };
      const src = sources[e.location.file];
      if (e.code === "rego_parse_error" && src !== undefined) o.details = parseErrorDetail(src, e.location);
    }
    return o;
  });
  return JSON.stringify({ errors: out }, null, 2);
}

/** OPA's newParserErrorDetail: the line holding the error (skipping back over spaces) and the byte index in it. */
function parseErrorDetail(src: string, loc: Location): { line: string; idx: number } {
  const bs = Buffer.from(src, "utf8");
  let lineStart = 0;
  for (let r = 1; r < loc.row && lineStart < bs.length; r++) {
    const nl = bs.indexOf(10, lineStart);
    if (nl < 0) break;
    lineStart = nl + 1;
  }
  let offset = lineStart + Math.max(loc.col - 1, 0) - (loc.col === 0 ? 1 : 0);
  if (offset >= bs.length) offset = bs.length - 1;
  if (offset < 0) offset = 0;
  const space = (b: number | undefined) => b === 32 || b === 9 || b === 10 || b === 13 || b === 11 || b === 12;
  while (offset > 0 && space(bs[offset])) offset--;
  let begin = offset;
  while (begin > 0 && bs[begin] !== 10 && bs[begin] !== 13) begin--;
  if (bs[begin] === 10 || bs[begin] === 13) begin++;
  let end = offset;
  while (end < bs.length && bs[end] !== 10 && bs[end] !== 13) end++;
  if (begin > end) begin = end;
  return { line: bs.subarray(begin, end).toString("utf8"), idx: offset - begin };
}
