import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { gatewayShare } from "../../src/realtime/connections.js";
import type { ConnectionCounter } from "../../src/realtime/connections.js";
import { GATEWAYS } from "../../src/realtime/gateway.js";
import { evictDurableObject } from "../evict.js";
import { callWith, freshIp } from "../helpers.js";
import { connect, shardOf, type TestSocket } from "./client.js";

/** Upgrades through the Worker with `overrides` applied to its env. */
async function upgradeWith(overrides: Parameters<typeof callWith>[0], ip: string) {
  return callWith(overrides, "/", { headers: { Upgrade: "websocket", "CF-Connecting-IP": ip } });
}

/** Waits until the socket closed and returns how. */
async function closedWith(socket: TestSocket) {
  await socket.wait(() => socket.closed.code !== undefined);
  return socket.closed;
}

describe("connection caps (§7.1.1)", () => {
  it("splits WS_MAX_CONNECTIONS into gateway shares that sum to it", () => {
    for (const max of [1, 3, 4, 5, 10, 10_000, 10_001]) {
      const shares = Array.from({ length: GATEWAYS }, (_, i) => gatewayShare(max, i, GATEWAYS));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(max);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
  });

  it("closes the 51st socket of one IP with 1013 before any message, and admits again after one closes", async () => {
    const ip = freshIp();
    const open: TestSocket[] = [];
    for (let i = 0; i < 50; i++) {
      const socket = await connect("/", ip);
      await socket.next(); // server_info: accepted and greeted
      open.push(socket);
    }
    const refused = await connect("/", ip);
    expect(await closedWith(refused)).toEqual({ code: 1013, reason: "Too many connections from this IP" });
    expect(refused.frames).toEqual([]);
    // Another IP is not affected.
    const other = await connect("/", freshIp());
    expect(await other.next()).toMatchObject({ type: "server_info" });
    open[0]!.ws.close(1000, "bye");
    let admitted: TestSocket | undefined;
    const deadline = Date.now() + 5_000;
    while (!admitted && Date.now() < deadline) {
      const attempt = await connect("/", ip);
      await attempt.wait(() => attempt.frames.length > 0 || attempt.closed.code !== undefined);
      if (attempt.frames.length > 0) admitted = attempt;
    }
    expect(admitted?.frames[0]).toMatchObject({ type: "server_info" });
    for (const socket of open) socket.ws.close(1000, "done");
  }, 30_000);

  it("counts an IP's sockets across all gateways, and forgets sockets a reset gateway lost without a close event", async () => {
    const ip = freshIp();
    const counter = env.CONNECTIONS.getByName(`connections:${await shardOf("connections", ip)}`);
    // 50 rows for sockets that no gateway holds (as after a gateway reset).
    await runInDurableObject(counter, (_: ConnectionCounter, state) => {
      for (let i = 0; i < 50; i++) state.storage.sql.exec("INSERT INTO sockets (ip, slot, gateway, socket) VALUES (?, 0, ?, ?)", ip, `gateway:${i % 4}`, `lost-${i}`);
    });
    const socket = await connect("/", ip);
    expect(await socket.next()).toMatchObject({ type: "server_info" });
    const rows = await runInDurableObject(counter, (_: ConnectionCounter, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sockets WHERE ip = ?", ip).one().n,
    );
    expect(rows).toBe(1);
  });

  it("refuses with 1013 `Server at capacity` only when every gateway is at its share", async () => {
    // WS_MAX_CONNECTIONS is applied to the sockets already open in the deployment; with a capacity
    // equal to them, the next socket is refused everywhere.
    const ip = freshIp();
    const live = await Promise.all(
      Array.from({ length: GATEWAYS }, (_, i) =>
        runInDurableObject(env.GATEWAY.getByName(`gateway:${i}`), (_g, state) => state.getWebSockets().length),
      ),
    );
    const max = Math.max(...live) * GATEWAYS;
    // Each gateway's share is max/GATEWAYS ≥ its open sockets: fill each up to its share.
    const filler: WebSocket[] = [];
    for (let i = 0; i < GATEWAYS; i++) {
      for (let n = live[i]!; n < max / GATEWAYS; n++) {
        const response = await env.GATEWAY.getByName(`gateway:${i}`).fetch("https://signal.zajel.test/", { headers: { Upgrade: "websocket", "CF-Connecting-IP": freshIp() } });
        response.webSocket!.accept();
        filler.push(response.webSocket!);
      }
    }
    const response = await upgradeWith({ WS_MAX_CONNECTIONS: String(max) }, ip);
    expect(response.status).toBe(101);
    const ws = response.webSocket!;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
    const frames: unknown[] = [];
    ws.addEventListener("message", (e) => frames.push(e.data));
    ws.accept();
    expect(await closed).toEqual({ code: 1013, reason: "Server at capacity" });
    expect(frames).toEqual([]);
    // One more place anywhere: the Worker finds the gateway with room.
    const admitted = await upgradeWith({ WS_MAX_CONNECTIONS: String(max + 1) }, freshIp());
    const first = new Promise((resolve) => admitted.webSocket!.addEventListener("message", (e) => resolve(JSON.parse(e.data as string))));
    admitted.webSocket!.accept();
    expect(await first).toMatchObject({ type: "server_info" });
    for (const socket of filler) socket.close(1000, "done");
  }, 30_000);

  it("keeps counting across an eviction of the counter shard", async () => {
    const ip = freshIp();
    const socket = await connect("/", ip);
    await socket.next();
    await evictDurableObject(env.CONNECTIONS.getByName(`connections:${await shardOf("connections", ip)}`));
    const count = await runInDurableObject(env.CONNECTIONS.getByName(`connections:${await shardOf("connections", ip)}`), (_: ConnectionCounter, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sockets WHERE ip = ?", ip).one().n,
    );
    expect(count).toBe(1);
  });
});
