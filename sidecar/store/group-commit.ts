// Group commit: several jobs (decisions) written in ONE SQLite transaction (one COMMIT, one WAL append), with each
// job's failure confined to that job. The obvious way, a savepoint per job, costs ~5% of the record stage (SQLite
// copies every page a savepoint first touches into its statement journal). Instead jobs run without savepoints, and
// when one throws, the whole transaction rolls back and the others run again without it: a job is a pure function
// of its arguments and the database, so the re-run writes exactly what the first pass would have (same ids, same
// audit rows). The one thing a re-run cannot undo is a side effect outside SQLite (the holds service announces a
// created hold to operator consoles at once): a job calls `pin()` before one, and from then on the remaining jobs
// of that transaction run in savepoints, so nothing before a pin is ever run twice.
import { AuditBatch } from "./audit.ts";
import type { Db } from "./db.ts";

export type JobResult<R> = { out: R; error?: undefined } | { out?: undefined; error: unknown };

/** Thrown through the transaction to roll it back when an unprotected job fails. */
class JobFailed {
  constructor(
    readonly index: number,
    readonly cause: unknown,
  ) {}
}

export class GroupCommit<A extends unknown[], R> {
  private readonly inSavepoint: (...args: A) => R;
  private readonly pass: (order: number[], jobs: A[], results: JobResult<R>[]) => void;
  private pinned = false;

  constructor(
    private readonly db: Db,
    private readonly job: (...args: A) => R,
  ) {
    this.inSavepoint = db.transaction(job) as unknown as (...args: A) => R; // nested: a savepoint
    // BEGIN IMMEDIATE: the write lock is taken before the first read, so nothing read inside (idempotency, limit
    // totals, the audit head) can be changed by another connection before this transaction commits.
    this.pass = db.transaction((order: number[], jobs: A[], results: JobResult<R>[]) => {
      const audit = AuditBatch.open(db); // the audit head: read once, written once per commit
      try {
        this.pinned = false;
        for (const i of order) {
          if (!this.pinned) {
            try {
              results[i] = { out: this.job(...jobs[i]!) };
            } catch (error) {
              throw new JobFailed(i, error); // rolls back the pass; nothing in it was pinned
            }
            continue;
          }
          const mark = audit.mark();
          try {
            results[i] = { out: this.inSavepoint(...jobs[i]!) };
          } catch (error) {
            // SQLite may have rolled back the whole transaction (e.g. disk full): then nothing of this pass was
            // written, and running the next jobs would autocommit them one by one, outside the batch
            if (!db.inTransaction) throw error;
            audit.rollbackTo(mark); // the savepoint rolled back this job's audit rows too
            results[i] = { error };
          }
        }
        audit.finish();
      } finally {
        audit.close();
        this.pinned = false;
      }
    }).immediate as unknown as GroupCommit<A, R>["pass"];
  }

  /** For a job: what follows is a side effect outside the database that running the job again would repeat. */
  pin(): void {
    this.pinned = true;
  }

  /** Runs every job in one transaction and commits it. A job that throws gets its error and leaves no trace; the
   * others are committed. If the commit itself fails, every job gets that error (nothing was written). */
  commit(jobs: A[]): JobResult<R>[] {
    const results: JobResult<R>[] = new Array(jobs.length);
    let order = jobs.map((_, i) => i);
    for (;;) {
      try {
        this.pass(order, jobs, results);
        return results;
      } catch (e) {
        if (!(e instanceof JobFailed)) {
          for (const i of order) results[i] = { error: e };
          return results;
        }
        results[e.index] = { error: e.cause };
        order = order.filter((i) => i !== e.index); // run the others again, without it
      }
    }
  }
}
