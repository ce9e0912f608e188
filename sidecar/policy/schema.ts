// The policy file's shape (SPEC section 5), validated with zod. Every field carries `meta` (description, unit,
// default) from which docs/policy-reference.md is generated, so the reference cannot drift from the code.
// Units are checked here (so a bad one is reported at its own line:col); cross-field checks and CEL live in compile.ts.
import { z } from "zod";
import { isAddress } from "viem";
import { globs, m, unitCheck } from "./schema-parts.ts";
import { parseAmount, parseDuration } from "./units.ts";
import { budgetsSchema, costsSchema } from "../limits/budgets-schema.ts";
import { actionRules, rateLimitsSchema, riskSchema, scopesSchema, toolRules } from "./schema-scopes.ts";
import { piiSchema } from "./pii/schema.ts";

export type { FieldMeta } from "./schema-parts.ts";


export const amount = unitCheck(parseAmount);
export const duration = unitCheck(parseDuration);


export const address = z
  .string({ error: 'must be an address string (quote it: "0x…")' })
  .refine((s) => /^0x[0-9a-fA-F]{40}$/.test(s), {
    error: (i) => `${JSON.stringify(i.input)} is not an address; use 0x followed by 40 hex digits`,
  })
  .refine((s) => !/[A-F]/.test(s.slice(2)) || !/[a-f]/.test(s.slice(2)) || isAddress(s, { strict: true }), {
    error: (i) =>
      `${JSON.stringify(i.input)} has a wrong EIP-55 checksum; fix the capitalization or write it in lower case`,
  });
const addressList = z.array(address, { error: "must be a list of addresses" });

/** A chain id (8453) or a known chain name ("base"). */
export const CHAIN_NAMES: Record<string, number> = {
  ethereum: 1,
  mainnet: 1,
  sepolia: 11155111,
  holesky: 17000,
  base: 8453,
  "base-sepolia": 84532,
  optimism: 10,
  "optimism-sepolia": 11155420,
  arbitrum: 42161,
  "arbitrum-sepolia": 421614,
  polygon: 137,
  "polygon-amoy": 80002,
  avalanche: 43114,
  bsc: 56,
  gnosis: 100,
  zksync: 324,
  linea: 59144,
  scroll: 534352,
};
export const chainRef = z
  .union([z.number().int().positive(), z.string()], {
    error: 'must be a chain id (e.g. 8453) or a chain name (e.g. "base")',
  })
  .superRefine((v, ctx) => {
    if (typeof v === "string" && !(v in CHAIN_NAMES)) {
      ctx.addIssue({
        code: "custom",
        message: `unknown chain name ${JSON.stringify(v)}; use a chain id or one of ${Object.keys(CHAIN_NAMES).join(", ")}`,
      });
    }
  });

const allowDeny = (what: string) =>
  z
    .object({
      allow: addressList.optional().meta(m(`If set, only these ${what} are allowed.`)),
      deny: addressList.optional().meta(m(`These ${what} are always denied.`)),
    })
    .strict();

const token = z
  .object({
    address: address.meta(m("Token contract address.")),
    chain: chainRef.meta(m("Chain id (or name) the token lives on.")),
    decimals: z.number().int().min(0).max(77).meta(m("Token decimals (USDC: 6).")),
    max_transfer: z
      .union([z.string(), z.number()])
      .optional()
      .meta(m("Largest amount in one transfer, approve or permit.", { unit: 'token units, e.g. "5000"' })),
  })
  .strict();

const inlineAbi = z.array(z.record(z.string(), z.unknown()), { error: "must be a JSON ABI (a list of fragments)" });

const numericOp = z.enum([">", ">=", "<", "<=", "==", "!="], {
  error: 'must be one of ">", ">=", "<", "<=", "==", "!="',
});
const setOp = z.enum(["in", "not in"], { error: 'must be "in" or "not in"' });

