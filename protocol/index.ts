export * from "./jcs.ts";
export * from "./errors.ts";
export * from "./intent.ts";
export * from "./attestation.ts";
export * from "./decision.ts";
