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

/** Where the pipeline writes its decision, hold and approval lines when it is given no logger of its own: the
 * daemon's logger once `intent-sidecar start` made it (setProcessLogger), else nothing (in-process tests, benches). */
let processLogger: Logger | undefined;

export function setProcessLogger(log: Logger | undefined): void {
  processLogger = log;
}

export function getProcessLogger(): Logger | undefined {
  return processLogger;
}

/** The fields of the one log line per decision, hold outcome and approval (docs/operator-guide.md, "Logs"). Only
 * names, ids and outcomes: never params, context, headers, bodies, tokens or attestations. */
export interface DecisionLogLine {
  event: "decision" | "hold.approved" | "hold.denied" | "hold.expired";
  intent_id: string;
  agent: string;
  action: string;
  decision: string;
  /** `block/rule` of every reason (for APPROVED: the rules that allowed it). */
  rules: string[];
  hold_id?: string;
  /** hold.approved: the operator whose approval completed the hold; `approvers` lists them all. */
  operator?: string;
  approvers?: string[];
  /** decision: time spent deciding; hold outcomes: how long the intent was held. */
  duration_ms: number;
}
