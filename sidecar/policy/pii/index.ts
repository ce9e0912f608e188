// PII detection and redaction (pure: no I/O). The pii policy block (../blocks/pii.ts) and output redaction
// (sidecar/api/results.ts) use it.
export { BUILTIN_DETECTORS, detectorLabel, type BuiltinDetector, type Hit } from "./detectors.ts";
export { createScanner, MAX_DEPTH, MAX_NESTED_JSON, type Finding, type Scanner } from "./scan.ts";
export { countByDetector, marker, redactString, redactValue } from "./redact.ts";
export { patternProblem } from "./patterns.ts";
export * from "./checks.ts";
