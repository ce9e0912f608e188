// The replay store of gates in tests that are not about single use across restarts: in memory, said so explicitly.
import { memoryReplayStore, type ReplayStore } from "../../executor-gate/index.ts";

export function testReplay(): ReplayStore {
  return memoryReplayStore({ unsafeAllowReplayAfterRestart: true });
}
