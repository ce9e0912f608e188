// The intent an agent declares before acting (SPEC section 3): schema, parsing with path-named issues, and digest.
import { z } from "zod";
import { isAddress } from "viem";
import { jcsDigest } from "./jcs.ts";
import type { InputIssue } from "./errors.ts";

/** A decimal string of a non-negative integer (wei, token units). Amounts are never JSON numbers. */
const uintString = z
  .string({ error: "must be a decimal string (amounts are never JSON numbers)" })
  .regex(/^(0|[1-9][0-9]*)$/, "must be a non-negative integer as a decimal string, e.g. \"1000000000000000\"")
  .max(78, "is too large for a uint256");

/** An EVM address: 0x + 40 hex digits; mixed case must carry a valid EIP-55 checksum. */
const address = z
  .string({ error: "must be a 0x-prefixed 20-byte hex address" })
  .refine((s) => /^0x[0-9a-fA-F]{40}$/.test(s), "must be a 0x-prefixed 20-byte hex address")
  .refine((s) => !/^0x[0-9a-fA-F]{40}$/.test(s) || isAddress(s, { strict: true }), "has an invalid EIP-55 checksum");

const hexData = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, "must be 0x-prefixed hex bytes");
const chainId = z.number({ error: "must be a number" }).int("must be an integer").positive("must be positive").max(2 ** 53 - 1);
const jsonObject = z.record(z.string(), z.unknown());

export const evmTransactionObject = z
      .object({
        chain_id: chainId,
        to: address,
        value: uintString,
        from: address.optional(),
        data: hexData.optional(),
        nonce: z.number().int().nonnegative().optional(),
        gas: uintString.optional(),
        // Fee fields: declared so the fee ceiling (gas × max_fee_per_gas, or gas × gas_price) can be judged against
        // evm.max_fee and bound by the executor gate.
        max_fee_per_gas: uintString.optional(),
        max_priority_fee_per_gas: uintString.optional(),
        gas_price: uintString.optional(),
      })
      .strict();

/** The alternative form: an unsigned serialized transaction (parsed with viem by the evm block). */
export const evmSerializedTransaction = z
  .object({ chain_id: chainId.optional(), serialized: hexData, from: address.optional() })
  .strict();

export const evmTransactionParams = z.union([evmTransactionObject, evmSerializedTransaction]);

export const evmTypedDataParams = z
  .object({
    chain_id: chainId,
    from: address.optional(),
    typed_data: z
      .object({
        domain: jsonObject,
        types: z.record(z.string(), z.array(z.object({ name: z.string(), type: z.string() }).strict())),
        primaryType: z.string().min(1),
        message: jsonObject,
      })
      .strict(),
  })
  .strict();

export const toolCallParams = z
  .object({
    tool: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/, "must be `server.tool`, e.g. `slack.post_message`"),
    args: jsonObject,
  })
  .strict();

export const httpRequestParams = z
  .object({
    method: z.string().regex(/^[A-Z]+$/, "must be an upper-case HTTP method, e.g. \"GET\""),
    url: z
      .string()
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), "must be an absolute http(s) URL")
      // Credentials in the URL would be stored and signed with it (and the proxy refuses such URLs): send them in a
      // header, which is stored only as a digest.
      .refine(
        (u) => !URL.canParse(u) || (new URL(u).username === "" && new URL(u).password === ""),
        "must not carry credentials (user:password@); send them in a header such as Authorization",
      ),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
  })
  .strict();

/** Typed params by built-in action kind. Every other action has free-form params. */
const paramsSchemas: Record<string, z.ZodType> = {
  "evm.transaction": evmTransactionObject,
  "evm.typed_data": evmTypedDataParams,
  "tool.call": toolCallParams,
  "http.request": httpRequestParams,
};

/** What an intent costs, as the agent declares it: an exact decimal amount (a string, never a JSON number, so it
 * reads exactly: at most 9 integer digits and 6 decimals) in a currency or unit code. Budgets sum it per agent, team
 * and tenant; it is part of the digest, so the attestation binds it. */
export const intentCost = z
  .object({
    amount: z
      .string({ error: 'must be a decimal string, e.g. "0.42" (amounts are never JSON numbers)' })
      .regex(
        /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,6})?$/,
        'must be a non-negative decimal string with at most 9 integer digits and 6 decimals, e.g. "0.42"',
      ),
    currency: z
      .string({ error: 'must be a currency or unit code, e.g. "USD"' })
      .regex(/^[A-Z][A-Z0-9_]{1,15}$/, 'must be an upper-case currency or unit code of 2-16 characters, e.g. "USD"'),
  })
  .strict();

export type IntentCost = z.infer<typeof intentCost>;

export const intentEnvelope = z
  .object({
    agent: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, "must be 1-128 characters of letters, digits, . _ @ -"),
    action: z
      .string()
      .regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/, "must be a dotted lower-case name, e.g. \"treasury.disburse\"")
      .max(128),
    params: jsonObject,
    context: jsonObject.optional(),
    // no control characters: a key is an opaque printable token (and PostgreSQL text cannot hold NUL)
    idempotency_key: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters")
      .optional(),
    cost: intentCost.optional(),
  })
  .strict();

