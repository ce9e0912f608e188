// In-memory replay store: single process, lost on restart. After a restart every attestation that has not expired
// yet can be used again, so a gate accepts it only when asked explicitly: memoryReplayStore({
// unsafeAllowReplayAfterRestart: true }). Good for tests and for verifiers whose uses are also recorded elsewhere.
import { VOLATILE_UNACKNOWLEDGED, type ReplayStore } from "./store.ts";

export interface MemoryReplayOptions {
  now?: () => number;
  /** Required (true) to use this store in createGate: you accept that a restart forgets every recorded use, so
   * unexpired attestations can be redeemed again. Use `replayFile` or `remoteRedemption` in production. */
  unsafeAllowReplayAfterRestart?: boolean;
}

export function memoryReplayStore(opts: MemoryReplayOptions = {}): ReplayStore & { size(): number } {
  const now = opts.now ?? Date.now;
  const used = new Map<string, number>(); // jti -> keep-until (epoch seconds)
  let nextSweep = 0;

  function sweep(): void {
    const t = now() / 1000;
    if (t < nextSweep) return;
    nextSweep = t + 60;
    for (const [jti, until] of used) if (until < t) used.delete(jti);
  }

  const store: ReplayStore & { size(): number } = {
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
  if (opts.unsafeAllowReplayAfterRestart !== true) {
    Object.defineProperty(store, VOLATILE_UNACKNOWLEDGED, { value: true, enumerable: false });
  }
  return store;
}
