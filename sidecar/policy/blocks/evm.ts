// `evm`: hard limits on evm.transaction and evm.typed_data (chains, max_value, contracts, decoded recipients, token
// max_transfer, unlimited approvals, unknown calldata) and the CDP-style rules. Every check runs and every violation
// is reported, so the operator sees all reasons at once.
import { hashTypedData, type Hex, type TypedDataDefinition } from "viem";
import type { BlockEvaluator, BlockVerdict } from "../verdict.ts";
import type { EvmConfig, TokenConfig } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { formatEth, formatToken } from "../units.ts";
import { buildSelectorMap, decodeCall, effectOf, normalizeTx, type Effect, type SelectorMap } from "./evm-decode.ts";
import { compileRules, type RuleSubject } from "./evm-rules.ts";
import { abstain, allow, deny, hold, reason, shortAddr } from "./verdicts.ts";

const UNLIMITED = 2n ** 255n;

export function evmEvaluator(cfg: EvmConfig | undefined): BlockEvaluator {
  const selectors = cfg ? buildSelectorMap(cfg.abis) : undefined;
  const rules = cfg ? compileRules(cfg.rules) : undefined;
  return (intent): BlockVerdict => {
    if (intent.action !== "evm" && !intent.action.startsWith("evm.")) return abstain("evm");
    if (!cfg)
      return deny("evm", [reason("evm", "missing", `the policy has no evm block, so ${intent.action} is denied`)]);
    if (intent.action === "evm.transaction") return transaction(cfg, selectors!, rules!, intent.params);
    if (intent.action === "evm.typed_data") return typedData(cfg, rules!, intent.params);
    return deny("evm", [
      reason(
        "evm",
        "action",
        `${intent.action} is not an EVM kind the evm block knows (evm.transaction, evm.typed_data)`,
      ),
    ]);
  };
}

function chainCheck(cfg: EvmConfig, chainId: number, out: Reason[]) {
  if (cfg.chains && !cfg.chains.has(chainId))
    out.push(reason("evm", "chains", `chain ${chainId} is not in evm.chains (${[...cfg.chains].join(", ")})`));
}

function recipientCheck(cfg: EvmConfig, who: string | undefined, out: Reason[]) {
  if (who === undefined) return;
  if (cfg.recipients.deny.has(who))
    out.push(reason("evm", "recipients", `recipient ${shortAddr(who)} is in recipients.deny`));
  else if (cfg.recipients.allow && !cfg.recipients.allow.has(who))
    out.push(reason("evm", "recipients", `recipient ${shortAddr(who)} is not in recipients.allow`));
}

function amountChecks(cfg: EvmConfig, token: TokenConfig | undefined, e: Effect, out: Reason[]) {
  if (e.amount === undefined) return;
  if (e.kind === "approval" && cfg.denyUnlimitedApprovals && e.amount >= UNLIMITED) {
    out.push(
      reason(
        "evm",
        "unlimited_approval",
        `unlimited approval (${e.amount >= 2n ** 256n - 1n ? "2^256-1" : ">= 2^255"}) to ${shortAddr(e.beneficiary ?? "0x")} is denied by deny_unlimited_approvals`,
      ),
    );
    return;
  }
  if (token?.maxTransfer !== undefined && e.amount > token.maxTransfer) {
    const verb = e.kind === "approval" ? "approval" : "transfer";
    out.push(
      reason(
        "evm",
        "max_transfer",
        `${verb} of ${formatToken(e.amount, token.decimals, token.symbol)} exceeds max_transfer ${formatToken(token.maxTransfer, token.decimals, token.symbol)}`,
      ),
    );
  }
}

function finish(denies: Reason[], holds: Reason[], ok: string): BlockVerdict {
  if (denies.length) return deny("evm", denies);
  if (holds.length) return hold("evm", holds);
  return allow("evm", [reason("evm", "allow", ok)]);
}

