/**
 * The browser of the end-to-end tests: the headless Chromium that `npm ci` installs inside the
 * `@sparticuz/chromium` package, so a fresh machine needs neither root nor a browser download.
 * `CHROMIUM_PATH` points the tests at another build (Debian's `/usr/bin/chromium`, say).
 */
import { mkdirSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import packaged from "@sparticuz/chromium";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

/** Flags for a headless browser on a machine without network access beyond loopback. */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

/** Path of the Chromium executable to drive, unpacked on first use. */
export async function chromiumExecutable(): Promise<string> {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) return chosen;
  // The package unpacks into os.tmpdir(); one folder per user keeps another user's copy (mode 700)
  // from being picked up.
  const previous = process.env.TMPDIR;
  const folder = join(tmpdir(), `e2e-chromium-${userInfo().uid}`);
  mkdirSync(folder, { recursive: true });
  process.env.TMPDIR = folder;
  try {
    return await packaged.executablePath();
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

/**
 * Launches the headless browser, or returns why it could not start. A test should throw that
 * failure itself: a throwing `beforeAll` would only mark its tests skipped, and no run may pass
 * without the browser.
 */
export async function launchChromium(): Promise<{ browser: Browser } | { failure: Error }> {
  try {
    return { browser: await chromium.launch({ executablePath: await chromiumExecutable(), args: CHROMIUM_ARGS }) };
  } catch (error) {
    return { failure: new Error(`Chromium did not start (it comes with npm ci, in @sparticuz/chromium): ${String(error)}`) };
  }
}

/**
 * For a test file that drives the browser: launches it before the file's tests, then runs `start`
 * (servers the tests need, started only once the browser is known to work), and closes it after,
 * then runs `stop`. The returned function gives the browser, or throws why it could not start.
 */
export function useChromium(start: () => Promise<void> = async () => {}, stop: () => Promise<void> = async () => {}): () => Browser {
  let browser: Browser | undefined;
  let failure: Error | undefined;
  beforeAll(async () => {
    const launched = await launchChromium();
    if ("failure" in launched) {
      failure = launched.failure;
      return;
    }
    browser = launched.browser;
    await start();
  }, 100_000);
  afterAll(async () => {
    await browser?.close();
    await stop();
  }, 30_000);
  return () => {
    if (failure) throw failure;
    if (!browser) throw new Error("the browser is not running (was useChromium called at the top of the file?)");
    return browser;
  };
}
