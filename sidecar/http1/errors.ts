// A request the HTTP/1.1 layer refuses before any route sees it. `code` is the stable `error` of the JSON answer.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}
