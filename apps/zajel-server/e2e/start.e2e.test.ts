// End to end: the README's start command serves GET /health over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
}, 100_000);
afterAll(() => server?.stop(), 20_000);

describe("npm start", () => {
  it("answers GET /health on 127.0.0.1 at $PORT and prints the bootstrap public key", async () => {
    const response = await fetch(`${server.base}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", service: "zajel-bootstrap" });
    expect(server.output()).toMatch(/Bootstrap public key \(base64, raw 32 bytes\): [A-Za-z0-9+/]{43}=/);
  });
});
