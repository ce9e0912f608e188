// Every actions / evm / tool_calls / custom rule of the reference policy, through real HTTP on the agent API,
// gives the decision its comment states, naming its block and rule.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, removeDir, startTestDaemon } from "./helpers.ts";
import {
  DEAD,
  STRANGER,
  VENDOR_A,
  VENDOR_B,
  disburse,
  nativeTransfer,
  toolCall,
  usdc,
  usdcApprove,
  usdcTransfer,
} from "./intents.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  d = await startTestDaemon(); // the bundled reference policy
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

async function decide(intent: unknown) {
  const r = await http(`${d.url}/v1/intents`, { body: intent });
  expect([200, 202]).toContain(r.status);
  return r.body as {
    decision: string;
    reasons: { block: string; rule: string; message: string }[];
    hold?: any;
    attestation?: string;
  };
}

function expectReason(
  body: { reasons: { block: string; rule: string; message: string }[] },
  block: string,
  rule: string | RegExp,
) {
  const hit = body.reasons.find(
    (r) => r.block === block && (typeof rule === "string" ? r.rule === rule : rule.test(r.rule)),
  );
  expect(hit, `expected a reason ${block}/${rule} in ${JSON.stringify(body.reasons)}`).toBeDefined();
  expect(hit!.message.length).toBeGreaterThan(10);
  return hit!;
}

describe("reference policy: allowed paths", () => {
  it("a 500 USDC transfer to vendor-a on Base is APPROVED with an attestation", async () => {
    const r = await decide(usdcTransfer(VENDOR_A, usdc(500n)));
    expect(r.decision).toBe("APPROVED");
    expect(r.attestation).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(r.reasons).toEqual([]);
  });
  it("a small native transfer to vendor-b on Base Sepolia is APPROVED", async () => {
    expect((await decide(nativeTransfer(VENDOR_B, "0.01", 84532))).decision).toBe("APPROVED");
  });
  it("allowed tools with allowed domains are APPROVED", async () => {
    expect(
      (await decide(toolCall("slack.post_message", { channel: "#ops", text: "see https://slack.com/archives/1" })))
        .decision,
    ).toBe("APPROVED");
    expect(
      (await decide(toolCall("github.create_issue", { repo: "acme/x", url: "https://api.github.com/repos/acme/x" })))
        .decision,
    ).toBe("APPROVED");
    expect((await decide(toolCall("web.fetch", { url: "https://docs.company.com/page" }))).decision).toBe("APPROVED");
  });
  it("a disbursement with a ticket under $50k and a report action are APPROVED", async () => {
    expect((await decide(disburse({ ticket: "FIN-1", amount_usd: "1200" }))).decision).toBe("APPROVED");
    expect((await decide({ agent: "reporter", action: "report.weekly", params: {} })).decision).toBe("APPROVED");
  });
});

describe("reference policy: actions", () => {
  it("actions.deny treasury.close_account → DENIED", async () => {
    const r = await decide({ agent: "treasury-bot", action: "treasury.close_account", params: {} });
    expect(r.decision).toBe("DENIED");
    expectReason(r, "actions", /deny/);
  });
  it("an action nothing allows → DENIED (default deny)", async () => {
    const r = await decide({ agent: "treasury-bot", action: "crm.delete_customer", params: {} });
    expect(r.decision).toBe("DENIED");
    expect(r.reasons.length).toBeGreaterThan(0);
  });
});

