// The operator console end to end in headless Debian chromium (playwright-core, never a downloaded browser):
// sign in with an operator token, see a pending hold live, approve it with a comment, and the agent's long poll
// receives an attestation that verifies against the sidecar's JWKS.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { createLocalJWKSet, jwtVerify } from "jose";
import { startTestDaemon, http, removeDir } from "../sidecar/helpers.ts";
import { ATTESTATION_TYP } from "../../protocol/index.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const AGENT = "console-agent-token";
const OPS = { alice: "console-alice-token", bob: "console-bob-token" };

let d: Awaited<ReturnType<typeof startTestDaemon>>;
let browser: Browser | undefined;

if (!CHROMIUM) {
  console.warn("SKIPPING console browser test: no chromium binary at /usr/bin/chromium (apt-get install chromium; CI installs it)");
}

describe.skipIf(!CHROMIUM)("operator console in headless chromium", { timeout: 120_000 }, () => {
  beforeAll(async () => {
    d = await startTestDaemon({ config: { agentTokens: { "treasury-bot": AGENT }, operatorTokens: OPS } });
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await d?.close();
    if (d) removeDir(d.dataDir);
  });

  const disburse = (amount: number, ticket: string) =>
    http(`${d.url}/v1/intents`, {
      token: AGENT,
      body: { agent: "treasury-bot", action: "treasury.disburse", params: { amount_usd: amount, ticket }, context: {} },
    });

  // generous waits: CI runs every suite at once on two cores
  async function newPage(): Promise<Page> {
    const page = await browser!.newPage();
    page.setDefaultTimeout(60_000);
    return page;
  }

  async function signIn(page: Page, token: string) {
    await page.goto(`http://${d.operatorAddr}/`);
    await page.fill("#token", token);
    await page.click("#sign-in-form button[type=submit]");
  }

  it("refuses a token that is not an operator token", async () => {
    const page = await newPage();
    await signIn(page, AGENT);
    await page.waitForSelector("#sign-in-error:not([hidden])");
    expect(await page.textContent("#sign-in-error")).toContain("not an operator token");
    expect(await page.isHidden("#holds-view")).toBe(true);
    await page.close();
  });

  it("signs in, shows a new hold live, approves it with a comment; the agent's long poll gets a verifying attestation", async () => {
    const page = await newPage();
    await signIn(page, OPS.alice);
    await page.waitForSelector("#holds-view:not([hidden])");
    expect(await page.textContent("#operator-name")).toBe("alice");
    await page.waitForSelector("#live.on"); // the event stream is connected

    // created after sign-in: the card must arrive through live updates, without a reload
    const r = await disburse(60000, "T-77");
    expect(r.body.decision).toBe("PENDING");
    const holdId: string = r.body.hold.id;
    const poll = http(`${d.url}/v1/intents/${r.body.intent_id}?wait=60`, { token: AGENT });

    const card = page.locator(`article.hold[data-hold-id="${holdId}"]`);
    await card.waitFor();
    expect(await card.locator(".agent").textContent()).toBe("treasury-bot");
    expect(await card.locator(".reasons").textContent()).toContain("big-disbursement-review");
    expect(await card.locator(".approvals").textContent()).toContain("0 of 2");
    expect(await card.locator(".time-left").textContent()).toMatch(/^2[34]h \d+m$/);
    expect(await card.locator(".intent").textContent()).toContain('"amount_usd": 60000');

    await card.locator(".comment").fill("invoice 42 verified");
    await card.locator("button.approve").click();
    await page.locator(`article.hold[data-hold-id="${holdId}"] .approvals`, { hasText: "1 of 2: alice (“invoice 42 verified”)" }).waitFor();

    // the second operator approves in their own session
    const page2 = await newPage();
    await signIn(page2, OPS.bob);
    const card2 = page2.locator(`article.hold[data-hold-id="${holdId}"]`);
    await card2.waitFor();
    await card2.locator("button.approve").click();
    await card2.waitFor({ state: "detached" }); // it leaves the pending list

    const out = await poll;
    expect(out.status).toBe(200);
    expect(out.body.decision).toBe("APPROVED");
    const jwks = createLocalJWKSet((await http(`${d.url}/.well-known/jwks.json`)).body);
    const { payload } = await jwtVerify(out.body.attestation, jwks, { typ: ATTESTATION_TYP });
    expect(payload.jti).toBe(r.body.intent_id);
    expect(payload.approval).toMatchObject({ hold_id: holdId, approvers: ["alice", "bob"] });

    // alice's page drops it live as well
    await card.waitFor({ state: "detached" });
    await page.close();
    await page2.close();
  });

  it("filters by rule and state; denies with a comment; the agent reads DENIED", async () => {
    const r = await disburse(70000, "T-78");
    const page = await newPage();
    await signIn(page, OPS.bob);
    const card = page.locator(`article.hold[data-hold-id="${r.body.hold.id}"]`);
    await card.waitFor();
    await page.fill("#rule-filter", "no-such-rule");
    await page.press("#rule-filter", "Enter");
    await card.waitFor({ state: "detached" });
    await page.fill("#rule-filter", "big-disbursement-review");
    await page.press("#rule-filter", "Enter");
    await card.waitFor();
    await card.locator(".comment").fill("vendor not onboarded");
    await card.locator("button.deny").click();
    await card.waitFor({ state: "detached" });
    await page.selectOption("#state-filter", "denied");
    await card.waitFor();
    expect(await card.locator(".state").textContent()).toBe("denied");
    const out = await http(`${d.url}/v1/intents/${r.body.intent_id}`, { token: AGENT });
    expect(out.body.decision).toBe("DENIED");
    expect(JSON.stringify(out.body.reasons)).toContain("vendor not onboarded");
    await page.close();
  });
});
