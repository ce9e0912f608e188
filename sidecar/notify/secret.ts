// The default webhook signing secret: INTENT_SIDECAR_WEBHOOK_SECRET, else a random secret generated once and kept in
// the data directory (mode 0600) so receivers can be given it and it survives restarts.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";

export const WEBHOOK_SECRET_FILE = "webhook-secret";

export function loadWebhookSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.INTENT_SIDECAR_WEBHOOK_SECRET) return env.INTENT_SIDECAR_WEBHOOK_SECRET;
  const file = join(dataDir, WEBHOOK_SECRET_FILE);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("hex");
  writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return secret;
}
