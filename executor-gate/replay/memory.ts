// In-memory replay store: single process, lost on restart. Good for tests and short-lived executors.
import type { ReplayStore } from "./store.ts";

export function memoryReplayStore(opts: { now?: () => number } = {}): ReplayStore & { size(): number } {
  const now = opts.now ?? Date.now;
  const used = new Map<string, number>(); // jti -> keep-until (epoch seconds)
  let nextSweep = 0;

  function sweep(): void {
    const t = now() / 1000;
    if (t < nextSweep) return;
    nextSweep = t + 60;
    for (const [jti, until] of used) if (until < t) used.delete(jti);
  }

  return {
    has(jti) {
      const until = used.get(jti);
      return until !== undefined && until >= now() / 1000;
    },
    consume(jti, expiresAt) {
      sweep();
      const until = used.get(jti);
      if (until !== undefined && until >= now() / 1000) return false;
      used.set(jti, expiresAt);
      return true;
    },
    size: () => used.size,
  };
}
