// `evm`: hard limits on evm.transaction and evm.typed_data, judged against the intent's effects (effects/): chains,
// max_value, max_fee, contracts, recipients of every transfer and approval, token max_transfer, unlimited approvals
// and operator grants, EIP-7702 delegations, contract creation, anything not understood, then the CDP-style rules.
// Every check runs and every violation is reported, so the operator sees all reasons at once.
import type { BlockEvaluator, BlockVerdict } from "../verdict.ts";
import type { EvmConfig, TokenConfig } from "../config.ts";
import type { Reason } from "../../../protocol/index.ts";
import { formatEth, formatToken } from "../units.ts";
import {
  buildSelectorMap,
  intentEffects,
  decodeCall,
  type EvmEffect,
  type EvmEffects,
  type SelectorMap,
} from "../effects/index.ts";
import { compileRules, describe, type RuleSubject } from "./evm-rules.ts";
import { abstain, allow, deny, hold, reason, shortAddr } from "./verdicts.ts";

const ZERO = "0x0000000000000000000000000000000000000000";

/** The block's selector map: the standard ABIs and evm.abis. The ABIs of evmData criteria are not added: a rule that
 * names a function (to deny some calls of it) must not make every other call of it known. */
function selectorsOf(cfg: EvmConfig): SelectorMap {
  return buildSelectorMap(cfg.abis);
}

export function evmEvaluator(cfg: EvmConfig | undefined): BlockEvaluator {
  const selectors = cfg ? selectorsOf(cfg) : undefined;
  const rules = cfg ? compileRules(cfg.rules) : undefined;
  const typedDataAllowed = (primaryType: string, contract?: string) =>
    (cfg?.allowTypedData ?? []).some(
      (t) => t.primaryType === primaryType && (t.contract === undefined || t.contract === contract),
    );
  return (intent): BlockVerdict => {
    if (intent.action !== "evm" && !intent.action.startsWith("evm.")) return abstain("evm");
    if (!cfg)
      return deny("evm", [reason("evm", "missing", `the policy has no evm block, so ${intent.action} is denied`)]);
    if (intent.action !== "evm.transaction" && intent.action !== "evm.typed_data")
      return deny("evm", [
        reason("evm", "action", `${intent.action} is not an EVM kind the evm block knows (evm.transaction, evm.typed_data)`),
      ]);
    let fx: EvmEffects;
    try {
      fx = intentEffects(intent, { selectors: selectors!, denyUnknownCalldata: cfg.denyUnknownCalldata, typedDataAllowed });
    } catch (e) {
      const what = intent.action === "evm.transaction" ? "transaction" : "typed_data";
      return deny("evm", [reason("evm", what, `the ${what === "transaction" ? "transaction cannot be parsed" : "typed data cannot be read"}: ${(e as Error).message.split("\n")[0]}`)]);
    }
    return judge(cfg, selectors!, rules!, fx);
  };
}

/** Sums of the transfers (by token and recipient, and by token) and approvals (by token and spender, and by token)
 * of one intent, where there is more than one. */
function aggregates(effects: EvmEffect[]): EvmEffect[] {
  const sums = new Map<string, { e: EvmEffect; n: number }>();
  const add = (key: string, e: EvmEffect, amount: bigint) => {
    const cur = sums.get(key);
    if (!cur) sums.set(key, { e: { ...e, amount } as EvmEffect, n: 1 });
    else {
      (cur.e as { amount: bigint }).amount += amount;
      cur.n++;
    }
  };
  for (const e of effects) {
    if (e.kind === "transfer") {
      add(`t:${e.token}:${e.to}`, e, e.amount);
      add(`t:${e.token}`, e, e.amount);
    } else if (e.kind === "approval" && !e.operator) {
      add(`a:${e.token}:${e.spender}`, e, e.amount);
      add(`a:${e.token}`, e, e.amount);
    }
  }
  const out: EvmEffect[] = [];
  for (const [key, { e, n }] of sums) {
    if (n < 2) continue;
    const perToken = key.split(":").length === 2;
    const sum = { ...e, via: `${n} ${e.kind === "transfer" ? "transfers" : "approvals"} in one intent` } as EvmEffect;
    // A per-token total spans recipients: it names none, so recipient checks are left to the single effects.
    if (perToken && e.kind === "transfer") (sum as { to: string }).to = "";
    if (perToken && e.kind === "approval") (sum as { spender: string }).spender = "";
    if (e.kind === "approval") (sum as { unlimited: boolean }).unlimited = (sum as { amount: bigint }).amount >= 2n ** 255n || e.unlimited;
    out.push(sum);
  }
  return out;
}