/** The params schema for an action kind, or undefined for free-form actions. `evm.transaction` picks its form by
 * whether `serialized` is present, so issues name the fields of the form the agent meant. */
export function paramsSchemaFor(action: string, params: unknown): z.ZodType | undefined {
  if (action === "evm.transaction" && params !== null && typeof params === "object" && "serialized" in params) {
    return evmSerializedTransaction;
  }
  return paramsSchemas[action];
}

export type EvmTransactionParams = z.infer<typeof evmTransactionParams>;
export type EvmTypedDataParams = z.infer<typeof evmTypedDataParams>;
export type ToolCallParams = z.infer<typeof toolCallParams>;
export type HttpRequestParams = z.infer<typeof httpRequestParams>;

/** A validated intent. `context` is always present (`{}` when the agent sent none). */
export interface Intent {
  agent: string;
  action: string;
  params: Record<string, unknown>;
  context: Record<string, unknown>;
  idempotency_key?: string;
  /** What the action costs (declared by the agent); bound by the digest when present. */
  cost?: IntentCost;
}

export type ParseResult = { ok: true; intent: Intent } | { ok: false; issues: InputIssue[] };

/** The value at `path` below `root`, or undefined when a step is missing. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const typeWords: Record<string, string> = {
  string: "must be a string",
  number: "must be a number",
  int: "must be an integer",
  boolean: "must be true or false",
  record: "must be an object",
  object: "must be an object",
  array: "must be an array",
};

/** The product's words for an issue: a missing field "is required", and zod's generic messages ("Invalid input:
 * expected string, received undefined", "Too big: …") rewritten; messages the schema chose are kept. */
function issueMessage(i: z.core.$ZodIssue, value: unknown): string {
  if (i.code === "unrecognized_keys") return `unknown field(s): ${i.keys.join(", ")}`;
  if (i.code === "invalid_type" && value === undefined) return "is required";
  if (!/^(Invalid input|Too big|Too small)\b/.test(i.message)) return i.message;
  if (i.code === "invalid_type") return typeWords[i.expected] ?? `must be of type ${i.expected}`;
  if (i.code === "too_big" || i.code === "too_small") {
    const n = String(i.code === "too_big" ? i.maximum : i.minimum);
    const bound = i.code === "too_big" ? "at most" : "at least";
    if (i.origin === "string") return i.code === "too_small" && n === "1" ? "must not be empty" : `must be ${bound} ${n} characters`;
    if (i.origin === "array") return `must have ${bound} ${n} items`;
    return `must be ${bound} ${n}`;
  }
  return i.message;
}

/** Issues with dotted paths (`params.to`); `root` is the value the paths start from (for "is required"). */
function toIssues(error: z.ZodError, root: unknown, prefix: string[] = []): InputIssue[] {
  return error.issues.map((i) => {
    const path = [...prefix, ...i.path.map(String)].join(".") || "(body)";
    return { path, message: issueMessage(i, valueAt(root, i.path)) };
  });
}

/** Validates a decoded JSON body as an intent, reporting every problem with its path. Changes nothing. */
export function parseIntent(body: unknown, opts: { agent?: string } = {}): ParseResult {
  const input = body !== null && typeof body === "object" && !Array.isArray(body) && opts.agent !== undefined
    ? { ...(body as object), agent: (body as { agent?: unknown }).agent ?? opts.agent }
    : body;
  const env = intentEnvelope.safeParse(input);
  if (!env.success) {
    const issues = toIssues(env.error, input);
    // Report typed-params problems too, so one round trip shows everything that is wrong.
    const b = input as { action?: unknown; params?: unknown } | null;
    const schema = b && typeof b === "object" && typeof b.action === "string" ? paramsSchemaFor(b.action, b.params) : undefined;
    if (schema) {
      const p = schema.safeParse(b!.params);
      if (!p.success) issues.push(...toIssues(p.error, b!.params, ["params"]).filter((i) => i.path !== "params"));
    }
    return { ok: false, issues };
  }
  const e = env.data;
  const schema = paramsSchemaFor(e.action, e.params);
  if (schema) {
    const p = schema.safeParse(e.params);
    if (!p.success) return { ok: false, issues: toIssues(p.error, e.params, ["params"]) };
  }
  const intent: Intent = { agent: e.agent, action: e.action, params: e.params, context: e.context ?? {} };
  if (e.idempotency_key !== undefined) intent.idempotency_key = e.idempotency_key;
  if (e.cost !== undefined) intent.cost = e.cost;
  return { ok: true, intent };
}

/** The part of an intent that is signed: SHA-256 over the JCS form of {agent, action, params, context}, plus `cost`
 * when the intent declares one (absent, the digest is what it always was). */
export function intentDigest(
  intent: Pick<Intent, "agent" | "action" | "params"> & { context?: Record<string, unknown>; cost?: IntentCost },
): string {
  const signed = { agent: intent.agent, action: intent.action, params: intent.params, context: intent.context ?? {} };
  return jcsDigest(intent.cost === undefined ? signed : { ...signed, cost: intent.cost });
}
