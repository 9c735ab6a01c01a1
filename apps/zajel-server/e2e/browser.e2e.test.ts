// End to end in a real browser: two Chromium pages (e2e/pages/pair.html) pair through the server
// over the browser's own WebSocket, as the web client does.
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { basename, join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { useChromium } from "./chromium.js";
import { startServer, type RunningServer } from "./server.js";
import { randomCode, randomKey, wsUrl } from "./ws-client.js";

const pagesDir = join(import.meta.dirname, "pages");

let server: RunningServer;
let pages: Server;
let pagesBase = "";

/** Serves the files of e2e/pages; the page's origin differs from the server's, as in production. */
async function servePages(): Promise<Server> {
  const http = createServer(async (request, response) => {
    const name = basename(new URL(request.url ?? "/", "http://localhost").pathname);
    try {
      const body = await readFile(join(pagesDir, name));
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", resolve);
  });
  return http;
}

// One after another, so a failure leaves every started piece assigned to be stopped.
const browser = useChromium(
  async () => {
    pages = await servePages();
    server = await startServer();
    pagesBase = `http://127.0.0.1:${(pages.address() as { port: number }).port}`;
  },
  async () => {
    await new Promise((resolve) => (pages ? pages.close(resolve) : resolve(undefined)));
    await server?.stop();
  },
);

interface PairPage {
  page: Page;
  /** Uncaught script errors, for failure messages. */
  jsErrors: string[];
}

/** Opens pair.html in its own browser context (a separate "device"). */
async function openPairPage(query: { code: string; key: string; target?: string }): Promise<PairPage> {
  const page = await (await browser().newContext()).newPage();
  const jsErrors: string[] = [];
  page.on("pageerror", (error) => jsErrors.push(error.message));
  const params = new URLSearchParams({ server: wsUrl(server.base), ...query });
  await page.goto(`${pagesBase}/pair.html?${params}`);
  return { page, jsErrors };
}

/** Waits until the page reaches `state`; on timeout, fails with what the page saw. */
async function reach({ page, jsErrors }: PairPage, state: string): Promise<void> {
  try {
    await page.waitForSelector(`body[data-state="${state}"]`, { timeout: 10_000 });
  } catch {
    const seen = await page.evaluate(() => ({
      state: document.body.dataset.state,
      log: document.getElementById("log")?.textContent,
      errors: document.getElementById("errors")?.textContent,
    }));
    throw new Error(`page never reached "${state}": ${JSON.stringify(seen)}; script errors: ${JSON.stringify(jsErrors)}\nserver output (tail):\n${server.output().slice(-3_000)}`);
  }
}

const textOf = async ({ page }: PairPage, selector: string) => (await page.locator(selector).textContent()) ?? "";

describe("pairing in Chromium", () => {
  it("two browser pages pair through the server and both receive pair_matched", async () => {
    const responder = { code: randomCode(), key: randomKey() };
    const requester = { code: randomCode(), key: randomKey() };

    // The target must hold its code before the request, or the server answers pair_error.
    const responderPage = await openPairPage(responder);
    await reach(responderPage, "registered");
    const requesterPage = await openPairPage({ ...requester, target: responder.code });
    await reach(requesterPage, "matched");
    await reach(responderPage, "matched");

    expect(JSON.parse(await textOf(requesterPage, "#matched"))).toEqual({ type: "pair_matched", peerCode: responder.code, peerPublicKey: responder.key, isInitiator: true });
    expect(JSON.parse(await textOf(responderPage, "#matched"))).toEqual({ type: "pair_matched", peerCode: requester.code, peerPublicKey: requester.key, isInitiator: false });
    expect((await textOf(requesterPage, "#log")).trim().split("\n")).toEqual(["server_info", "server_identity", "registered", "pair_matched"]);
    expect((await textOf(responderPage, "#log")).trim().split("\n")).toEqual(["server_info", "server_identity", "registered", "pair_incoming", "pair_matched"]);
    expect(await textOf(requesterPage, "#errors")).toBe("");
    expect(await textOf(responderPage, "#errors")).toBe("");
  });
});
