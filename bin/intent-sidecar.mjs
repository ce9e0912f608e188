#!/usr/bin/env node
// Entry point for `intent-sidecar` / `npx intent-sidecar`. Sources are TypeScript; tsx compiles them on load,
// so the command works straight after `npm ci` with no separate build step.
import { register } from "tsx/esm/api";

register();
await import("../sidecar/cli/main.ts");
