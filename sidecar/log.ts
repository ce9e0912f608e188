// Logs go to stderr as JSON (pino); stdout carries only the `ready` line. Never log secrets, tokens, attestations
// or request bodies.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string = process.env.INTENT_SIDECAR_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { svc: "intent-sidecar" } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
