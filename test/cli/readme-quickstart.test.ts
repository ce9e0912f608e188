// README.md's quick start against the daemon as `npm start` runs it (no flags, no tokens configured, default data dir
// ./.intent-sidecar in the working directory; only the ports are free ones): the curl command and the SDK snippet,
// both reading the generated agent token, and an operator approving the snippet's hold with the generated token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { removeDir, tempDir } from "../sidecar/helpers.ts";
import { spawnDaemon, type RunningDaemon } from "./daemon-process.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

function block(lang: string, containing: string): string {
  const re = new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g");
  for (const m of README.matchAll(re)) if (m[1]!.includes(containing)) return m[1]!;
  throw new Error(`README.md has no \`\`\`${lang} block with ${containing}`);
}

let cwd: string;
let d: RunningDaemon;
beforeAll(async () => {
  cwd = tempDir("isc-readme-");
  d = await spawnDaemon([], {}, { cwd, dev: false, readyTimeoutMs: 60_000 });
}, 70_000);
afterAll(async () => {
  await d?.stop();
  removeDir(cwd);
});

describe("README quick start", { timeout: 90_000 }, () => {
  it("npm start generates the tokens in ./.intent-sidecar and says where", () => {
    expect(d.ready.agent_token_file).toBe(join(cwd, ".intent-sidecar", "agent-token"));
    expect(d.stderr()).toContain(join(cwd, ".intent-sidecar", "operator-token"));
    expect(d.stderr()).toContain("/console/");
  });

  it("the curl example is APPROVED with the token file", async () => {
    const cmd = block("sh", "curl -s").replaceAll("http://127.0.0.1:7400", d.url);
    const out = await new Promise<string>((res, rej) =>
      execFile("bash", ["-c", cmd], { cwd, timeout: 30_000 }, (e, stdout, stderr) => (e ? rej(new Error(stderr || e.message)) : res(stdout))),
    );
    expect(JSON.parse(out).decision).toBe("APPROVED");
  });

  it("the SDK snippet works as written: PENDING, approved by the operator with the generated token, then APPROVED", async () => {
    // as written: only the port changes (the daemon runs on a free one). The snippet's imports resolve as they would
    // in the checkout: the working directory (which holds .intent-sidecar/) gets links to the repository's folders.
    const snippet = block("ts", "createClient").replaceAll("http://127.0.0.1:7400", d.url);
    for (const [, spec] of snippet.matchAll(/from "(\.\/[^"/]+)/g)) {
      const name = spec!.slice(2);
      if (!existsSync(join(cwd, name))) symlinkSync(join(ROOT, name), join(cwd, name));
    }
    if (!existsSync(join(cwd, "node_modules"))) symlinkSync(join(ROOT, "node_modules"), join(cwd, "node_modules"));
    const file = join(cwd, "snippet.mts");
    writeFileSync(file, `${snippet}\nconsole.log(JSON.stringify(d));\n`);
    // the snippet runs with tsx, as the README says
    const tsx = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
    const child = spawn(process.execPath, ["--import", tsx, file], {
      cwd,
      env: { ...process.env, INTENT_SIDECAR_AGENT_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (err += c));
    const exited = new Promise<number | null>((r) => child.once("exit", r));

    const operatorToken = readFileSync(d.ready.operator_token_file!, "utf8").trim();
    const auth = { authorization: `Bearer ${operatorToken}` };
    let holdId: string | undefined;
    for (let i = 0; i < 300 && !holdId; i++) {
      const r = (await (await fetch(`${d.operatorUrl}/v1/holds?state=pending`, { headers: auth })).json()) as {
        holds: { id: string }[];
      };
      holdId = r.holds[0]?.id;
      if (!holdId) {
        if (child.exitCode !== null) throw new Error(`the snippet exited ${child.exitCode}: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(holdId).toBeDefined();
    const approve = await fetch(`${d.operatorUrl}/v1/holds/${holdId}/approve`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ comment: "README quick start" }),
    });
    expect(approve.status).toBe(200);
    expect(await exited, err).toBe(0);
    const decision = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(decision.decision).toBe("APPROVED");
    expect(decision.attestation).toMatch(/^ey/);
  });
});
