// The compiled policy: units parsed (wei as bigint, durations in ms), globs and CEL compiled, addresses lower-cased.
import type { Abi, Address } from "viem";
import type { GlobSet } from "./glob.ts";
import type { CelProgram } from "./cel.ts";
import type { NetworkSpec } from "./network.ts";
import type { Intent } from "../../protocol/index.ts";
import type { CostPolicy } from "../limits/budgets.ts";
import type { ScopePattern } from "./scope.ts";
import type { PiiConfig } from "./pii/config.ts";
import type { RiskConfig, RiskLevel } from "./risk.ts";

export interface AddressLists {
  allow?: Set<string>;
  deny: Set<string>;
}

export interface TokenConfig {
  symbol: string;
  address: Address;
  chain: number;
  decimals: number;
  /** In base units (max_transfer * 10^decimals). */
  maxTransfer?: bigint;
}

export type NumericOp = ">" | ">=" | "<" | "<=" | "==" | "!=";

export type Criterion =
  | { type: "ethValue"; operator: NumericOp; value: bigint }
  | { type: "evmAddress"; operator: "in" | "not in"; addresses: Set<string> }
  | { type: "evmNetwork"; operator: "in" | "not in"; chains: Set<number> }
  | {
      type: "evmData";
      abi: Abi;
      abiName: string;
      function: string;
      params: {
        name: string;
        operator: NumericOp | "in" | "not in";
        value?: string | number | boolean;
        values?: (string | number)[];
      }[];
    };

export interface EvmRule {
  id: string;
  effect: "deny" | "hold" | "allow";
  /** Undefined: every operation. */
  operation?: "sendTransaction" | "signTransaction" | "signTypedData";
  criteria: Criterion[];
  reason?: string;
}

export interface EvmConfig {
  chains?: Set<number>;
  maxValue?: bigint;
  contracts: AddressLists;
  recipients: AddressLists;
  /** By lower-cased address. */
  tokens: Map<string, TokenConfig>;
  denyUnlimitedApprovals: boolean;
  denyUnknownCalldata: boolean;
  /** Extra ABIs (files, inline, human-readable) merged into one. */
  abis: Abi;
  rules: EvmRule[];
  /** Fee ceiling per transaction in wei: `max_fee`, or `max_value` when only that is set. */
  maxFee?: bigint;
  /** `max_fee` was written in the policy: transactions must then declare their fees. */
  maxFeeExplicit: boolean;
  /** EIP-7702 delegates the account may delegate to (lower-case). */
  delegations: Set<string>;
  allowContractCreation: boolean;
  /** Address (lower-case) → a name people know it by (`evm.labels`), for summaries. */
  labels: Map<string, string>;
  /** Typed data the sidecar does not understand, allowed by primary type (and contract, lower-case, when given). */
  allowTypedData: { primaryType: string; contract?: string }[];
}

export interface ToolCallsConfig {
  allow: GlobSet;
  deny: GlobSet;
  hold: GlobSet;
  domains?: { allow?: GlobSet; deny: GlobSet };
  maxArgsBytes?: number;
  /** tool_calls.rules: by scope, tool and risk (sidecar/policy/blocks/scopes.ts). */
  rules?: ScopedRule[];
}

/** A rule of tool_calls.rules, actions.rules or a scopes section: every given condition must match. */
export interface ScopedRule {
  id: string;
  effect: "deny" | "hold" | "allow";
  scope?: ScopePattern;
  /** Tool globs (tool rules) or action globs (action rules). */
  names?: GlobSet;
  risk?: ReadonlySet<RiskLevel>;
  reason?: string;
  /** Where it is written, for messages: `tool_calls.rules[2]`. */
  where: string;
}

/** One `scopes` entry: can only add denies and holds, and restrict allows, for calls in its scope. */
export interface ScopeSection {
  scope: ScopePattern;
  where: string;
  toolCalls?: { allow?: GlobSet; deny: GlobSet; hold: GlobSet; rules: ScopedRule[]; restricts: boolean };
  actions?: { allow?: GlobSet; deny: GlobSet; rules: ScopedRule[]; restricts: boolean };
}

/** One `rate_limits` entry (sidecar/limits/rate.ts counts it). */
export interface RateLimitConfig {
  id: string;
  scope: "agent" | "tenant" | "team" | "global";
  /** Action globs; undefined with tools undefined: every action. */
  actions?: GlobSet;
  /** Tool globs: only tool.call intents whose tool matches. */
  tools?: GlobSet;
  max: number;
  perMs: number;
  onExceed: "deny" | "hold";
}

export interface CustomRule {
  id: string;
  when?: CelProgram;
  /** Set when `when` only tests the action name: the actions it admits (checked without CEL). */
  whenActions?: Set<string>;
  effect: "deny" | "hold";
  expr: CelProgram;
  source: string;
  reason: string;
}

export interface SoftLimitConfig {
  id: string;
  /** Undefined: every action. */
  actions?: GlobSet;
  /** The source: "count" or a CEL expression. */
  measureSource: string;
  measure: (intent: Intent, env: { now: Date }) => number;
  /** `tenant` / `team`: of the agent's principal (sidecar config), never the intent's context. */
  scope: "agent" | "tenant" | "team" | "global";
  windowMs: number;
  max: number;
}

export interface HoldsConfig {
  ttlMs: number;
  approvalsRequired: number;
  overrides: Map<string, { approvalsRequired: number; ttlMs: number }>;
  /** holds.max_open_per_agent (default 100): pending holds per agent; beyond it hold-worthy intents are DENIED. */
  maxOpenPerAgent: number;
}

export interface NotifyConfig {
  webhooks: { url: string; events?: string[] }[];
}

export interface PolicyConfig {
  version: 1;
  name?: string;
  actions?: { allow: GlobSet; deny: GlobSet; rules?: ScopedRule[] };
  evm?: EvmConfig;
  toolCalls?: ToolCallsConfig;
  custom: CustomRule[];
  softLimits: SoftLimitConfig[];
  network?: NetworkSpec;
  holds: HoldsConfig;
  notify: NotifyConfig;
  /** `risk`: classes of tools and actions (absent: every call is DEFAULT_RISK and no reason names it). */
  risk?: RiskConfig;
  /** `scopes`: per-tenant / per-team sections that only narrow. */
  scopes?: ScopeSection[];
  /** `rate_limits`. */
  rateLimits?: RateLimitConfig[];
  /** `costs` and `budgets` (sidecar/limits/budgets.ts); absent when the policy has neither. */
  costs?: CostPolicy;
  /** `pii` (sidecar/policy/pii/compile.ts). */
  pii?: PiiConfig;
  /** Every rule id that can raise a hold (for holds.overrides): custom, evm.rules, soft_limits, and "hold". */
  holdRuleIds: Set<string>;
}