function transaction(
  cfg: EvmConfig,
  selectors: SelectorMap,
  rules: ReturnType<typeof compileRules>,
  params: Record<string, unknown>,
): BlockVerdict {
  let tx;
  try {
    tx = normalizeTx(params);
  } catch (e) {
    return deny("evm", [
      reason("evm", "transaction", `the transaction cannot be parsed: ${(e as Error).message.split("\n")[0]}`),
    ]);
  }
  const out: Reason[] = [];
  chainCheck(cfg, tx.chainId, out);
  if (cfg.maxValue !== undefined && tx.value > cfg.maxValue)
    out.push(reason("evm", "max_value", `value ${formatEth(tx.value)} exceeds max_value ${formatEth(cfg.maxValue)}`));
  if (!tx.to) {
    out.push(reason("evm", "contracts", "contract deployment (a transaction without `to`) is denied"));
    return deny("evm", out);
  }
  const hasData = tx.data !== "0x" && tx.data.length > 2;
  if (cfg.contracts.deny.has(tx.to))
    out.push(reason("evm", "contracts", `contract ${shortAddr(tx.to)} is in contracts.deny`));
  else if (hasData && cfg.contracts.allow && !cfg.contracts.allow.has(tx.to))
    out.push(reason("evm", "contracts", `contract ${shortAddr(tx.to)} is not in contracts.allow`));
  let call: ReturnType<typeof decodeCall>;
  const token = cfg.tokens.get(`${tx.chainId}:${tx.to}`);
  if (!hasData) {
    recipientCheck(cfg, tx.to, out);
  } else {
    call = decodeCall(selectors, tx.data);
    if (!call) {
      if (cfg.denyUnknownCalldata)
        out.push(
          reason(
            "evm",
            "unknown_calldata",
            `calldata with selector ${tx.data.slice(0, 10)} is not decoded by any known ABI (ERC-20, ERC-721, evm.abis)`,
          ),
        );
    } else {
      const e = effectOf(call);
      recipientCheck(cfg, e.beneficiary, out);
      if (e.approvalForAll && cfg.denyUnlimitedApprovals)
        out.push(
          reason(
            "evm",
            "unlimited_approval",
            `setApprovalForAll to ${shortAddr(e.beneficiary ?? "0x")} is denied by deny_unlimited_approvals`,
          ),
        );
      amountChecks(cfg, token, e, out);
    }
  }
  const subject: RuleSubject = {
    operation: "transaction",
    chainId: tx.chainId,
    address: tx.to,
    value: tx.value,
    data: tx.data as Hex,
    ...(call ? { decoded: call } : {}),
    ...(token ? { token } : {}),
  };
  const r = rules(subject);
  return finish(
    [...out, ...r.deny],
    r.hold,
    `transaction on chain ${tx.chainId} to ${shortAddr(tx.to)} is within the evm limits`,
  );
}

function typedData(
  cfg: EvmConfig,
  rules: ReturnType<typeof compileRules>,
  params: Record<string, unknown>,
): BlockVerdict {
  const td = params.typed_data as
    | {
        domain?: Record<string, unknown>;
        types?: Record<string, unknown>;
        primaryType?: string;
        message?: Record<string, unknown>;
      }
    | undefined;
  const chainId = params.chain_id as number;
  if (!td?.domain || !td.types || !td.primaryType || !td.message)
    return deny("evm", [reason("evm", "typed_data", "typed_data needs domain, types, primaryType and message")]);
  try {
    hashTypedData(td as unknown as TypedDataDefinition);
  } catch (e) {
    return deny("evm", [
      reason("evm", "typed_data", `typed_data is not valid EIP-712: ${(e as Error).message.split("\n")[0]}`),
    ]);
  }
  const out: Reason[] = [];
  const domainChain = td.domain.chainId;
  if (domainChain !== undefined && Number(domainChain) !== chainId)
    out.push(
      reason("evm", "chains", `typed data domain chainId ${String(domainChain)} differs from chain_id ${chainId}`),
    );
  chainCheck(cfg, chainId, out);
  const vc = typeof td.domain.verifyingContract === "string" ? td.domain.verifyingContract.toLowerCase() : undefined;
  if (vc) {
    if (cfg.contracts.deny.has(vc))
      out.push(reason("evm", "contracts", `verifyingContract ${shortAddr(vc)} is in contracts.deny`));
    else if (cfg.contracts.allow && !cfg.contracts.allow.has(vc))
      out.push(reason("evm", "contracts", `verifyingContract ${shortAddr(vc)} is not in contracts.allow`));
  } else if (cfg.contracts.allow) {
    // Fail closed: with an allowlist, typed data that names no contract cannot be shown to be allowed.
    out.push(reason("evm", "contracts", "typed data without a domain verifyingContract cannot match contracts.allow"));
  }
  // Permit-style messages: EIP-2612 Permit {spender, value}, Permit2 {spender, details.amount}.
  const msg = td.message;
  const spender = typeof msg.spender === "string" ? msg.spender.toLowerCase() : undefined;
  if (spender) {
    recipientCheck(cfg, spender, out);
    const details = msg.details as Record<string, unknown> | undefined;
    const raw = msg.value ?? msg.amount ?? details?.amount;
    if (raw !== undefined && /^\d+$/.test(String(raw))) {
      const token = vc
        ? (cfg.tokens.get(`${chainId}:${vc}`) ??
          (typeof details?.token === "string"
            ? cfg.tokens.get(`${chainId}:${details.token.toLowerCase()}`)
            : undefined))
        : undefined;
      amountChecks(cfg, token, { beneficiary: spender, kind: "approval", amount: BigInt(String(raw)) }, out);
    }
  }
  const r = rules({ operation: "signTypedData", chainId, ...(vc ? { address: vc } : {}) });
  return finish(
    [...out, ...r.deny],
    r.hold,
    `typed data ${td.primaryType} on chain ${chainId} is within the evm limits`,
  );
}