function judge(
  cfg: EvmConfig,
  selectors: SelectorMap,
  rules: ReturnType<typeof compileRules>,
  fx: EvmEffects,
): BlockVerdict {
  const out: Reason[] = [];
  if (fx.domainChainId !== undefined && fx.domainChainId !== BigInt(fx.chainId))
    out.push(reason("evm", "chains", `typed data domain chainId ${fx.domainChainId} differs from chain_id ${fx.chainId}`));
  if (cfg.chains && !cfg.chains.has(fx.chainId))
    out.push(reason("evm", "chains", `chain ${fx.chainId} is not in evm.chains (${[...cfg.chains].join(", ")})`));
  if (cfg.maxValue !== undefined && fx.value > cfg.maxValue)
    out.push(reason("evm", "max_value", `value ${formatEth(fx.value)} exceeds max_value ${formatEth(cfg.maxValue)}`));
  calledContract(cfg, fx, out);
  for (const e of fx.effects) effectChecks(cfg, fx, e, out);

  const subjects: RuleSubject[] = [];
  const args = fx.data ? decodeCall(selectors, fx.data)?.args : fx.message;
  const subject = (e: EvmEffect, aggregate: boolean): RuleSubject => {
    const token = "token" in e ? e.token : undefined;
    const listed = token !== undefined ? cfg.tokens.get(`${fx.chainId}:${token}`) : undefined;
    return {
      operation: fx.operation,
      chainId: fx.chainId,
      addresses: [...new Set([fx.target, token].filter((a): a is string => a !== undefined))],
      ...(fx.operation === "transaction" ? { value: fx.value } : {}),
      effect: e,
      ...(fx.data ? { data: fx.data } : {}),
      ...(args ? { args } : {}),
      ...(listed ? { token: listed } : {}),
      ...(aggregate ? { aggregate } : {}),
    };
  };
  for (const e of fx.effects) if (e.kind !== "fee") subjects.push(subject(e, false));
  // A batch split into pieces moves the sum: each (token, recipient or spender) total is judged by deny and hold
  // rules, and each token's total by max_transfer, as one transfer of that size would be.
  for (const e of aggregates(fx.effects)) {
    subjects.push(subject(e, true));
    if (e.kind === "transfer" || e.kind === "approval") effectChecks(cfg, fx, { ...e, via: e.via }, out, true);
  }
  const r = rules(subjects);
  const denies = [...out, ...r.deny];
  if (denies.length) return deny("evm", denies);
  if (r.hold.length) return hold("evm", r.hold);
  const what =
    fx.operation === "transaction"
      ? `transaction on chain ${fx.chainId}${fx.target ? ` to ${shortAddr(fx.target)}` : ""}`
      : `typed data on chain ${fx.chainId}`;
  return allow("evm", [reason("evm", "allow", `${what} is within the evm limits`)]);
}

/** contracts.deny for the called address (or verifyingContract); contracts.allow when it is called with data or
 * signed for. */
function calledContract(cfg: EvmConfig, fx: EvmEffects, out: Reason[]) {
  const t = fx.target;
  const noun = fx.operation === "transaction" ? "contract" : "verifyingContract";
  if (t === undefined) {
    // Typed data without a verifyingContract cannot be shown to be allowed.
    if (fx.operation === "signTypedData" && cfg.contracts.allow)
      out.push(reason("evm", "contracts", "typed data without a domain verifyingContract cannot match contracts.allow"));
    return;
  }
  if (cfg.contracts.deny.has(t)) out.push(reason("evm", "contracts", `${noun} ${shortAddr(t)} is in contracts.deny`));
  else if (cfg.contracts.allow && !cfg.contracts.allow.has(t) && (fx.operation === "signTypedData" || (fx.data?.length ?? 0) > 2))
    out.push(reason("evm", "contracts", `${noun} ${shortAddr(t)} is not in contracts.allow`));
}

function recipient(cfg: EvmConfig, who: string, role: string, out: Reason[]) {
  if (cfg.recipients.deny.has(who))
    out.push(reason("evm", "recipients", `${role} ${shortAddr(who)} is in recipients.deny`));
  else if (cfg.recipients.allow && !cfg.recipients.allow.has(who))
    out.push(reason("evm", "recipients", `${role} ${shortAddr(who)} is not in recipients.allow`));
}

function tokenOf(cfg: EvmConfig, fx: EvmEffects, token: string): TokenConfig | undefined {
  return cfg.tokens.get(`${fx.chainId}:${token}`);
}

function amountText(amount: bigint, t: TokenConfig | undefined, token: string): string {
  return t ? formatToken(amount, t.decimals, t.symbol) : `${amount} units of ${shortAddr(token)}`;
}

/** max_transfer of a listed token: "transfer of 6000 USDC exceeds max_transfer 5000 USDC", or for a batch's total
 * "transfers of 10000 USDC in total (2 transfers in one intent) exceed …". */
function maxTransfer(t: TokenConfig | undefined, amount: bigint, what: string, out: Reason[], total?: string) {
  if (t?.maxTransfer === undefined || amount <= t.maxTransfer) return;
  const suffix = total ? ` in total (${total})` : "";
  const verb = total ? "exceed" : "exceeds";
  out.push(
    reason(
      "evm",
      "max_transfer",
      `${what} of ${formatToken(amount, t.decimals, t.symbol)}${suffix} ${verb} max_transfer ${formatToken(t.maxTransfer, t.decimals, t.symbol)}`,
    ),
  );
}

