// End to end in a real browser: headless Chromium opens the durable-shards dashboard that
// `npm start` serves at /_shards/, on a phone-sized screen, sees the keyspaces and shards, and
// runs a shard change and a rebalance from the page until their progress reaches done. A
// screenshot taken during the change goes to e2e/artifacts/ (not committed).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { useChromium } from "./chromium.js";
import { fillChunks, registerCodes } from "./fill.js";
import { startServer, type RunningServer } from "./server.js";

const TOKEN = `e2e-dashboard-${Date.now()}`;
const ARTIFACTS = join(import.meta.dirname, "artifacts");

let server: RunningServer;
const browser = useChromium(
  async () => void (server = await startServer({ ADMIN_TOKEN: TOKEN })),
  async () => server?.stop(),
);

/** The text of the change section once its phase is `phase`. */
async function changeReaches(page: Page, phase: string, timeout = 90_000): Promise<void> {
  await page.waitForSelector(`#change-phase[data-phase="${phase}"]`, { timeout });
}

describe("dashboard", () => {
  it("shows keyspaces and shards on a phone-sized screen, and runs a shard change and a rebalance to done", async () => {
    // Data worth copying (chunks) and load to balance (codes).
    await fillChunks(server.base, 160);
    await registerCodes(server.base, 40);

    const page = await browser().newPage({ viewport: { width: 390, height: 844 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    await page.goto(`${server.base}/_shards/#token=${TOKEN}`);
    await page.waitForSelector('nav button[data-ks="chunks"]');
    const names = await page.$$eval("nav button[data-ks]", (buttons) => buttons.map((b) => b.getAttribute("data-ks")));
    expect(names).toEqual(expect.arrayContaining(["chunks", "codes"]));
    // One column, nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    await page.click('nav button[data-ks="chunks"]');
    await page.waitForFunction(() => document.querySelector("#ks-title")?.textContent === "chunks");
    // Local state persists across runs: the shards are counted, not assumed.
    await page.waitForFunction(() => document.querySelectorAll("#shards tr").length > 1);
    const shardsBefore = await page.$$eval("#shards tr td:first-child", (cells) => cells.map((c) => c.textContent));
    expect(shardsBefore.length).toBeGreaterThanOrEqual(8);

    // A shard change, slowed by a copy rate so the page shows it running.
    await page.selectOption("#kind", "add-shards");
    await page.fill("#count", "1");
    await page.fill("#rate", "262144");
    await page.click("#plan-button");
    await page.waitForFunction(() => document.querySelector("#plan")?.textContent?.startsWith("plan:"));
    await page.click("#apply-button");
    await page.waitForFunction(() => document.querySelector("#plan")?.textContent?.startsWith("started"));
    await page.waitForSelector('#change-phase:not([data-phase="done"])');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-during-change.png"), fullPage: true });
    await changeReaches(page, "done");
    await page.waitForFunction((before) => document.querySelectorAll("#shards tr").length === before + 2, shardsBefore.length);

    // A rebalance by load of codes, planned, then applied.
    await page.click('nav button[data-ks="codes"]');
    await page.waitForFunction(() => document.querySelector("#ks-title")?.textContent === "codes");
    await page.selectOption("#kind", "rebalance");
    await page.selectOption("#by", "load");
    await page.fill("#rate", "");
    await page.click("#plan-button");
    await page.waitForFunction(() => /^(plan:|refused|nothing)/.test(document.querySelector("#plan")?.textContent ?? ""));
    expect(await page.textContent("#plan")).toMatch(/^plan: [1-9]\d* moves/);
    expect(await page.textContent("#plan")).toMatch(/heaviest\/mean [\d.]+ → [\d.]+ \(load\)/);
    await page.click("#apply-button");
    await page.waitForFunction(() => document.querySelector("#plan")?.textContent?.startsWith("started"));
    await changeReaches(page, "done");
    expect(await page.textContent("#live")).toMatch(/live/);
    expect(problems).toEqual([]);
    await page.close();
  }, 200_000);

  it("asks for a token, and says when it is refused", async () => {
    const page = await browser().newPage();
    await page.goto(`${server.base}/_shards/`);
    await page.waitForSelector("#login:not([hidden])");
    await page.fill("#token", "not-the-token");
    await page.click("#token-form button");
    await page.waitForFunction(() => document.querySelector("#login-error")?.textContent?.includes("refused"));
    expect(await page.isHidden("#app")).toBe(true);
    await page.close();
  }, 60_000);
});
