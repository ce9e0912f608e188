// The console's usage view shows budgets (headless Debian chromium via playwright-core, never a downloaded browser):
// each key's spend in the budget's current window, the meter, thresholds alerted, agents counted alone. A screenshot
// goes under os.tmpdir() for a person to look at.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { startTestDaemon, http, removeDir, tempDir } from "./helpers.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const OP = "usage-console-operator-token";
const AGENTS = { alice: "usage-console-alice", dave: "usage-console-dave" };

describe.skipIf(!CHROMIUM)("budgets in the console", { timeout: 180_000 }, () => {
  let dir: string;
  let d: Awaited<ReturnType<typeof startTestDaemon>>;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = tempDir("isc-usage-console-");
    writeFileSync(
      join(dir, "policy.yaml"),
      `actions:
  allow: ["llm.*"]
budgets:
  - id: team-daily
    scope: team
    per: 1000d
    limit: "20 USD"
    alert_at: [0.5, 1.0]
`,
    );
    d = await startTestDaemon({
      dataDir: join(dir, "data"),
      config: {
        policyFile: join(dir, "policy.yaml"),
        agentTokens: AGENTS,
        operatorTokens: { op: OP },
        principals: { alice: { tenant: "acme", team: "finance" } },
      },
    });
    for (const [agent, amount] of [["alice", "12.5"], ["dave", "1.25"]] as const) {
      const r = await http(`${d.url}/v1/intents`, { token: AGENTS[agent], body: { action: "llm.run", params: {}, cost: { amount, currency: "USD" } } });
      expect(r.body.decision).toBe("APPROVED");
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await d?.close();
    if (dir) removeDir(dir);
  });

  it("shows each key's spend against its budget", async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(60_000);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://${d.operatorAddr}/`);
    await page.fill("#token", OP);
    await page.click("#sign-in-form button[type=submit]");
    await page.waitForSelector("#holds-view:not([hidden])");
    await page.click('#views a[data-view="usage"]');
    const card = page.locator('article.budget[data-budget-id="team-daily"]');
    await card.waitFor();
    expect(await card.locator("p.muted").first().textContent()).toMatch(/^scope team · 1000d from .+ · limit 20 USD · beyond it: hold$/);
    const finance = card.locator('.stream[data-key="acme/finance"]');
    expect(await finance.locator(".used").textContent()).toBe("12.5 of 20 USD (63%) · 7.5 left · alerted at 50%");
    expect(await finance.locator("meter").getAttribute("value")).toBe("0.625");
    expect(await card.locator('.stream[data-key="dave"] strong').textContent()).toBe("agent dave (no team principal, counted alone)");
    await expect.poll(() => page.locator("#u-empty").isHidden()).toBe(true);
    const shot = join(mkdtempSync(join(tmpdir(), "usage-console-")), "budgets.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`budgets console screenshot (not committed): ${shot}`);
    expect(errors).toEqual([]);
  });
});
