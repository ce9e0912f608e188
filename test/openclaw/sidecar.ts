// A real sidecar for the OpenClaw plugin's tests: `bin/intent-sidecar.mjs start` from the sources, on port 0, with
// one agent token and one operator token and the policy below. It runs on this node when that node loads the
// installed better-sqlite3, else on INTENT_SIDECAR_TEST_NODE (.ci/run's Node 24 run swaps in a better-sqlite3 built
// for Node 24). The plugin under test talks to it over HTTP only, so which node runs it does not matter to the test.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, NODE, ROOT } from "../packages/built.ts";

const loadsSqlite = (node: string) =>
  spawnSync(node, ["-e", 'new (require("better-sqlite3"))(":memory:").close()'], { cwd: ROOT, timeout: 30_000 })
    .status === 0;
const SIDECAR_NODE = loadsSqlite(process.execPath) ? process.execPath : NODE;

export const AGENT = "oc-bot";
export const AGENT_TOKEN = "agent-token-for-openclaw-tests";
export const OPERATOR_TOKEN = "operator-token-for-openclaw-tests";

// Tool names as the plugin declares them: `openclaw.<OpenClaw tool name>`.
export const POLICY = `version: 1
name: openclaw-plugin-test
tool_calls:
  allow: ["openclaw.*"]
  deny: ["openclaw.agents_list", "openclaw.exec", "openclaw.denied_tool"]
  hold: ["openclaw.session_status", "openclaw.held_tool"]
`;

export interface TestSidecar {
  url: string;
  operatorUrl: string;
  stop(): Promise<void>;
  /** Approves (or denies) a hold through the operator API. */
  resolve(holdId: string, how: "approve" | "deny"): Promise<void>;
  /** The operator's view of the newest holds. */
  holds(): Promise<any[]>;
}

export async function startSidecar(timeoutMs = 60_000): Promise<TestSidecar> {
  const dir = mkdtempSync(join(tmpdir(), "intent-sidecar-openclaw-"));
  writeFileSync(join(dir, "policy.yaml"), POLICY);
  const child: ChildProcess = spawn(
    SIDECAR_NODE,
    [
      BIN,
      "start",
      "--policy",
      join(dir, "policy.yaml"),
      "--data-dir",
      join(dir, "data"),
      "--agent-addr",
      "127.0.0.1:0",
      "--proxy-addr",
      "127.0.0.1:0",
      "--operator-addr",
      "127.0.0.1:0",
    ],
    {
      env: {
        ...process.env,
        INTENT_SIDECAR_SOURCE: "1",
        INTENT_SIDECAR_AGENT_TOKENS: `${AGENT}=${AGENT_TOKEN}`,
        INTENT_SIDECAR_OPERATOR_TOKENS: `alice=${OPERATOR_TOKEN}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const ready = await new Promise<{ agent_addr: string; operator_addr: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sidecar: no ready line after ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    child.stdout!.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.includes('"event":"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`sidecar exited before the ready line: ${err}`));
    });
  }).catch(async (e) => {
    child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const operatorUrl = `http://${ready.operator_addr}`;
  const op = { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" };
  return {
    url: `http://${ready.agent_addr}`,
    operatorUrl,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
    async resolve(holdId, how) {
      const res = await fetch(`${operatorUrl}/v1/holds/${encodeURIComponent(holdId)}/${how}`, {
        method: "POST",
        headers: op,
        body: JSON.stringify({ comment: `test ${how}` }),
      });
      if (res.status !== 200) throw new Error(`${how} ${holdId}: ${res.status} ${await res.text()}`);
    },
    async holds() {
      const res = await fetch(`${operatorUrl}/v1/holds?limit=20`, { headers: op });
      return ((await res.json()) as { holds: any[] }).holds;
    },
  };
}

/** The hold id a PENDING block reason names. */
export function holdIdOf(text: string | undefined): string {
  const m = /hold (hold_[0-9a-f-]+)/.exec(text ?? "");
  if (!m) throw new Error(`no hold id in: ${text}`);
  return m[1];
}