const criterion = z.discriminatedUnion(
  "type",
  [
    z
      .object({
        type: z.literal("ethValue"),
        operator: numericOp.meta(m("Comparison with the native value.")),
        ethValue: amount.optional().meta(m("Value to compare with.", { unit: "amount" })),
        value: amount.optional().meta(m("Alias of ethValue.", { unit: "amount" })),
      })
      .strict()
      .meta(m("Native value of the transaction.")),
    z
      .object({
        type: z.literal("evmAddress"),
        operator: setOp.meta(m("Whether the address must be in or not in the list.")),
        addresses: addressList.meta(
          m("Addresses compared with the transaction's `to` (typed data: verifyingContract)."),
        ),
      })
      .strict()
      .meta(m("The called address.")),
    z
      .object({
        type: z.literal("evmNetwork"),
        operator: setOp.meta(m("Whether the chain must be in or not in the list.")),
        networks: z.array(chainRef).meta(m("Chain ids or names.")),
      })
      .strict()
      .meta(m("The chain.")),
    z
      .object({
        type: z.literal("evmData"),
        abi: z
          .union([z.enum(["erc20", "erc721"]), inlineAbi], { error: 'must be "erc20", "erc721" or an inline JSON ABI' })
          .meta(m("ABI used to decode the calldata.")),
        function: z.string().min(1).meta(m("Function name the calldata must call.")),
        params: z
          .array(
            z
              .object({
                name: z.string().min(1).meta(m("Argument name in the ABI.")),
                operator: z
                  .enum([">", ">=", "<", "<=", "==", "!=", "in", "not in"], {
                    error: 'must be one of ">", ">=", "<", "<=", "==", "!=", "in", "not in"',
                  })
                  .meta(
                    m(
                      "Comparison of the decoded argument; integers compare as integers, addresses case-insensitively.",
                    ),
                  ),
                value: z
                  .union([z.string(), z.number(), z.boolean()])
                  .optional()
                  .meta(m("Value for comparison operators (integers as decimal strings).")),
                values: z
                  .array(z.union([z.string(), z.number()]))
                  .optional()
                  .meta(m("Values for in / not in.")),
              })
              .strict(),
          )
          .optional()
          .meta(m("Conditions on decoded arguments; all must hold.")),
      })
      .strict()
      .meta(m("Decoded calldata.")),
  ],
  { error: 'unknown criterion type; use "ethValue", "evmAddress", "evmNetwork" or "evmData"' },
);

const evmRule = z
  .object({
    id: z.string().min(1).meta(m("Rule id, shown in reasons and usable in holds.overrides.")),
    effect: z
      .enum(["deny", "hold", "allow"], { error: 'must be "deny", "hold" or "allow"' })
      .meta(m("What a match does. Precedence deny > hold > allow, whatever the order.")),
    operation: z
      .enum(["sendTransaction", "signTransaction", "signTypedData"], {
        error: 'must be "sendTransaction", "signTransaction" or "signTypedData"',
      })
      .optional()
      .meta(
        m(
          "Which intents the rule applies to: transactions (sendTransaction and signTransaction both match evm.transaction) or EIP-712 typed data.",
          { default: "all" },
        ),
      ),
    criteria: z
      .array(criterion)
      .min(1, "needs at least one criterion")
      .meta(m("All criteria must match for the rule to match.")),
    reason: z.string().optional().meta(m("Message shown when the rule matches.")),
  })
  .strict();

export const evmSchema = z
  .object({
    chains: z
      .array(chainRef)
      .optional()
      .meta(m("Allowed chains; any other chain is denied (rule `chains`).", { default: "any chain" })),
    max_value: amount
      .optional()
      .meta(m("Largest native value per transaction (rule `max_value`).", { unit: "amount", default: "no limit" })),
    contracts: allowDeny("`to` addresses")
      .optional()
      .meta(m("Allow/deny lists for the called address (rule `contracts`).")),
    recipients: allowDeny("decoded beneficiaries")
      .optional()
      .meta(
        m(
          "Allow/deny lists for the decoded beneficiary: native `to`, ERC-20 transfer/transferFrom `to`, approve/permit spender (rule `recipients`).",
        ),
      ),
    tokens: z
      .record(z.string().regex(/^[A-Za-z0-9._-]+$/, "token symbols are letters, digits, . _ -"), token)
      .optional()
      .meta(m("Known tokens by symbol; `max_transfer` limits transfers (rule `max_transfer`).")),
    deny_unlimited_approvals: z
      .boolean()
      .optional()
      .meta(
        m("Deny ERC-20 approve / EIP-2612 permit of at least 2^255 units (rule `unlimited_approval`).", {
          default: "true",
        }),
      ),
    deny_unknown_calldata: z
      .boolean()
      .optional()
      .meta(m("Deny calldata that no known ABI decodes (rule `unknown_calldata`).", { default: "true" })),
    abis: z
      .array(
        z.union([z.string(), inlineAbi], {
          error: "must be a path to a JSON ABI file, a human-readable signature or an inline ABI",
        }),
      )
      .optional()
      .meta(
        m(
          'Extra ABIs for decoding: JSON ABI files (relative to the policy file), inline JSON ABIs, or human-readable signatures like "function swap(address,uint256)".',
        ),
      ),
    rules: z.array(evmRule).optional().meta(m("CDP-style criteria rules.")),
    max_fee: amount
      .optional()
      .meta(
        m(
          "Largest fee ceiling per transaction, gas × maxFeePerGas (or gasPrice) plus blob gas (rule `max_fee`). When set, object-form transactions must declare `gas` and `max_fee_per_gas` or `gas_price`.",
          { unit: "amount", default: "max_value, checked when the fees are declared" },
        ),
      ),
    delegations: z
      .object({ allow: addressList.meta(m("Delegate contracts the account may delegate to.")) })
      .strict()
      .optional()
      .meta(m("EIP-7702 authorizations: any delegation to another address is denied (rule `delegations`).")),
    labels: z
      .record(
        z.string().regex(/^0x[0-9a-fA-F]{40}$/, "label keys are addresses: 0x followed by 40 hex digits"),
        z.string().min(1).max(64),
      )
      .optional()
      .meta(
        m(
          "Names for addresses, shown in hold summaries and the console (a trailing comment on an address-list entry, `- \"0x…\"  # vendor-a`, names it too).",
        ),
      ),
    allow_contract_creation: z
      .boolean()
      .optional()
      .meta(m("Allow transactions without `to` (rule `contracts`).", { default: "false" })),
    allow_typed_data: z
      .array(
        z
          .object({
            primary_type: z.string().min(1).meta(m("The EIP-712 primaryType.")),
            contract: address.optional().meta(m("The domain's verifyingContract; absent: any.")),
          })
          .strict(),
      )
      .optional()
      .meta(
        m(
          "Typed data the sidecar does not understand (not a permit, EIP-3009 or Permit2 message), allowed by primary type (rule `unknown_typed_data`).",
        ),
      ),
  })
  .strict();

