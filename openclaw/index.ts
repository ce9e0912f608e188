// OpenClaw plugin (`before_tool_call`): every tool call an OpenClaw agent makes is declared to intent-sidecar as a
// `tool.call` intent (SPEC section 3) and runs only when the sidecar APPROVES it.
//   APPROVED  the call runs, with exactly the params the sidecar decided on (returned as the hook's `params`)
//   DENIED    blocked; the agent reads the reasons
//   PENDING   blocked with the hold id; once an operator approves the hold, the same call (same tool, same args, same
//             session) runs once. OpenClaw's own approval prompt is not used: it is capped at 10 minutes and answered
//             by the chat user, while a hold lasts up to 24 h and belongs to the sidecar's operators.
//   anything else (sidecar unreachable, slow, 401/400/503, a bad answer): blocked (fail closed)
// The default export is what `definePluginEntry` from openclaw/plugin-sdk/plugin-entry returns (no import of openclaw
// at run time: the host passes `api`); openclaw.plugin.json beside this file is the manifest OpenClaw validates.
import { createHash } from "node:crypto";
import { createClient, SidecarError, SidecarUnavailableError, type Decision, type Reason } from "@intent-sidecar/sdk";

export const PLUGIN_ID = "intent-sidecar";

/** The plugin's settings: `plugins.entries["intent-sidecar"].config` in openclaw.json (schema in openclaw.plugin.json). */
export interface OpenClawPluginConfig {
  /** Agent API base URL; default $INTENT_SIDECAR_URL, else http://127.0.0.1:7400. */
  url?: string;
  /** Name of the environment variable holding the agent token; default INTENT_SIDECAR_AGENT_TOKEN. */
  tokenEnv?: string;
  /** The intent's `agent`; default none (the token names the agent; dev mode needs it). */
  agent?: string;
  /** First segment of `params.tool` (`<server>.<tool name>`); default "openclaw". */
  server?: string;
  /** Static `context` fields sent with every intent (e.g. tenant, team). */
  context?: Record<string, unknown>;
  /** Deadline of one sidecar request in ms; default 5000 (OpenClaw gives the whole hook 15 s, then blocks). */
  timeoutMs?: number;
  /** How long a PENDING call waits for the operator inside the hook before it is blocked; default 0. */
  pendingWaitMs?: number;
}

// The parts of OpenClaw's plugin API this plugin uses (openclaw/plugin-sdk: PluginHookBeforeToolCallEvent,
// PluginHookToolContext, PluginHookBeforeToolCallResult, OpenClawPluginApi), written out so that the package needs
// no openclaw install to build or type-check.
export interface BeforeToolCallEvent {
  toolName: string;
  params: Record<string, unknown>;
  toolKind?: string;
  toolInputKind?: string;
  runId?: string;
  toolCallId?: string;
}
export interface ToolContext {
  agentId?: string;
  sessionKey?: string;
  sessionId?: string;
  runId?: string;
  toolName?: string;
  toolCallId?: string;
  channelId?: string;
  abortSignal?: AbortSignal;
}
export interface BeforeToolCallResult {
  params?: Record<string, unknown>;
  block?: boolean;
  blockReason?: string;
}
interface Logger {
  debug?: (msg: string) => void;
  info: (msg: string) => void;
  warn: (msg: string) => void;
  error: (msg: string) => void;
}
export interface PluginApi {
  pluginConfig?: Record<string, unknown>;
  logger?: Logger;
  on(
    hook: "before_tool_call",
    handler: (event: BeforeToolCallEvent, ctx: ToolContext) => Promise<BeforeToolCallResult>,
    opts?: { priority?: number; timeoutMs?: number },
  ): void;
}

export interface HandlerDeps {
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
  now?: () => number;
  logger?: Logger;
}

/** Runs after every other before_tool_call handler: when it approves, its `params` (what the sidecar saw) win. */
export const HOOK_PRIORITY = -1_000_000;
const TOOL_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const MAX_REMEMBERED_HOLDS = 1000;

interface HeldCall {
  intentId: string;
  holdId: string;
  expiresAt: string;
}

