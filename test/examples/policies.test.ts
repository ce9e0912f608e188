// Every example policy loads, and each one decides the way its comments say.
import fs from "node:fs";
import path from "node:path";
import { encodeFunctionData, erc20Abi, parseEther } from "viem";
import { describe, expect, it } from "vitest";
import { parseIntent } from "../../protocol/index.ts";
import { combineVerdicts, evaluateBlocks, loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";

const ROOT = path.resolve(import.meta.dirname, "../../policy-examples");

/** Every policy file under policy-examples/: policy.yaml / policy.md in any folder. */
function policyFiles(dir = ROOT): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return policyFiles(p);
    return /^policy\.(ya?ml|md)$/u.test(e.name) ? [p] : [];
  });
}

const NOW = new Date("2026-03-20T14:30:00Z");

async function decide(policy: LoadedPolicy, body: Record<string, unknown>) {
  const parsed = parseIntent({ agent: "example-bot", ...body });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const { effect, reasons } = combineVerdicts(await evaluateBlocks(policy, parsed.intent, { now: NOW }));
  return { effect, rules: reasons.map((r) => `${r.block}/${r.rule}`) };
}

const usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const vendorA = "0x1111111111111111111111111111111111111111";
const transfer = (to: string, units: bigint) =>
  encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [to as `0x${string}`, units] });

describe("policy-examples", () => {
  const files = policyFiles();

  it("has the examples the docs promise", () => {
    const rel = files.map((f) => path.relative(ROOT, f)).sort();
    expect(rel).toEqual(
      expect.arrayContaining([
        "treasury-evm/policy.yaml",
        "devops-tools/policy.yaml",
        "support-pii/policy.yaml",
        "markdown/policy.md",
        "nemoclaw-classic/read-only/policy.yaml",
        "nemoclaw-classic/business-hours/policy.yaml",
        "nemoclaw-classic/per-binary/policy.yaml",
        "nemoclaw-classic/pii-guard/policy.yaml",
        "reference/policy.yaml",
      ]),
    );
  });

  it.each(files.map((f) => [path.relative(ROOT, f), f]))("%s loads", async (_name, file) => {
    const policy = await loadPolicy(file);
    expect(policy.digest).toMatch(/^sha256:[0-9a-f]{64}$/u);
  });

  it("treasury-evm: vendor payments allowed, big ones held, over the cap or off-list denied", async () => {
    const p = await loadPolicy(path.join(ROOT, "treasury-evm/policy.yaml"));
    const tx = (data: string, to = usdc, value = "0") => ({
      action: "evm.transaction",
      params: { chain_id: 8453, to, value, data },
    });
    expect(await decide(p, tx(transfer(vendorA, 100_000_000n)))).toMatchObject({ effect: "allow" });
    expect(await decide(p, tx(transfer(vendorA, 3_000_000_000n)))).toMatchObject({
      effect: "hold",
      rules: ["evm/usdc-review"],
    });
    const large = await decide(p, tx(transfer(vendorA, 12_000_000_000n)));
    expect(large.effect).toBe("hold");
    expect(large.rules).toContain("evm/usdc-large");
    expect(await decide(p, tx(transfer(vendorA, 30_000_000_000n)))).toMatchObject({ effect: "deny" });
    expect(await decide(p, tx(transfer("0x9999999999999999999999999999999999999999", 1n)))).toMatchObject({
      effect: "deny",
    });
    expect(
      await decide(p, {
        action: "evm.transaction",
        params: { chain_id: 8453, to: vendorA, value: parseEther("0.05").toString() },
      }),
    ).toMatchObject({ effect: "allow" });
    expect(
      await decide(p, {
        action: "evm.transaction",
        params: { chain_id: 8453, to: vendorA, value: parseEther("0.2").toString() },
      }),
    ).toMatchObject({ effect: "deny" });
    expect(
      await decide(p, { action: "evm.transaction", params: { chain_id: 1, to: vendorA, value: "1" } }),
    ).toMatchObject({ effect: "deny" });
    expect(await decide(p, { action: "treasury.report", params: {} })).toMatchObject({ effect: "allow" });
  });

  it("devops-tools: reads allowed, deploys held, shells denied", async () => {
    const p = await loadPolicy(path.join(ROOT, "devops-tools/policy.yaml"));
    const tool = (name: string, args: Record<string, unknown> = {}) => ({
      action: "tool.call",
      params: { tool: name, args },
    });
    expect(await decide(p, tool("github.get_repo", { repo: "acme/api" }))).toMatchObject({ effect: "allow" });
    expect(await decide(p, tool("k8s.rollout_restart", { deployment: "api", namespace: "staging" }))).toMatchObject({
      effect: "hold",
    });
    expect(await decide(p, tool("k8s.get_pods", { namespace: "prod-eu" }))).toMatchObject({
      effect: "hold",
      rules: ["custom/prod-namespace-needs-review"],
    });
    expect(await decide(p, tool("shell.exec", { cmd: "rm -rf /" }))).toMatchObject({ effect: "deny" });
    expect(await decide(p, tool("k8s.scale", { deployment: "api", replicas: 50 }))).toMatchObject({ effect: "deny" });
    expect(await decide(p, tool("github.create_pull_request", { force: true }))).toMatchObject({ effect: "deny" });
    expect(await decide(p, tool("github.get_file", { url: "https://pastebin.com/raw/x" }))).toMatchObject({
      effect: "deny",
    });
    expect(await decide(p, tool("unknown.tool"))).toMatchObject({ effect: "deny" });
  });

  it("support-pii: helpdesk tools allowed, exports and refunds denied, escalations need a ticket", async () => {
    const p = await loadPolicy(path.join(ROOT, "support-pii/policy.yaml"));
    expect(
      await decide(p, { action: "tool.call", params: { tool: "helpdesk.reply", args: { ticket: 42 } } }),
    ).toMatchObject({ effect: "allow" });
    expect(await decide(p, { action: "tool.call", params: { tool: "crm.export_contacts", args: {} } })).toMatchObject({
      effect: "deny",
    });
    expect(await decide(p, { action: "support.refund", params: { amount: "10" } })).toMatchObject({ effect: "deny" });
    expect(await decide(p, { action: "support.escalate", params: {} })).toMatchObject({
      effect: "deny",
      rules: ["custom/escalation-needs-ticket"],
    });
    expect(await decide(p, { action: "support.escalate", params: { ticket: "T-1" } })).toMatchObject({
      effect: "allow",
    });
  });

  it("markdown: merged YAML blocks decide like a YAML policy", async () => {
    const p = await loadPolicy(path.join(ROOT, "markdown/policy.md"));
    expect(p.config.name).toBe("research-assistant");
    expect(await decide(p, { action: "report.create", params: {} })).toMatchObject({ effect: "allow" });
    expect(await decide(p, { action: "report.publish", params: {} })).toMatchObject({ effect: "deny" });
    expect(await decide(p, { action: "tool.call", params: { tool: "slack.post_message", args: {} } })).toMatchObject({
      effect: "hold",
    });
    expect(
      await decide(p, { action: "tool.call", params: { tool: "web.fetch", args: { url: "https://arxiv.org/abs/1" } } }),
    ).toMatchObject({ effect: "allow" });
    expect(p.network).toBeDefined();
  });
});
