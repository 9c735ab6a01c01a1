// End to end: the relay VPS's own bootstrap client, as it talks to us. It sends no Authorization
// header and no replay fields, and announces a ws:// loopback endpoint; the README's open
// registration (`SERVER_REGISTRY_SECRET= npm start`) must take it. (The default start, with a
// generated secret, answers it 401: see bootstrap.e2e.test.ts and early-refusals.e2e.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";

let server: RunningServer;

beforeAll(async () => {
  // A fresh list on every read, so the deletion shows at once (the default keeps a snapshot a while).
  server = await startServer({ SERVER_REGISTRY_SECRET: "", LIST_SNAPSHOT_FRESH_MS: "0" });
}, 100_000);
afterAll(() => server?.stop(), 20_000);

const json = { "Content-Type": "application/json" };

describe("the relay server's bootstrap client against open registration", () => {
  it("registers without a token or replay fields, heartbeats, is listed, and deletes itself on shutdown", async () => {
    const base = server.base;
    const serverId = `ed25519:vps-${Date.now()}`;
    const registered = await fetch(`${base}/servers`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ serverId, endpoint: "ws://127.0.0.1:9000", publicKey: "vps-public-key", region: "local" }),
    });
    expect(registered.status, await registered.clone().text()).toBe(200);
    const beat = await fetch(`${base}/servers/heartbeat`, { method: "POST", headers: json, body: JSON.stringify({ serverId, connections: 2 }) });
    expect(beat.status, await beat.clone().text()).toBe(200);
    const listed = (await (await fetch(`${base}/servers`)).json()) as { servers: { serverId: string; endpoint: string; connections: number }[] };
    expect(listed.servers.find((s) => s.serverId === serverId)).toMatchObject({ endpoint: "ws://127.0.0.1:9000", connections: 2 });
    expect((await fetch(`${base}/servers/${encodeURIComponent(serverId)}`, { method: "DELETE" })).status).toBe(200);
    const after = (await (await fetch(`${base}/servers`)).json()) as { servers: { serverId: string }[] };
    expect(after.servers.map((s) => s.serverId)).not.toContain(serverId);
  });
});