/** The `before_tool_call` handler for one configuration (exported for tests and for hosts that wire hooks by hand). */
export function createBeforeToolCallHandler(
  config: OpenClawPluginConfig = {},
  deps: HandlerDeps = {},
): (event: BeforeToolCallEvent, ctx: ToolContext) => Promise<BeforeToolCallResult> {
  const cfg = checkConfig(config);
  const env = deps.env ?? process.env;
  const baseUrl = (cfg.url ?? env.INTENT_SIDECAR_URL ?? "http://127.0.0.1:7400").replace(/\/+$/, "");
  const tokenEnv = cfg.tokenEnv ?? "INTENT_SIDECAR_AGENT_TOKEN";
  const server = cfg.server ?? "openclaw";
  const timeoutMs = cfg.timeoutMs ?? 5000;
  const pendingWaitMs = cfg.pendingWaitMs ?? 0;
  const doFetch = deps.fetch ?? fetch;
  const now = deps.now ?? Date.now;
  const log = deps.logger;
  // Calls held by the sidecar, by fingerprint (session, tool, args): a repeat asks about that intent instead of
  // declaring a new one. In memory: after a gateway restart a repeat declares anew (and gets a new hold).
  const held = new Map<string, HeldCall>();

  return async function beforeToolCall(event, ctx) {
    const tool = `${server}.${event.toolName}`;
    if (!TOOL_RE.test(tool)) {
      return block(
        `intent-sidecar blocked tool ${JSON.stringify(event.toolName)}: its name cannot be declared as a tool.call ` +
          `intent (params.tool must be server.tool of letters, digits, _ and -). The tool did not run.`,
      );
    }
    const params = event.params ?? {};
    const signal = ctx?.abortSignal;
    const token = env[tokenEnv];
    const sidecar = createClient({
      baseUrl,
      ...(token ? { token } : {}),
      ...(cfg.agent !== undefined ? { agent: cfg.agent } : {}),
      fetch: (input, init) => {
        const deadline = AbortSignal.timeout(timeoutMs + pendingWaitMs);
        return doFetch(input, { ...init, signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
      },
    });
    const session = ctx?.sessionKey ?? ctx?.sessionId ?? "";
    const key = fingerprint([cfg.agent ?? "", ctx?.agentId ?? "", session, tool, params]);

    try {
      const prior = held.get(key);
      if (prior) {
        const d = await sidecar.get(prior.intentId);
        const lapsed = d.decision === "APPROVED" && Date.parse(d.expires_at) <= now();
        if (d.decision !== "PENDING") held.delete(key);
        if (d.decision === "APPROVED" && !lapsed) {
          log?.info(`intent-sidecar: ${tool} APPROVED after hold ${prior.holdId} (intent ${d.intent_id})`);
          return { params };
        }
        if (d.decision === "PENDING") return block(pendingText(tool, d, true));
        if (d.decision === "DENIED") return block(deniedText(tool, d, `hold ${prior.holdId} was denied`));
        if (d.decision === "EXPIRED")
          return block(
            `intent-sidecar: hold ${prior.holdId} for ${tool} expired without approval (intent ${d.intent_id}). ` +
              `The tool did not run. Calling it again declares a new intent, which may be held again.`,
          );
        // an approval whose attestation has lapsed: declare anew below
      }

      const context: Record<string, unknown> = {
        ...(cfg.context ?? {}),
        openclaw: compact({
          agent_id: ctx?.agentId,
          session_key: ctx?.sessionKey,
          session_id: ctx?.sessionId,
          run_id: ctx?.runId ?? event.runId,
          tool_call_id: ctx?.toolCallId ?? event.toolCallId,
          tool_name: event.toolName,
          tool_kind: event.toolKind,
          channel_id: ctx?.channelId,
        }),
      };
      let d: Decision = await sidecar.declare({ action: "tool.call", params: { tool, args: params }, context });
      if (d.decision === "PENDING" && pendingWaitMs > 0) {
        try {
          d = await sidecar.waitFor(d.intent_id, { timeoutMs: pendingWaitMs, ...(signal ? { signal } : {}) });
        } catch (e) {
          if ((e as SidecarError)?.code !== "wait_timeout") throw e;
        }
      }
      switch (d.decision) {
        case "APPROVED":
          log?.debug?.(`intent-sidecar: ${tool} APPROVED (intent ${d.intent_id})`);
          return { params };
        case "DENIED":
          log?.info(`intent-sidecar: ${tool} DENIED (intent ${d.intent_id}): ${reasonsText(d.reasons)}`);
          return block(deniedText(tool, d));
        case "PENDING":
          remember(held, key, { intentId: d.intent_id, holdId: d.hold.id, expiresAt: d.hold.expires_at });
          log?.info(`intent-sidecar: ${tool} PENDING (hold ${d.hold.id}, intent ${d.intent_id})`);
          return block(pendingText(tool, d, false));
        default:
          return block(
            `intent-sidecar: ${tool} was not approved (${(d as { decision: string }).decision}, intent ` +
              `${(d as { intent_id: string }).intent_id}). The tool did not run.`,
          );
      }
    } catch (e) {
      const why =
        e instanceof SidecarUnavailableError || !(e instanceof SidecarError)
          ? `intent-sidecar at ${baseUrl} could not be reached or did not answer (${errText(e)})`
          : `intent-sidecar refused to decide (${e.code}${e.status ? ` ${e.status}` : ""}: ${e.message})`;
      log?.warn(`intent-sidecar: ${tool} blocked: ${why}`);
      return block(
        `${why}. Tool calls are blocked while the sidecar cannot decide (fail closed); ${tool} did not run.`,
      );
    }
  };
}

/** The plugin entry, as `definePluginEntry({ id, name, description, register })` builds it. */
const plugin = {
  id: PLUGIN_ID,
  name: "intent-sidecar",
  description: "Declares every tool call to intent-sidecar and blocks what it does not approve.",
  register(api: PluginApi): void {
    const handler = createBeforeToolCallHandler((api.pluginConfig ?? {}) as OpenClawPluginConfig, {
      ...(api.logger ? { logger: api.logger } : {}),
    });
    api.on("before_tool_call", handler, { priority: HOOK_PRIORITY });
  },
};
export default plugin;

function block(blockReason: string): BeforeToolCallResult {
  return { block: true, blockReason };
}

function reasonsText(reasons: readonly Reason[] | undefined): string {
  if (!reasons?.length) return "no reason given";
  return reasons.map((r) => `${r.block}/${r.rule}: ${r.message}`).join("; ");
}

function deniedText(tool: string, d: Decision, how?: string): string {
  return (
    `intent-sidecar DENIED ${tool}${how ? ` (${how})` : ""} (intent ${d.intent_id}): ${reasonsText(d.reasons)}. ` +
    `The tool did not run; do not retry it unchanged.`
  );
}

function pendingText(tool: string, d: Decision & { decision: "PENDING" }, again: boolean): string {
  const h = d.hold;
  return (
    `intent-sidecar ${again ? "is still holding" : "is holding"} ${tool} for human review: hold ${h.id} ` +
    `(intent ${d.intent_id}, ${h.approvals}/${h.approvals_required} approvals, expires ${h.expires_at}): ` +
    `${reasonsText(d.reasons)}. The tool did not run. An operator decides (intent-sidecar holds approve ${h.id}, ` +
    `or the console). To retry: once it is approved, call this tool again with exactly the same arguments and it ` +
    `runs once; until then a repeat only reports this hold.`
  );
}

function errText(e: unknown): string {
  const err = e as Error & { cause?: Error };
  const msg = err?.message ?? String(e);
  return err?.cause?.message && !msg.includes(err.cause.message) ? `${msg}: ${err.cause.message}` : msg;
}

function compact(o: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "string" && v !== "") out[k] = v;
  return out;
}

function remember(map: Map<string, HeldCall>, key: string, call: HeldCall): void {
  map.delete(key);
  map.set(key, call);
  while (map.size > MAX_REMEMBERED_HOLDS) map.delete(map.keys().next().value as string);
}

/** sha256 of the JSON of `v` with object keys sorted (equal args in another key order are the same call). */
function fingerprint(v: unknown): string {
  const canon = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(canon);
    if (x !== null && typeof x === "object") {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) out[k] = canon((x as Record<string, unknown>)[k]);
      return out;
    }
    return x;
  };
  return createHash("sha256")
    .update(JSON.stringify(canon(v)))
    .digest("hex");
}