const webhookUrl = z
  .string()
  .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), {
    error: (i) => `${JSON.stringify(i.input)} is not an http(s) URL; use e.g. "https://hooks.example.com/intents"`,
  });

const celString = z
  .string({ error: "must be a CEL expression string (quote it)" })
  .min(1, "is empty; write a CEL expression");

export const policySchema = z
  .object({
    version: z
      .literal(1, { error: "must be 1" })
      .optional()
      .meta(m("Policy format version.", { default: "1" })),
    name: z.string().optional().meta(m("A name for humans and logs.")),
    description: z.string().optional().meta(m("Free text.")),
    actions: z
      .object({
        allow: globs.optional().meta(m("Action globs allowed without a block of their own.")),
        deny: globs.optional().meta(m("Action globs always denied (any kind).")),
        rules: actionRules.optional(),
      })
      .strict()
      .optional()
      .meta(m("Named business actions.")),
    evm: evmSchema
      .optional()
      .meta(m("Hard limits on evm.transaction and evm.typed_data. Absent: those actions are denied.")),
    tool_calls: z
      .object({
        allow: globs.optional().meta(m("Tool globs allowed.")),
        deny: globs.optional().meta(m("Tool globs denied; deny wins (rule `deny`).")),
        hold: globs.optional().meta(m("Tool globs that need human review (PENDING, rule `hold`).")),
        domains: z
          .object({
            allow: globs
              .optional()
              .meta(m("If set, every URL host in args (and http.request urls) must match (rule `domains`).")),
            deny: globs.optional().meta(m("Hosts always denied, even if allow matched (rule `domains`).")),
          })
          .strict()
          .optional()
          .meta(m("Host globs applied to every URL found anywhere in a tool call's args and to http.request.")),
        max_args_bytes: z
          .number()
          .int()
          .positive()
          .optional()
          .meta(m("Largest JSON size of args (rule `max_args_bytes`).", { unit: "bytes", default: "no limit" })),
        rules: toolRules.optional(),
      })
      .strict()
      .optional()
      .meta(m("tool.call intents. Absent: tool calls are denied.")),
    custom: z
      .array(
        z
          .object({
            id: z.string().min(1).meta(m("Rule id.")),
            when: celString.optional().meta(m("CEL gate; the rule applies only when true.", { default: "true" })),
            deny: celString.optional().meta(m("CEL; true denies.")),
            hold: celString.optional().meta(m("CEL; true holds (PENDING).")),
            reason: z.string().min(1).meta(m("Message shown when the rule fires.")),
          })
          .strict(),
      )
      .optional()
      .meta(m("CEL rules over `intent`, `agent`, `now`. Exactly one of deny/hold per rule; evaluation errors deny.")),
    soft_limits: z
      .array(
        z
          .object({
            id: z.string().min(1).meta(m("Limit id.")),
            actions: globs.optional().meta(m("Action globs counted.", { default: "all actions" })),
            measure: celString.meta(
              m("`count`, or a CEL expression giving a number (e.g. `double(intent.params.amount_usd)`)."),
            ),
            scope: z
              .enum(["agent", "tenant", "team", "global"], { error: 'must be "agent", "tenant", "team" or "global"' })
              .meta(
                m(
                  "Whose total is limited. `tenant` / `team`: those of the agent's principal in the sidecar config, never the intent's context.",
                ),
              ),
            window: duration.meta(m("Rolling window.", { unit: "duration" })),
            max: z
              .number({ error: "must be a number" })
              .positive("must be positive")
              .meta(m("Largest total in the window; crossing it makes the intent PENDING.")),
          })
          .strict(),
      )
      .optional()
      .meta(m("Rolling-window limits that turn a decision into PENDING.")),
    rate_limits: rateLimitsSchema.optional(),
    risk: riskSchema.optional(),
    scopes: scopesSchema.optional(),
    pii: piiSchema
      .optional()
      .meta(m("PII and secrets in params: detectors, operator patterns and per-scope rules (deny, hold, redact, allow).")),
    network: z
      .object({
        package: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, "must be a dotted Rego package name")
          .optional()
          .meta(m("Rego package deciding.", { default: "nemoclaw.network" })),
        modules: z
          .array(z.string().min(1))
          .optional()
          .meta(m("Globs of .rego files relative to the policy file; *_test.rego excluded.")),
        data: z.array(z.string().min(1)).optional().meta(m("JSON/YAML files merged into `data`.")),
        bundle: z
          .string()
          .min(1)
          .optional()
          .meta(m("OPA bundle (.tar.gz or directory) whose .rego modules and data files are added.")),
        bundle_key: z
          .string()
          .min(1)
          .optional()
          .meta(m("PEM public key the bundle's .signatures.json must verify against.")),
        require_attestation: globs.optional().meta(m("Host globs whose requests must carry an attestation.")),
        allow_addresses: z
          .array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'must be a CIDR such as "10.0.0.0/8" or an address'))
          .optional()
          .meta(m("CIDRs the proxy may dial although loopback or private.")),
        resolve: z
          .record(z.string(), z.string().regex(/^[0-9a-fA-F:.]+$/, "must be an IP address"))
          .optional()
          .meta(m("host → address overrides.")),
      })
      .strict()
      .optional()
      .meta(m("Rego egress rules for the proxy and http.request intents. Absent: http.request is denied.")),
    costs: costsSchema.optional(),
    budgets: budgetsSchema.optional(),
    holds: z
      .object({
        ttl: duration.optional().meta(m("How long a hold waits for review.", { unit: "duration", default: "24h" })),
        approvals_required: z
          .number()
          .int()
          .min(1)
          .optional()
          .meta(m("Distinct operators needed to approve.", { default: "1" })),
        max_open_per_agent: z
          .number()
          .int()
          .min(1)
          .optional()
          .meta(
            m("Pending holds one agent may have at once; beyond it, intents that would be held are DENIED.", {
              default: "100",
            }),
          ),
        overrides: z
          .array(
            z
              .object({
                rule: z.string().min(1).meta(m("Id of the rule that raised the hold.")),
                approvals_required: z.number().int().min(1).optional().meta(m("Quorum for holds from this rule.")),
                ttl: duration.optional().meta(m("TTL for holds from this rule.", { unit: "duration" })),
              })
              .strict(),
          )
          .optional()
          .meta(m("Per-rule settings.")),
      })
      .strict()
      .optional()
      .meta(m("Human review of PENDING intents.")),
    notify: z
      .object({
        webhooks: z
          .array(
            z.union(
              [
                webhookUrl,
                z
                  .object({
                    url: webhookUrl.meta(m("Webhook URL (http or https).")),
                    events: z
                      .array(z.enum(["DENIED", "PENDING", "hold_resolved", "budget"]))
                      .optional()
                      .meta(m("Events to send (`budget`: budget threshold alerts).", { default: "all" })),
                  })
                  .strict(),
              ],
              { error: "must be an http(s) URL or {url, events}" },
            ),
          )
          .optional()
          .meta(
            m(
              "Webhooks receiving JSON events for DENIED, PENDING, hold resolutions and budget thresholds: a URL, or {url, events}.",
            ),
          ),
      })
      .strict()
      .optional()
      .meta(m("Webhook notifications.")),
  })
  .strict();

export type RawPolicy = z.infer<typeof policySchema>;
export type RawEvmRule = z.infer<typeof evmRule>;
export type RawCriterion = z.infer<typeof criterion>;
