// Commands throw ExitError to end with a specific exit code and message (0 ok, 1 check failed, 2 usage/I-O).
export class ExitError extends Error {
  constructor(
    readonly code: 0 | 1 | 2,
    message = "",
  ) {
    super(message);
  }
}
