// The console's static files (sidecar/console/), read once. No build step: plain HTML, JS modules and CSS.
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { PACKAGE_DIR } from "../package-root.ts";

const CONSOLE_DIR = join(PACKAGE_DIR, "sidecar", "console");
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

let cache: Map<string, { type: string; body: string }> | undefined;

export function consoleAssets(): Map<string, { type: string; body: string }> {
  if (!cache) {
    cache = new Map();
    for (const f of readdirSync(CONSOLE_DIR)) {
      const type = TYPES[extname(f)];
      if (type) cache.set(f, { type, body: readFileSync(join(CONSOLE_DIR, f), "utf8") });
    }
  }
  return cache;
}
