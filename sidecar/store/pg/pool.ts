// The fleet store's connection pool (PostgreSQL through `pg`, pure JS). Short timeouts everywhere: a decision waits
// for the database at most a few seconds and is then DENIED (fail closed), never queued behind a dead server.
// The pool reconnects by itself when the server returns; `health` says whether the last round trip worked.
import pg from "pg";

/** int8 (bigint) as a JS number: the fleet tables keep ms timestamps and ledger millionths, all far below 2^53. */
const types = new pg.TypeOverrides();
types.setTypeParser(20, (v: string) => Number(v));

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

export interface StoreHealth {
  /** True while the last database round trip succeeded. */
  up: boolean;
  /** The last failure's message (no URL, no password), cleared on success. */
  lastError?: string;
  since: number;
}

export interface FleetPool {
  pool: pg.Pool;
  health: StoreHealth;
  /** Runs `fn` in one transaction (BEGIN … COMMIT; ROLLBACK on throw) and records the outcome in `health`. */
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
  /** One statement outside a transaction (reads). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, args?: unknown[]): Promise<pg.QueryResult<R>>;
  onHealth(listener: (h: StoreHealth) => void): void;
  close(): Promise<void>;
}

/** SQLSTATEs worth one more try of a whole transaction: serialization failure, deadlock detected. */
export const RETRYABLE = new Set(["40001", "40P01"]);

export function openPool(url: string, opts: { max?: number; statementTimeoutMs?: number } = {}): FleetPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 8,
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 5000,
    query_timeout: (opts.statementTimeoutMs ?? 5000) + 1000,
    application_name: "intent-sidecar",
    types,
    pipeline: true, // see tx(): statements are sent without waiting for the previous one's answer
  });
  const listeners: ((h: StoreHealth) => void)[] = [];
  const health: StoreHealth = { up: true, since: Date.now() };
  const mark = (up: boolean, e?: unknown) => {
    const changed = health.up !== up;
    health.up = up;
    if (up) delete health.lastError;
    else health.lastError = errorMessage(e);
    if (changed) {
      health.since = Date.now();
      for (const l of listeners) l(health);
    }
  };
  // An idle client's connection dying (server restart) is reported here; without a listener it would crash the process.
  pool.on("error", (e) => mark(false, e));
  // ...and a connection dropped while checked out (between two statements of a transaction) too: the statement
  // that follows fails and the transaction rolls back, but the event itself must not be unhandled
  pool.on("connect", (client) => client.on("error", (e) => mark(false, e)));
  return {
    pool,
    health,
    async tx(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        mark(false, e);
        throw e;
      }
      let broken = false;
      try {
        // pipelined: BEGIN goes out with the transaction's first statement instead of a round trip of its own (a
        // BEGIN that failed fails the connection, so nothing after it can run outside the transaction)
        const begin = client.query("BEGIN");
        // when fn fails first (a connection killed mid-batch) nobody awaits BEGIN: its rejection must not be unhandled
        // (that would end the process); the success path below still awaits it and sees its error
        begin.catch(() => undefined);
        const out = await fn(client);
        await begin;
        await client.query("COMMIT");
        mark(true);
        return out;
      } catch (e) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true; // the connection is gone: do not hand it back to the pool
        }
        if (broken || !serverAnswered(e)) mark(false, e);
        throw e;
      } finally {
        client.release(broken ? true : undefined);
      }
    },
    async query(sql, args) {
      try {
        const r = await pool.query(sql, args);
        mark(true);
        return r;
      } catch (e) {
        if (!serverAnswered(e)) mark(false, e);
        throw e;
      }
    },
    onHealth(l) {
      listeners.push(l);
    },
    close: () => pool.end(),
  };
}

/** The server is there and refused this statement (a constraint, a timeout), as opposed to a lost connection, a
 * refused connect or a server shutting down (SQLSTATE classes 08 and 57). */
function serverAnswered(e: unknown): boolean {
  if (!(e instanceof pg.DatabaseError)) return false;
  const code = e.code ?? "";
  return !code.startsWith("08") && !code.startsWith("57");
}

/** An error's message without anything that could carry the connection string. */
export function errorMessage(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = (err?.message ?? String(e)).replace(/postgres(ql)?:\/\/\S+/g, "postgres://…");
  return err?.code ? `${err.code}: ${msg}` : msg;
}