const CONFIG_KEYS = new Set(["url", "tokenEnv", "agent", "server", "context", "timeoutMs", "pendingWaitMs"]);

/** The same rules as openclaw.plugin.json's configSchema, for hosts that do not validate (a bad setting throws). */
function checkConfig(c: OpenClawPluginConfig): OpenClawPluginConfig {
  if (c === null || typeof c !== "object" || Array.isArray(c))
    throw new TypeError("intent-sidecar: config must be an object");
  for (const k of Object.keys(c))
    if (!CONFIG_KEYS.has(k)) throw new TypeError(`intent-sidecar: unknown config key ${k}`);
  for (const k of ["url", "tokenEnv", "agent", "server"] as const)
    if (c[k] !== undefined && (typeof c[k] !== "string" || c[k] === ""))
      throw new TypeError(`intent-sidecar: config.${k} must be a non-empty string`);
  if (c.url !== undefined && !/^https?:\/\//.test(c.url))
    throw new TypeError("intent-sidecar: config.url must be http(s)");
  if (c.server !== undefined && !/^[A-Za-z0-9_-]+$/.test(c.server))
    throw new TypeError("intent-sidecar: config.server must be letters, digits, _ and -");
  for (const k of ["timeoutMs", "pendingWaitMs"] as const) {
    const v = c[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= (k === "timeoutMs" ? 1 : 0) && v <= 600_000))
      throw new TypeError(`intent-sidecar: config.${k} must be an integer number of ms up to 600000`);
  }
  if (c.context !== undefined && (c.context === null || typeof c.context !== "object" || Array.isArray(c.context)))
    throw new TypeError("intent-sidecar: config.context must be an object");
  return c;
}
