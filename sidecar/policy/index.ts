// The policy module's public surface.
export { loadPolicy, displayName, type LoadedPolicy, type NamedEvaluator } from "./load.ts";
export { PolicyManager, type ReloadResult, type PolicyManagerOptions } from "./manager.ts";
export { evaluateBlocks, combineVerdicts } from "./evaluate.ts";
export { PolicyError, isPolicyError, formatIssue, type PolicyIssue, type PolicyErrorCode } from "./errors.ts";
export { compileMeasure, compileCel, CelCompileError } from "./cel.ts";
export { compileNetwork, type NetworkBlock, type NetworkSpec } from "./network.ts";
export { parseAmount, parseDuration, parseTokenAmount } from "./units.ts";
export { ownBlockOf } from "./blocks/actions.ts";
export type { PolicyConfig, SoftLimitConfig, HoldsConfig, NotifyConfig } from "./config.ts";
export type { BlockVerdict, BlockEvaluator, EvalEnv, Effect } from "./verdict.ts";
