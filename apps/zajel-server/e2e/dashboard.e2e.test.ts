// End to end in a real browser: headless Chromium opens the durable-shards dashboard that
// `npm start` serves at /_shards/, on a phone-sized screen. It sees the keyspaces, the slot map,
// the heatmap, shards, hot keys and an alert; it runs a shard change to done, aborts another,
// and runs a rebalance to done, all from the page. A screenshot taken during the change goes to
// e2e/artifacts/ (not committed).
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

/** Resolves once the change section shows change `version` in `phase` (or, with `not`, in any other phase). */
async function changeIs(page: Page, version: number, phase: string, options: { not?: boolean; timeout?: number } = {}): Promise<void> {
  const selector = options.not ? `#change-phase[data-version="${version}"]:not([data-phase="${phase}"])` : `#change-phase[data-version="${version}"][data-phase="${phase}"]`;
  await page.waitForSelector(selector, { timeout: options.timeout ?? 90_000 });
}

/** Clicks Apply and returns the version of the change it started. */
async function apply(page: Page): Promise<number> {
  await page.click("#apply-button");
  await page.waitForFunction(() => /^(started|refused|nothing)/.test(document.querySelector("#plan")?.textContent ?? ""));
  const text = (await page.textContent("#plan")) ?? "";
  const version = /^started v(\d+):/.exec(text)?.[1];
  expect(version, text).toBeDefined();
  return Number(version);
}

async function select(page: Page, keyspace: string): Promise<void> {
  await page.click(`nav button[data-ks="${keyspace}"]`);
  await page.waitForFunction((name) => document.querySelector("#ks-title")?.textContent === name, keyspace);
}

/** Calls the admin API as the CLI would; throws (without an assertion, so a `finally` does not hide the test's own failure) unless it answers 200. */
async function admin(path: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(`${server.base}/_shards/api${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" } });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

describe("dashboard", () => {
  it("shows keyspaces, the slot map, heatmap, shards, hot keys and alerts on a phone-sized screen, and applies and aborts changes and a rebalance", async () => {
    // Data worth copying (chunks) and load to balance (codes).
    await fillChunks(server.base, 160);
    await registerCodes(server.base, 40);
    // Both are evaluated every second, so the heatmap's past fills; chunks is over a key-count
    // line, so an alert fires. Local state persists, so the settings are put back at the end.
    await admin("/keyspaces/codes/settings", { method: "PATCH", body: JSON.stringify({ observeIntervalMs: 1_000 }) });
    await admin("/keyspaces/chunks/settings", { method: "PATCH", body: JSON.stringify({ observeIntervalMs: 1_000, alerts: { maxKeys: 1 } }) });

    const page = await browser().newPage({ viewport: { width: 390, height: 844 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    try {
      await page.goto(`${server.base}/_shards/#token=${TOKEN}`);
      await page.waitForSelector('nav button[data-ks="chunks"]');
      const names = await page.$$eval("nav button[data-ks]", (buttons) => buttons.map((b) => b.getAttribute("data-ks")));
      expect(names).toEqual(expect.arrayContaining(["chunks", "codes"]));
      // One column, nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

      // codes: its slot map drawn in several colours, a heatmap with columns, hot keys; the alert.
      await select(page, "codes");
      await page.waitForFunction(() => Number((document.querySelector("#heat") as HTMLCanvasElement | null)?.dataset.columns ?? 0) >= 3, undefined, { timeout: 30_000 });
      const colours = await page.evaluate(() => {
        const canvas = document.querySelector("#strip") as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, 1).data;
        const seen = new Set<string>();
        for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3]! > 0) seen.add(`${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`);
        return seen.size;
      });
      expect(colours).toBeGreaterThanOrEqual(2);
      await page.waitForFunction(() => document.querySelectorAll("#hot tr").length > 1);
      expect(await page.textContent("#hot")).toMatch(/key\s*shard\s*slot/);
      await page.waitForFunction(() => /chunks\s+key_count/.test(document.querySelector("#alerts")?.textContent ?? ""), undefined, { timeout: 30_000 });
      expect(await page.textContent("#heat-legend")).toMatch(/the past \d+ (s|min) left to right/);

      await select(page, "chunks");
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
      const added = await apply(page);
      await changeIs(page, added, "done", { not: true });
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-during-change.png"), fullPage: true });
      await changeIs(page, added, "done");
      await page.waitForFunction((before) => document.querySelectorAll("#shards tr").length === before + 2, shardsBefore.length);

      // Another, slower still, aborted from the page: rolled back, the shards as they were.
      await page.fill("#rate", "65536");
      const aborted = await apply(page);
      await changeIs(page, aborted, "done", { not: true });
      await page.click("#abort-button");
      await page.waitForFunction(() => document.querySelector("#plan")?.textContent?.startsWith("rolled back:"));
      await changeIs(page, aborted, "rolled back");
      await page.waitForFunction((before) => document.querySelectorAll("#shards tr").length === before + 2, shardsBefore.length);

      // A rebalance by load of codes, planned, then applied, to done.
      await select(page, "codes");
      await page.selectOption("#kind", "rebalance");
      await page.selectOption("#by", "load");
      await page.fill("#rate", "");
      await page.click("#plan-button");
      await page.waitForFunction(() => /^(plan:|refused|nothing)/.test(document.querySelector("#plan")?.textContent ?? ""));
      expect(await page.textContent("#plan")).toMatch(/^plan: [1-9]\d* moves/);
      expect(await page.textContent("#plan")).toMatch(/heaviest\/mean [\d.]+ → [\d.]+ \(load\)/);
      const rebalanced = await apply(page);
      await changeIs(page, rebalanced, "done");
      await page.waitForFunction((version) => document.querySelector("#ks-summary")?.textContent?.startsWith(`map version ${version} `), rebalanced);
      expect(await page.textContent("#live")).toMatch(/live/);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
      await admin("/keyspaces/codes/settings", { method: "PATCH", body: JSON.stringify({ observeIntervalMs: null }) });
      await admin("/keyspaces/chunks/settings", { method: "PATCH", body: JSON.stringify({ observeIntervalMs: null, alerts: { maxKeys: null } }) });
    }
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
