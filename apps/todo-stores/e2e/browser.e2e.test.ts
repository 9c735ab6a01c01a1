/**
 * The todo page in headless Chromium, as users open it: two pages of one user add and complete
 * todos through the UI and each sees the other's change (the time it took is printed); a third
 * page, with another user's token, sees none of it.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { useChromium } from "../../../tools/e2e/chromium.js";
import { startTodoStores, token, type RunningServer } from "./app.js";

let server: RunningServer;
const browser = useChromium(
  async () => void (server = await startTodoStores({ FEATURE_SHARDING: "on" })),
  async () => server?.stop(),
);

async function open(userId: string): Promise<Page> {
  const page = await browser().newPage({ viewport: { width: 390, height: 800 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.base}/#token=${await token(userId)}`);
  await page.waitForSelector("body[data-synced=true]", { timeout: 15_000 }).catch((e) => {
    throw new Error(`${userId}'s page did not sync (${errors.join("; ")}): ${e.message}`);
  });
  return page;
}

/** Milliseconds from `act` on one page until `seen` holds on the other. */
async function timed(act: () => Promise<void>, other: Page, seen: string, arg: unknown): Promise<number> {
  const started = Date.now();
  await act();
  await other.waitForFunction(seen, arg, { timeout: 10_000, polling: 5 });
  return Date.now() - started;
}

const hasText = `(text) => [...document.querySelectorAll("#todos li span")].some((s) => s.textContent === text)`;
const isDone = `(text) => [...document.querySelectorAll("#todos li")].some((li) => li.querySelector("span").textContent === text && li.querySelector("input").checked)`;

describe("the todo page", () => {
  it("two pages of one user see each other's todos added and completed; another user's page sees none", async () => {
    const [a, b, other] = [await open("pat"), await open("pat"), await open("quinn")];
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const text = `todo ${i}`;
      times.push(
        await timed(async () => {
          await from.fill("#text", text);
          await from.click("#add button");
        }, to, hasText, text),
      );
      times.push(await timed(() => from.locator("#todos li", { hasText: text }).locator("input").check(), to, isDone, text));
    }
    times.sort((x, y) => x - y);
    const p50 = times[Math.floor(times.length / 2)]!;
    console.log(`page to page (add or complete, seen on the other page): p50 ${p50} ms, max ${times.at(-1)} ms over ${times.length} changes (target p50 ≤ 500 ms)`);
    expect(await a.locator("#todos li").count()).toBe(10);
    expect(await b.locator("#todos li input:checked").count()).toBe(10);
    expect(await other.locator("#todos li").count()).toBe(0);
    expect(await other.evaluate(() => JSON.stringify((window as unknown as { todoStore: { getTables(): unknown } }).todoStore.getTables()))).toBe("{}");
  });
});
