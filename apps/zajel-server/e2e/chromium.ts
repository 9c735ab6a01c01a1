/** The headless browser of the end-to-end tests (shared with the other apps: tools/e2e/chromium.ts). */
export * from "../../../tools/e2e/chromium.js";
