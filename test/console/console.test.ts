// The operator console end to end in headless Debian chromium (playwright-core, never a downloaded browser), against
// a real daemon with its own policy: hold summaries (ERC-20 transfer, approve, typed-data permit, tool call), the
// confirmation dialog before approving (keyboard: Enter opens, focus in the dialog, Escape closes and returns focus),
// deny blocked without a reason (client and API), a quorum of two where the first operator is not offered a second
// approval, the decisions view's filters, an intent's timeline after approval, redemption and receipt, the usage
// chart, the policy status, and every view at phone width (390 px). Screenshots of each view are written under
// os.tmpdir() (printed at the end) for a person to look at; they are not committed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { createLocalJWKSet, jwtVerify } from "jose";
import { encodeFunctionData, erc20Abi } from "viem";
import { startTestDaemon, http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { ATTESTATION_TYP } from "../../protocol/index.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const AGENT = "console-agent-token";
const EXECUTOR = "console-executor-token";
const OPS = { alice: "console-alice-token", bob: "console-bob-token" };
const USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const VENDOR_A = "0x1111111111111111111111111111111111111111";
const VENDOR_B = "0x2222222222222222222222222222222222222222";

const POLICY = `
version: 1
name: console-test
actions:
  allow: ["treasury.disburse"]
evm:
  chains: [8453]
  max_value: "0.05 ether"
  recipients:
    allow:
      - "${VENDOR_A}"   # vendor-a
      - "${VENDOR_B}"   # vendor-b
  tokens:
    USDC: { address: "${USDC}", chain: 8453, decimals: 6, max_transfer: "5000" }
  deny_unlimited_approvals: true
  rules:
    - id: usdc-over-1000-needs-review
      effect: hold
      operation: sendTransaction
      criteria:
        - { type: evmData, abi: erc20, function: transfer, params: [{ name: amount, operator: ">", value: "1000000000" }] }
    - id: approvals-need-review
      effect: hold
      criteria:
        - { type: evmData, abi: erc20, function: approve }
tool_calls:
  allow: ["payments.*"]
  hold: ["payments.*"]
custom:
  - id: big-disbursement-review
    when: 'intent.action == "treasury.disburse"'
    hold: 'double(intent.params.amount_usd) > 50000.0'
    reason: "disbursements above $50k need human review"
soft_limits:
  - id: daily-disbursed-usd
    actions: ["treasury.disburse"]
    measure: 'double(intent.params.amount_usd)'
    scope: tenant
    window: 24h
    max: 200000
holds:
  ttl: 24h
  approvals_required: 1
  overrides:
    - { rule: big-disbursement-review, approvals_required: 2 }
`;

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let browser: Browser | undefined;
let policyDir: string;
const shotsDir = mkdtempSync(join(tmpdir(), "console-screenshots-"));
const shots: string[] = [];

if (!CHROMIUM) {
  console.warn("SKIPPING console browser test: no chromium binary at /usr/bin/chromium (apt-get install chromium; CI installs it)");
}

const declare = (action: string, params: Record<string, unknown>) =>
  http(`${d.url}/v1/intents`, { token: AGENT, body: { agent: "treasury-bot", action, params, context: {} } });
const transfer = (to: string, units: bigint) =>
  declare("evm.transaction", { chain_id: 8453, to: USDC, value: "0", data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [to as `0x${string}`, units] }) });
const approve = (spender: string, units: bigint) =>
  declare("evm.transaction", { chain_id: 8453, to: USDC, value: "0", data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [spender as `0x${string}`, units] }) });
const permit = (spender: string, value: string) =>
  declare("evm.typed_data", {
    chain_id: 8453,
    typed_data: {
      domain: { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: USDC },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: { owner: VENDOR_A, spender, value, nonce: "0", deadline: "1" },
    },
  });
const toolCall = (tool: string, args: Record<string, unknown>) => declare("tool.call", { tool, args });
const disburse = (amount: number, ticket: string) => declare("treasury.disburse", { amount_usd: amount, ticket });