/** "transfer" for a plain ERC-20 transfer, "transfer (eip3009.transferWithAuthorization)" for other mechanisms. */
const verb = (noun: string, via: string) => (via === "erc20.transfer" || via === "erc20.approve" ? noun : `${noun} (${via})`);

function effectChecks(cfg: EvmConfig, fx: EvmEffects, e: EvmEffect, out: Reason[], aggregate = false) {
  if (aggregate) {
    if (e.kind !== "transfer" && e.kind !== "approval") return;
    if (!(e.kind === "approval" && e.unlimited && cfg.denyUnlimitedApprovals))
      maxTransfer(tokenOf(cfg, fx, e.token), e.amount, e.kind === "transfer" ? "transfers" : "approvals", out, e.via);
    return;
  }
  switch (e.kind) {
    case "native":
      recipient(cfg, e.to, "recipient", out);
      return;
    case "transfer": {
      recipient(cfg, e.to, verb("recipient", e.via), out);
      if (e.token !== fx.target && cfg.contracts.deny.has(e.token))
        out.push(reason("evm", "contracts", `token ${shortAddr(e.token)} is in contracts.deny`));
      maxTransfer(tokenOf(cfg, fx, e.token), e.amount, verb("transfer", e.via), out);
      return;
    }
    case "approval": {
      recipient(cfg, e.spender, e.operator ? `operator (${e.via})` : verb("spender", e.via), out);
      if (e.token !== fx.target && cfg.contracts.deny.has(e.token))
        out.push(reason("evm", "contracts", `token ${shortAddr(e.token)} is in contracts.deny`));
      const t = tokenOf(cfg, fx, e.token);
      if (e.unlimited && cfg.denyUnlimitedApprovals) {
        out.push(
          reason(
            "evm",
            "unlimited_approval",
            e.operator
              ? `operator grant (${e.via}) of every ${t?.symbol ?? shortAddr(e.token)} asset to ${shortAddr(e.spender)} is denied by deny_unlimited_approvals`
              : `unlimited approval (${e.via}, ${amountText(e.amount, t, e.token)}) to ${shortAddr(e.spender)} is denied by deny_unlimited_approvals`,
          ),
        );
        return;
      }
      maxTransfer(t, e.amount, verb("approval", e.via), out);
      return;
    }
    case "nft_transfer":
      recipient(cfg, e.to, `recipient (${e.via})`, out);
      return;
    case "delegation":
      if (e.delegate !== ZERO && !cfg.delegations.has(e.delegate))
        out.push(
          reason(
            "evm",
            "delegations",
            `EIP-7702 delegation of the account to ${e.delegate}${e.chainId === 0 ? " on every chain" : ""} is denied; to allow it, list the delegate in evm.delegations.allow`,
          ),
        );
      return;
    case "create":
      if (!cfg.allowContractCreation)
        out.push(
          reason(
            "evm",
            "contracts",
            "contract creation (a transaction without `to`) is denied; set evm.allow_contract_creation: true to allow it",
          ),
        );
      return;
    case "fee":
      if (cfg.maxFee === undefined) return;
      if (e.ceiling === undefined) {
        if (cfg.maxFeeExplicit)
          out.push(
            reason(
              "evm",
              "max_fee",
              "the fee ceiling is unknown: declare params.gas and params.max_fee_per_gas (or gas_price) so it can be checked against evm.max_fee",
            ),
          );
      } else if (e.ceiling > cfg.maxFee)
        out.push(
          reason(
            "evm",
            "max_fee",
            `fee ceiling ${formatEth(e.ceiling)} (gas × max fee per gas) exceeds ${cfg.maxFeeExplicit ? "max_fee" : "max_value (the fee limit when max_fee is not set)"} ${formatEth(cfg.maxFee)}`,
          ),
        );
      return;
    case "unknown":
      out.push(reason("evm", e.about === "calldata" ? "unknown_calldata" : e.about === "typed_data" ? "unknown_typed_data" : "amount", e.message));
      return;
    case "call":
      // A function only evm.abis decodes could do anything (execute(target, value, data)): its effects are unknown,
      // so it is allowed only on contracts the policy lists, or when the operator turned unknown calldata off.
      if (e.via === "abis" && cfg.denyUnknownCalldata && !(e.contract !== undefined && cfg.contracts.allow?.has(e.contract)))
        out.push(
          reason(
            "evm",
            "unknown_calldata",
            `${e.function} on ${e.contract ?? "?"} is decoded by evm.abis but what it moves is not known; to allow calls to it, list ${e.contract ?? "the contract"} in evm.contracts.allow`,
          ),
        );
      return;
  }
}

export { describe };
