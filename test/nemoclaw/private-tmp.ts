// NemoClaw refuses sockets, CA files and declarations below folders that group or others can write, so /tmp
// (mode 1777) cannot hold them. Tests use a private folder under node_modules/.cache instead.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(fileURLToPath(new URL("../../node_modules/.cache/intent-sidecar-tests", import.meta.url)));

export function privateTmp(prefix: string): string {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  fs.chmodSync(root, 0o700);
  return fs.mkdtempSync(path.join(root, prefix));
}
