// Typed policy errors. Every problem names file, line and column and says what to fix, so an operator can jump to it.

export interface PolicyIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path into the policy (e.g. `evm.max_value`), or "" for syntax errors. */
  path: string;
  message: string;
}

export type PolicyErrorCode = "policy_invalid" | "policy_io";

export function formatIssue(i: PolicyIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/** A policy that could not be read (`policy_io`) or is not valid (`policy_invalid`). `message` lists every issue,
 * one per line, each as `file:line:col: path: what is wrong; how to fix it`. */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly issues: PolicyIssue[];

  constructor(code: PolicyErrorCode, issues: PolicyIssue[]) {
    super(issues.map(formatIssue).join("\n") || `${code}`);
    this.name = "PolicyError";
    this.code = code;
    const first = issues[0] ?? { file: "", line: 0, column: 0, path: "", message: code };
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
    this.issues = issues;
  }

  toJSON(): {
    code: PolicyErrorCode;
    message: string;
    file: string;
    line: number;
    column: number;
    issues: PolicyIssue[];
  } {
    return {
      code: this.code,
      message: this.message,
      file: this.file,
      line: this.line,
      column: this.column,
      issues: this.issues,
    };
  }
}

export function isPolicyError(e: unknown): e is PolicyError {
  return e instanceof PolicyError;
}
