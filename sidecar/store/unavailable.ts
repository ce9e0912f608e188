// The shared store (fleet mode's PostgreSQL) could not answer. Reads answer 503 with this error; decisions are
// DENIED instead (fail closed). Its message never carries the connection string.
export class StoreUnavailable extends Error {
  readonly code = "store_unavailable";
  constructor(detail: string) {
    super(`the shared store (PostgreSQL) is unavailable: ${detail}`);
    this.name = "StoreUnavailable";
  }
}
