// NemoClaw external component: the declaration NemoClaw reads and the activation socket it calls.
export * from "./contract.ts";
export * from "./declaration.ts";
export { startActivationServer, type ActivationServer, type ActivationServerOptions } from "./activation-server.ts";
export type { ActivationRecord, PreparedGateway } from "./handlers.ts";
export { startFromDeclaration } from "./from-declaration.ts";