describe.skipIf(!CHROMIUM)("operator console in headless chromium", { timeout: 180_000 }, () => {
  const ids: Record<string, { intent: string; hold: string }> = {};

  beforeAll(async () => {
    policyDir = tempDir("console-policy-");
    writeFileSync(join(policyDir, "policy.yaml"), POLICY);
    d = await startTestDaemon({
      config: {
        policyFile: join(policyDir, "policy.yaml"),
        agentTokens: { "treasury-bot": AGENT },
        executorTokens: { "pay-executor": EXECUTOR },
        operatorTokens: OPS,
        principals: { "treasury-bot": { tenant: "acme" } },
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    for (const [name, r] of Object.entries({
      transfer: await transfer(VENDOR_A, 2_000_000_000n),
      approve: await approve(VENDOR_B, 250_000_000n),
      permit: await permit(VENDOR_B, "1500000"),
      tool: await toolCall("payments.refund", { id: "r1", amount: 120 }),
    })) {
      expect(r.body.decision, name).toBe("PENDING");
      ids[name] = { intent: r.body.intent_id, hold: r.body.hold.id };
    }
  });
  afterAll(async () => {
    await browser?.close();
    await d?.close();
    if (d) removeDir(d.dataDir);
    if (policyDir) removeDir(policyDir);
    if (shots.length) console.log(`console screenshots (not committed):\n${shots.map((s) => `  ${s}`).join("\n")}`);
  });

  // generous waits: CI runs every suite at once on two cores
  async function newPage(width = 1280, height = 900): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width, height } });
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => console.error("console page error:", e.message));
    return page;
  }

  async function signIn(page: Page, token: string) {
    await page.goto(`http://${d.operatorAddr}/`);
    await page.fill("#token", token);
    await page.click("#sign-in-form button[type=submit]");
  }

  // full pages, except with the modal dialog open (its backdrop covers the viewport only)
  async function shot(page: Page, name: string) {
    const file = join(shotsDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: !(await page.locator("dialog#confirm[open]").count()) });
    shots.push(file);
  }

  const card = (page: Page, holdId: string) => page.locator(`article.hold[data-hold-id="${holdId}"]`);

  it("refuses a token that is not an operator token", async () => {
    const page = await newPage();
    await signIn(page, AGENT);
    await page.waitForSelector("#sign-in-error:not([hidden])");
    expect(await page.textContent("#sign-in-error")).toContain("not an operator token");
    expect(await page.isHidden("#holds-view")).toBe(true);
    await shot(page, "00-sign-in");
    await page.close();
  });

  it("summarizes each held action in words, with labels, token units and the rule; the raw intent one click away", async () => {
    const page = await newPage();
    await signIn(page, OPS.alice);
    await page.waitForSelector("#holds-view:not([hidden])");
    expect(await page.textContent("#operator-name")).toBe("alice");
    const expected: Record<string, [string, string]> = {
      transfer: ["Send 2,000 USDC to vendor-a (0x1111…1111) on Base", "evm/usdc-over-1000-needs-review"],
      approve: ["Approve vendor-b (0x2222…2222) to spend 250 USDC on Base", "evm/approvals-need-review"],
      permit: ["Sign: Approve vendor-b (0x2222…2222) to spend 1.5 USDC on Base", "evm/approvals-need-review"],
      tool: ["Call payments.refund with {id: r1, amount: 120}", "tool_calls/hold"],
    };
    for (const [name, [summary, rule]] of Object.entries(expected)) {
      const c = card(page, ids[name]!.hold);
      await c.waitFor();
      expect(await c.locator("h3.summary").textContent(), name).toBe(summary);
      expect(await c.locator(".reasons").textContent(), name).toContain(rule);
      expect(await c.locator(".agent").textContent()).toBe("treasury-bot");
      expect(await c.locator(".time-left").textContent()).toMatch(/^2[34]h \d+m$/);
      // the raw intent: closed, one click opens it
      expect(await c.locator("details.raw").evaluate((e) => (e as HTMLDetailsElement).open)).toBe(false);
      expect(await c.locator("pre.intent").isVisible()).toBe(false);
    }
    const t = card(page, ids.transfer!.hold);
    await t.locator("details.raw summary").click();
    expect(await t.locator("pre.intent").isVisible()).toBe(true);
    expect(await t.locator("pre.intent").textContent()).toContain('"action": "evm.transaction"');

    // search narrows the list on the summary text; sort by time left is the default
    await page.fill("#search", "vendor-b");
    await page.locator("#count", { hasText: "2 holds of 4" }).waitFor();
    await page.fill("#search", "");
    await page.locator("#count", { hasText: "4 holds" }).waitFor();
    await shot(page, "01-holds");
    await page.close();
  });

  it("approves only after a confirmation that repeats the summary; keyboard: Enter opens, Escape closes and returns focus", async () => {
    const page = await newPage();
    await signIn(page, OPS.alice);
    const c = card(page, ids.transfer!.hold);
    await c.waitFor();
    await c.locator("button.approve").focus();
    await page.keyboard.press("Enter");
    const dlg = page.locator("dialog#confirm");
    await dlg.waitFor({ state: "visible" });
    expect(await page.textContent("#confirm-summary")).toBe("Send 2,000 USDC to vendor-a (0x1111…1111) on Base");
    expect(await page.textContent("#confirm-quorum")).toContain("1 of 1");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("confirm-text");
    await shot(page, "02-confirm-approve");
    await page.keyboard.press("Escape");
    await dlg.waitFor({ state: "hidden" });
    expect(await page.evaluate(() => document.activeElement?.className)).toContain("approve");
    // nothing happened without the confirmation
    expect((await http(`http://${d.operatorAddr}/v1/holds/${ids.transfer!.hold}`, { token: OPS.alice })).body.state).toBe("pending");

    await c.locator("button.approve").click();
    await dlg.waitFor({ state: "visible" });
    await page.fill("#confirm-text", "invoice 42 matches");
    await page.click("#confirm-ok");
    await dlg.waitFor({ state: "hidden" });
    await c.waitFor({ state: "detached" }); // leaves the pending list
    expect(await page.textContent("#action-done")).toContain("Approved (1 of 1): Send 2,000 USDC");
    await page.close();
  });

  it("shows the intent's timeline after approval, redemption and receipt", async () => {
    const { intent } = ids.transfer!;
    const read = await http(`${d.url}/v1/intents/${intent}`, { token: AGENT });
    expect(read.body.decision).toBe("APPROVED");
    const redeemed = await http(`${d.url}/v1/attestations/${intent}/redeem`, { token: EXECUTOR, body: { attestation: read.body.attestation } });
    expect(redeemed.status).toBe(200);
    const receipt = await http(`${d.url}/v1/intents/${intent}/receipt`, {
      token: EXECUTOR,
      headers: { "x-intent-attestation": read.body.attestation },
      body: { outcome: "succeeded", tx_hash: `0x${"ab".repeat(32)}` },
    });
    expect(receipt.status).toBeLessThan(300);

    const page = await newPage();
    await signIn(page, OPS.bob);
    await page.waitForSelector("#holds-view:not([hidden])");
    await page.goto(`http://${d.operatorAddr}/console/#timeline/${intent}`);
    await page.waitForSelector("#timeline:not([hidden])");
    expect(await page.textContent("#t-summary")).toBe("Send 2,000 USDC to vendor-a (0x1111…1111) on Base");
    expect(await page.textContent("#t-decision")).toBe("APPROVED");
    const entries = await page.locator("#t-entries li .title").allTextContents();
    const expected = [
      /^Declared by treasury-bot: evm\.transaction$/,
      /^Decided: PENDING \(evm\/usdc-over-1000-needs-review\)$/,
      /^Held for review: 1 approval required$/,
      /^Approved by alice \(1 of 1\): invoice 42 matches$/,
      /^Quorum reached: APPROVED/,
      /^Attestation redeemed \(audience intent-executor, by pay-executor\)$/,
      /^Receipt: succeeded, tx 0xabab/,
    ];
    expect(entries.length).toBe(expected.length);
    entries.forEach((e, i) => expect(e).toMatch(expected[i]!));
    await shot(page, "03-timeline");
    await page.close();
  });

  it("blocks a denial without a reason (client and API), then denies with one", async () => {
    const api = await http(`http://${d.operatorAddr}/v1/holds/${ids.tool!.hold}/deny`, { token: OPS.bob, body: {} });
    expect(api.status).toBe(400);
    expect(api.body.error).toBe("reason_required");
    expect(api.body.message).toContain("needs a reason");
    expect((await http(`http://${d.operatorAddr}/v1/holds/${ids.tool!.hold}/deny`, { token: OPS.bob, body: { reason: "   " } })).status).toBe(400);

    const page = await newPage();
    await signIn(page, OPS.bob);
    const c = card(page, ids.tool!.hold);
    await c.locator("button.deny").click();
    await page.locator("dialog#confirm").waitFor({ state: "visible" });
    expect(await page.textContent("#confirm-summary")).toBe("Call payments.refund with {id: r1, amount: 120}");
    await page.click("#confirm-ok");
    await page.waitForSelector("#confirm-error:not([hidden])");
    expect(await page.textContent("#confirm-error")).toContain("A reason is required");
    expect(await page.locator("dialog#confirm").isVisible()).toBe(true);
    await shot(page, "04-deny-needs-reason");
    expect((await http(`http://${d.operatorAddr}/v1/holds/${ids.tool!.hold}`, { token: OPS.bob })).body.state).toBe("pending");
    await page.fill("#confirm-text", "refund already issued by hand");
    await page.click("#confirm-ok");
    await c.waitFor({ state: "detached" });
    const out = await http(`${d.url}/v1/intents/${ids.tool!.intent}`, { token: AGENT });
    expect(out.body.decision).toBe("DENIED");
    expect(JSON.stringify(out.body.reasons)).toContain("refund already issued by hand");
    await page.close();
  });

  it("quorum of two: shows progress with names and comments; the first operator is not offered a second approval", async () => {
    const page = await newPage();
    await signIn(page, OPS.alice);
    await page.waitForSelector("#live.on"); // the event stream is connected
    // created after sign-in: the card must arrive through live updates, without a reload
    const r = await disburse(60000, "T-77");
    expect(r.body.decision).toBe("PENDING");
    const holdId: string = r.body.hold.id;
    const poll = http(`${d.url}/v1/intents/${r.body.intent_id}?wait=60`, { token: AGENT });
    const c = card(page, holdId);
    await c.waitFor();
    expect(await c.locator("h3.summary").textContent()).toBe("treasury.disburse with {amount_usd: 60000, ticket: T-77}");
    expect(await c.locator(".approvals").textContent()).toBe("0 of 2");
    await c.locator("button.approve").click();
    expect(await page.textContent("#confirm-quorum")).toContain("1 of 2: 1 more operator must approve");
    await page.fill("#confirm-text", "invoice 42 verified");
    await page.click("#confirm-ok");
    await page.locator(`article.hold[data-hold-id="${holdId}"] .approvals`, { hasText: "1 of 2" }).waitFor();
    expect(await c.locator(".approvers").textContent()).toContain("alice (you): “invoice 42 verified”");
    expect(await c.locator("button.approve").count()).toBe(0); // no second Approve for alice
    expect(await c.locator(".you-approved").textContent()).toContain("Waiting for 1 more operator");
    expect(await c.locator("progress.quorum").evaluate((e) => (e as HTMLProgressElement).value)).toBe(1);
    // the API agrees: a second approval by alice is 409
    expect((await http(`http://${d.operatorAddr}/v1/holds/${holdId}/approve`, { token: OPS.alice, body: {} })).status).toBe(409);
    await shot(page, "05-quorum-first-approval");

    // the second operator approves in their own session
    const page2 = await newPage();
    await signIn(page2, OPS.bob);
    const c2 = card(page2, holdId);
    await c2.waitFor();
    expect(await c2.locator(".approvers").textContent()).toContain("alice: “invoice 42 verified”");
    await c2.locator("button.approve").click();
    expect(await page2.textContent("#confirm-quorum")).toContain("2 of 2: the agent receives its attestation");
    await page2.click("#confirm-ok");
    await c2.waitFor({ state: "detached" });

    const out = await poll;
    expect(out.status).toBe(200);
    expect(out.body.decision).toBe("APPROVED");
    const jwks = createLocalJWKSet((await http(`${d.url}/.well-known/jwks.json`)).body);
    const { payload } = await jwtVerify(out.body.attestation, jwks, { typ: ATTESTATION_TYP });
    expect(payload.approval).toMatchObject({ hold_id: holdId, approvers: ["alice", "bob"] });
    await c.waitFor({ state: "detached" }); // alice's page drops it live as well
    await page.close();
    await page2.close();
  });

  it("lists recent decisions of every outcome and filters them by agent, action, decision and rule", async () => {
    expect((await disburse(20000, "T-80")).body.decision).toBe("APPROVED");
    const page = await newPage();
    await signIn(page, OPS.alice);
    await page.waitForSelector("#holds-view:not([hidden])");
    await page.click('#views a[data-view="decisions"]');
    await page.waitForSelector("#decisions-view:not([hidden])");
    const rows = page.locator("#decisions tr");
    await page.locator("#d-count", { hasText: "6 decisions" }).waitFor();
    const outcomes = new Set(await page.locator("#decisions tr td[data-label=Decision]").allTextContents());
    expect([...outcomes].sort()).toEqual(["APPROVED", "DENIED", "PENDING"]);
    await shot(page, "06-decisions");

    await page.selectOption("#d-decision", "DENIED");
    await page.locator("#d-count", { hasText: "1 decision" }).waitFor();
    expect(await rows.first().getAttribute("data-intent-id")).toBe(ids.tool!.intent);
    await page.selectOption("#d-decision", "");
    await page.fill("#d-rule", "approvals-need-review");
    await page.click("#decisions-filters button[type=submit]");
    await page.locator("#d-count", { hasText: "2 decisions" }).waitFor();
    expect((await page.locator("#decisions tr td.what").allTextContents()).sort()).toEqual([
      "Approve vendor-b (0x2222…2222) to spend 250 USDC on Base",
      "Sign: Approve vendor-b (0x2222…2222) to spend 1.5 USDC on Base",
    ]);
    await page.fill("#d-rule", "");
    await page.fill("#d-action", "evm.*");
    await page.click("#decisions-filters button[type=submit]");
    await page.locator("#d-count", { hasText: "3 decisions" }).waitFor();
    await page.fill("#d-action", "");
    await page.fill("#d-agent", "nobody");
    await page.click("#decisions-filters button[type=submit]");
    await page.locator("#d-count", { hasText: "0 decisions" }).waitFor();
    expect(await page.isVisible("#d-empty")).toBe(true);
    await page.fill("#d-agent", "treasury-bot");
    await page.click("#decisions-filters button[type=submit]");
    await page.locator("#d-count", { hasText: "6 decisions" }).waitFor();
    // a row leads to the intent's timeline
    await page.locator(`#decisions tr[data-intent-id="${ids.tool!.intent}"] td.what a`).click();
    await page.waitForSelector("#timeline:not([hidden])");
    expect(await page.locator("#t-entries li .title").last().textContent()).toBe("Denied by bob: refund already issued by hand");
    await page.close();
  });

  it("charts soft-limit usage per tenant over the window, and shows the policy status", async () => {
    const page = await newPage();
    await signIn(page, OPS.alice);
    await page.waitForSelector("#holds-view:not([hidden])");
    await page.click('#views a[data-view="usage"]');
    const stream = page.locator('article.limit[data-limit-id="daily-disbursed-usd"] .stream[data-scope-key="tenant:acme"]');
    await stream.waitFor();
    // 60,000 approved after the hold + 20,000 approved at once
    expect(await stream.locator(".used").textContent()).toBe("80,000 of 200,000 (40%) · 120,000 left");
    expect(await stream.locator("svg.chart rect.bar").count()).toBe(24);
    expect(Number(await stream.locator("svg.chart rect.bar").last().getAttribute("height"))).toBeGreaterThan(10);
    expect(await stream.locator("svg.chart").getAttribute("aria-label")).toContain("80,000 reserved over the last 24h");
    await shot(page, "07-usage");

    await page.click('#views a[data-view="policy"]');
    await page.waitForSelector("#policy-view:not([hidden])");
    await page.locator("#p-digest", { hasText: "sha256:" }).waitFor();
    expect(await page.textContent("#p-status")).toBe("loaded");
    expect(await page.textContent("#p-file")).toContain("policy.yaml");
    await page.click("#p-reload");
    await page.locator("#p-reload-result", { hasText: "reloaded: sha256:" }).waitFor();
    await page.locator("#p-last", { hasText: "ok" }).waitFor();
    await shot(page, "08-policy");
    await page.close();
  });

  it("fits a phone (390 px wide) in every view", async () => {
    const r = await transfer(VENDOR_B, 3_000_000_000n);
    const page = await newPage(390, 844);
    await signIn(page, OPS.bob);
    await card(page, r.body.hold.id).waitFor();
    for (const view of ["holds", "decisions", "usage", "policy", `timeline/${ids.transfer!.intent}`]) {
      await page.goto(`http://${d.operatorAddr}/console/#${view}`);
      const name = view.split("/")[0]!;
      await page.waitForSelector(`#${name}-view:not([hidden])`);
      if (name === "holds") await card(page, r.body.hold.id).waitFor();
      if (name === "decisions") await page.locator("#d-count", { hasText: "decisions" }).waitFor();
      if (name === "usage") await page.locator("svg.chart").first().waitFor();
      if (name === "timeline") await page.waitForSelector("#timeline:not([hidden])");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${view} overflows horizontally`).toBeLessThanOrEqual(0);
      await shot(page, `09-phone-${name}`);
    }
    await page.goto(`http://${d.operatorAddr}/console/#holds`);
    await card(page, r.body.hold.id).locator("button.deny").click();
    await page.locator("dialog#confirm").waitFor({ state: "visible" });
    await shot(page, "09-phone-confirm");
    await page.close();
  });
});