describe("reference policy: evm", () => {
  it("chains: a chain id outside [8453, 84532] → DENIED (rule chains)", async () => {
    const r = await decide(nativeTransfer(VENDOR_A, "0.01", 1));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", "chains");
  });
  it("max_value: 0.2 ETH → DENIED (rule max_value)", async () => {
    const r = await decide(nativeTransfer(VENDOR_A, "0.2"));
    expect(r.decision).toBe("DENIED");
    expect(expectReason(r, "evm", "max_value").message).toMatch(/0\.2 ETH.*0\.05 ETH/);
  });
  it("contracts.deny: a transaction to 0x…dEaD → DENIED (rule contracts)", async () => {
    const r = await decide(nativeTransfer(DEAD, "0.01"));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", /contracts/);
  });
  it("recipients.allow: a native transfer to an unlisted address → DENIED (rule recipients)", async () => {
    const r = await decide(nativeTransfer(STRANGER, "0.01"));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", /recipients/);
  });
  it("recipients.allow: a USDC transfer to an unlisted address (decoded) → DENIED (rule recipients)", async () => {
    const r = await decide(usdcTransfer(STRANGER, usdc(10n)));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", /recipients/);
  });
  it("tokens.USDC.max_transfer: 6000 USDC → DENIED (rule max_transfer)", async () => {
    const r = await decide(usdcTransfer(VENDOR_A, usdc(6000n)));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", "max_transfer");
  });
  it("deny_unlimited_approvals: approve(vendor-a, 2^256-1) → DENIED", async () => {
    const r = await decide(usdcApprove(VENDOR_A, 2n ** 256n - 1n));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", /unlimited/);
  });
  it("deny_unknown_calldata: calldata no ABI decodes → DENIED", async () => {
    const r = await decide(nativeTransfer(VENDOR_A, "0", 8453, "0xdeadbeef00000000"));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "evm", /unknown_calldata/);
  });
  it("rules usdc-over-1000-needs-review: 1500 USDC → PENDING with a hold", async () => {
    const res = await http(`${d.url}/v1/intents`, { body: usdcTransfer(VENDOR_A, usdc(1500n)) });
    expect(res.status).toBe(202);
    expect(res.body.decision).toBe("PENDING");
    expectReason(res.body, "evm", "usdc-over-1000-needs-review");
    expect(res.body.hold.id).toBeTruthy();
    expect(res.body.attestation).toBeUndefined();
  });
});

describe("reference policy: tool_calls", () => {
  it("deny shell.* → DENIED", async () => {
    const r = await decide(toolCall("shell.exec", { cmd: "ls" }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "tool_calls", "deny");
  });
  it("deny github.delete_* wins over allow github.* → DENIED", async () => {
    const r = await decide(toolCall("github.delete_repo", { repo: "acme/x" }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "tool_calls", "deny");
  });
  it("a tool outside allow → DENIED", async () => {
    const r = await decide(toolCall("notion.search", { q: "x" }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "tool_calls", /allow/);
  });
  it("hold payments.* → PENDING (rule hold)", async () => {
    const res = await http(`${d.url}/v1/intents`, { body: toolCall("payments.refund", { id: "r1" }) });
    expect(res.status).toBe(202);
    expect(res.body.decision).toBe("PENDING");
    expectReason(res.body, "tool_calls", "hold");
  });
  it("domains.allow: a URL outside the list anywhere in args → DENIED (rule domains)", async () => {
    const r = await decide(toolCall("web.fetch", { opts: { links: ["see https://evil.example.net/x"] } }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "tool_calls", "domains");
  });
  it("domains.deny: pastebin.com and *.ngrok.io → DENIED even when allow would match", async () => {
    const r1 = await decide(toolCall("web.fetch", { url: "https://pastebin.com/raw/1" }));
    expect(r1.decision).toBe("DENIED");
    expectReason(r1, "tool_calls", "domains");
    const r2 = await decide(toolCall("slack.post_message", { text: "https://abc.ngrok.io/hook" }));
    expect(r2.decision).toBe("DENIED");
    expectReason(r2, "tool_calls", "domains");
  });
  it("max_args_bytes: args over 65536 bytes → DENIED", async () => {
    const r = await decide(toolCall("slack.post_message", { text: "x".repeat(70_000) }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "tool_calls", "max_args_bytes");
  });
});

describe("reference policy: custom", () => {
  it("no-large-disbursement-without-ticket: a disbursement without a ticket → DENIED", async () => {
    const r = await decide(disburse({ amount_usd: "100" }));
    expect(r.decision).toBe("DENIED");
    expect(expectReason(r, "custom", "no-large-disbursement-without-ticket").message).toMatch(/ticket/);
    const empty = await decide(disburse({ amount_usd: "100", ticket: "" }));
    expect(empty.decision).toBe("DENIED");
  });
  it("big-disbursement-review: above $50k → PENDING needing two approvals", async () => {
    const res = await http(`${d.url}/v1/intents`, { body: disburse({ ticket: "FIN-9", amount_usd: "60000" }) });
    expect(res.status).toBe(202);
    expect(res.body.decision).toBe("PENDING");
    expectReason(res.body, "custom", "big-disbursement-review");
    expect(res.body.hold.approvals_required).toBe(2);
  });
  it("a CEL evaluation error denies (no amount_usd: no such key)", async () => {
    const r = await decide(disburse({ ticket: "FIN-1" }));
    expect(r.decision).toBe("DENIED");
    expectReason(r, "custom", "big-disbursement-review");
  });
});
