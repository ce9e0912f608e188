// A real sidecar for the gate tests: `intent-sidecar start` as a child process on port 0 with a test policy that
// approves the intents in intents.ts. Tokens come from it exactly as an agent would get them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Intent } from "../../protocol/index.ts";
import type { JwksDocument } from "../../executor-gate/index.ts";
import { auditRows, openDatabase } from "../../sidecar/store/index.ts";
import { spawnDaemon } from "../cli/daemon-process.ts";

/** How long a test waits for a sidecar child to print its ready line (the CI machine is small and busy). */
export const SIDECAR_START_MS = 120_000;

const POLICY = `version: 1
name: executor-gate-tests
actions:
  allow: ["evm.transaction", "evm.typed_data", "tool.call"]
evm:
  chains: [8453]
  max_value: "1 ether"
  recipients:
    allow: ["0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"]
  allow_typed_data: [{ primary_type: Payment }]
tool_calls:
  allow: ["slack.post_message"]
`;

/** Agent-listener bearer tokens by name. Agents declare intents; `executor` (an executor token) redeems and posts
 * receipts. */
export const TOKENS = {
  "treasury-bot": "tok-treasury",
  "ops-bot": "tok-ops",
  "web-bot": "tok-web",
  executor: "tok-executor",
};
const AGENTS = Object.entries(TOKENS).filter(([n]) => n !== "executor");

export interface TestSidecar {
  url: string;
  jwksUrl: string;
  dataDir: string;
  jwks(): Promise<JwksDocument>;
  /** Declares `intent` as its agent; resolves with the attestation of an APPROVED decision (throws otherwise). */
  attest(intent: Intent): Promise<{ token: string; intentId: string }>;
  /** The audit rows of this sidecar's data dir. */
  audit(): Promise<{ type: string; data: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

/** `sidecarId` sets `iss`; `executorAudience` the `aud` of non-HTTP attestations (e.g. the proxy's, to test refusal). */
export async function startSidecar(opts: { sidecarId?: string; executorAudience?: string } = {}): Promise<TestSidecar> {
  const dataDir = mkdtempSync(join(tmpdir(), "gate-sidecar-"));
  const policyFile = join(dataDir, "policy.yaml");
  writeFileSync(policyFile, POLICY);
  const configFile = join(dataDir, "config.yaml");
  const config = [
    ...(opts.sidecarId ? [`sidecar_id: ${opts.sidecarId}`] : []),
    ...(opts.executorAudience ? [`audiences: { executor: ${opts.executorAudience} }`] : []),
  ];
  writeFileSync(configFile, config.length ? config.join("\n") + "\n" : "{}\n");
  const daemon = await spawnDaemon(
    ["--config", configFile, "--policy", policyFile, "--data-dir", dataDir],
    {
      INTENT_SIDECAR_AGENT_TOKENS: AGENTS.map(([n, t]) => `${n}=${t}`).join(","),
      INTENT_SIDECAR_EXECUTOR_TOKENS: `executor=${TOKENS.executor}`,
      INTENT_SIDECAR_OPERATOR_TOKENS: "ops=tok-operator",
    },
    { readyTimeoutMs: SIDECAR_START_MS - 5000 },
  );
  const url = daemon.url;
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    dataDir,
    async jwks() {
      return (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as JwksDocument;
    },
    async attest(intent) {
      const res = await fetch(`${url}/v1/intents`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${TOKENS[intent.agent as keyof typeof TOKENS]}`,
        },
        body: JSON.stringify(intent),
      });
      const body = (await res.json()) as {
        decision?: string;
        attestation?: string;
        intent_id: string;
        reasons?: unknown;
      };
      if (body.decision !== "APPROVED" || !body.attestation)
        throw new Error(`sidecar did not approve: ${res.status} ${JSON.stringify(body)}`);
      return { token: body.attestation, intentId: body.intent_id };
    },
    async audit() {
      // Read-only, in-process (what `audit export` prints, without paying a CLI start-up per assertion).
      const db = openDatabase(dataDir, { readonly: true });
      try {
        return [...auditRows(db)].map((r) => ({ type: r.type, data: r.data }));
      } finally {
        db.close();
      }
    },
    async close() {
      const stopped = daemon.stop();
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 5000))]);
      if (daemon.child.exitCode === null) await daemon.stop("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
