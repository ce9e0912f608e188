// The real daemon serves the activation socket when a declaration for its data dir is installed, answers
// NemoClaw's two calls, and removes the socket on SIGTERM.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activation, openshellPolicyHash, post, preparation } from "./nemoclaw-client.ts";
import { privateTmp, privateTmpAvailable } from "./private-tmp.ts";
import { runCli } from "./run-cli.ts";
import { spawnDaemon, type RunningDaemon } from "../cli/daemon-process.ts";

let dir: string;
let daemon: RunningDaemon;
let socketPath: string;
let declared: { interceptor: unknown; middleware: unknown };

beforeAll(async () => {
  if (!privateTmpAvailable) return;
  dir = privateTmp("daemon-");
  const dataDir = path.join(dir, "data");
  const declaration = path.join(dir, "home", ".config", "nemoclaw", "external-component.json");
  const installed = await runCli(["nemoclaw", "install", "--declaration", declaration, "--data-dir", dataDir]);
  expect(installed.code, installed.stderr).toBe(0);
  declared = JSON.parse(installed.stdout).declaration;
  socketPath = (declared as unknown as { activationSocketPath: string }).activationSocketPath;
  daemon = await spawnDaemon(
    ["--data-dir", dataDir],
    { INTENT_SIDECAR_NEMOCLAW_DECLARATION: declaration },
    { readyTimeoutMs: 55_000 },
  );
}, 60_000);

afterAll(async () => {
  await daemon?.stop("SIGKILL");
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!privateTmpAvailable)("daemon with a NemoClaw declaration", () => {
  it("serves a 0600 activation socket and acknowledges prepare then activate", async () => {
    expect(daemon.ready.policy_digest).toMatch(/^sha256:[0-9a-f]{64}$/u);
    expect(fs.lstatSync(socketPath).mode & 0o777).toBe(0o600);
    // NemoClaw sends back the validated declaration's connection settings; a mismatch is rejected
    const stranger = await post(socketPath, "/v2/prepare", preparation("intent-sidecar"));
    expect(stranger.json.result).toBe("rejected");
    const prep = await post(
      socketPath,
      "/v2/prepare",
      preparation("intent-sidecar", { interceptor: declared.interceptor, middleware: declared.middleware }),
    );
    expect(prep.json.result).toBe("prepared");
    const act = activation("intent-sidecar");
    const res = await post(socketPath, "/v1/activate", act);
    expect(res.json).toStrictEqual({
      schemaVersion: 1,
      activationId: act.activationId,
      componentId: "intent-sidecar",
      sandboxId: "sandbox-123",
      policyHash: openshellPolicyHash,
      result: "activated",
    });
  });

  it("closes the socket and exits cleanly on SIGTERM", async () => {
    expect(await daemon.stop("SIGTERM")).toBe(0);
    expect(fs.existsSync(socketPath)).toBe(false);
  });
});
