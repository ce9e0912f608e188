// Shared helpers for policy tests: temp policy directories and a decide() over evaluateBlocks + combineVerdicts.
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { combineVerdicts, evaluateBlocks, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { parseIntent, type Intent } from "../../protocol/index.ts";

export async function tempDir(): Promise<{
  dir: string;
  write(name: string, text: string): Promise<string>;
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), "policy-test-"));
  return {
    dir,
    async write(name, text) {
      const p = path.join(dir, name);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, text);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Validates the intent with the real protocol schema first, so tests only send what an agent could send. */
export function intent(body: {
  action: string;
  params: Record<string, unknown>;
  agent?: string;
  context?: Record<string, unknown>;
}): Intent {
  const r = parseIntent({
    agent: body.agent ?? "treasury-bot",
    action: body.action,
    params: body.params,
    ...(body.context ? { context: body.context } : {}),
  });
  if (!r.ok) throw new Error(`test intent is malformed: ${JSON.stringify(r.issues)}`);
  return r.intent;
}

export async function decide(policy: LoadedPolicy, i: Intent, now = new Date("2026-03-20T14:30:00Z")) {
  return combineVerdicts(await evaluateBlocks(policy, i, { now }));
}
