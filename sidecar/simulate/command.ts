// `policy simulate`: filled in below once the store and policy evaluation land.
import { ExitError } from "../cli/exit.ts";

export async function runSimulate(_o: Record<string, unknown>): Promise<void> {
  throw new ExitError(2, "intent-sidecar: policy simulate is not available in this build yet");
}
