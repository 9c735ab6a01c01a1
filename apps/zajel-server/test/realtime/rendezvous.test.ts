import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RendezvousRegistry } from "../../src/realtime/rendezvous-store.js";
import { peerIdOf, registeredOn, shardOf, socketOn, type Frame } from "./client.js";

const place = (name: string) => `${name}-${crypto.randomUUID()}`;

/** A socket on gateway `index` holding relay peerId `peerId`. */
async function relayOn(index: number, peerId = peerIdOf("relay")) {
  const socket = await socketOn(index);
  expect(await socket.ask({ type: "register", peerId })).toMatchObject({ type: "registered", peerId });
  return Object.assign(socket, { peerId });
}

describe("rendezvous (§7.5)", () => {
  it("daily points return other peers' dead drops; hourly tokens make live matches pushed to the other socket on another gateway", async () => {
    const a = await relayOn(0);
    const b = await relayOn(2);
    const day = place("day");
    const hour = place("hour");
    expect(await a.ask({ type: "register_rendezvous", peerId: a.peerId, relayId: "relay-a", dailyPoints: [day], hourlyTokens: [hour], deadDrop: "sealed-a" })).toEqual({
      type: "rendezvous_result",
      liveMatches: [],
      deadDrops: [],
    });
    // B uses the snake_case names and the per-point map; its relayId is absent → "".
    const result = await b.ask({ type: "register_rendezvous", peerId: b.peerId, daily_points: [day], hourly_tokens: [hour], dead_drops: { [day]: "sealed-b" } });
    expect(result).toEqual({
      type: "rendezvous_result",
      liveMatches: [{ peerId: a.peerId, relayId: "relay-a" }],
      deadDrops: [{ peerId: a.peerId, deadDrop: "sealed-a", relayId: "relay-a" }],
    });
    expect(await a.next()).toEqual({ type: "rendezvous_match", match: { peerId: b.peerId, relayId: "" } });
    // A sees B's dead drop at the point on its next visit; an empty dead drop is never listed.
    const again = await a.ask({ type: "register_rendezvous", peerId: a.peerId, dailyPoints: [day] });
    expect(again).toEqual({ type: "rendezvous_result", liveMatches: [], deadDrops: [{ peerId: b.peerId, deadDrop: "sealed-b", relayId: "" }] });
  });

  it("lists each live peer once per request across several tokens on different shards, and never the registrant itself", async () => {
    const a = await registeredOn(1);
    const b = await registeredOn(3);
    // Random tokens land on one shard 1 time in 64; draw until they span at least two.
    let tokens: string[] = [];
    do tokens = [place("t1"), place("t2"), place("t3")];
    while (new Set(await Promise.all(tokens.map((t) => shardOf("rendezvous", `h:${t}`)))).size < 2);
    await a.ask({ type: "register_rendezvous", peerId: a.code, hourlyTokens: tokens });
    const result = await b.ask({ type: "register_rendezvous", peerId: b.code, hourlyTokens: tokens, relayId: "r-b" });
    expect(result.liveMatches).toEqual([{ peerId: a.code, relayId: "" }]);
    expect(await a.next()).toEqual({ type: "rendezvous_match", match: { peerId: b.code, relayId: "r-b" } });
    await a.quiet(200);
    // Re-registering alone finds only the other peer, not its own entry.
    expect((await b.ask({ type: "register_rendezvous", peerId: b.code, hourlyTokens: tokens })).liveMatches).toEqual([{ peerId: a.code, relayId: "" }]);
  });

  it("keeps a pairing-code peer's dead drop after its socket closes, and removes a relay peer's entries when its socket closes", async () => {
    const day = place("day");
    const coded = await registeredOn(0);
    const relay = await relayOn(1);
    await coded.ask({ type: "register_rendezvous", peerId: coded.code, dailyPoints: [day], deadDrop: "offline-drop" });
    await relay.ask({ type: "register_rendezvous", peerId: relay.peerId, dailyPoints: [day], deadDrop: "relay-drop" });
    coded.ws.close();
    relay.ws.close();
    const reader = await registeredOn(2);
    let drops: unknown[] = [];
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      drops = (await reader.ask({ type: "register_rendezvous", peerId: reader.code, dailyPoints: [day] })).deadDrops as unknown[];
      if (drops.length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(drops).toEqual([{ peerId: coded.code, deadDrop: "offline-drop", relayId: "" }]);
  });

  it("expires daily entries after 48 h and hourly entries after 3 h", async () => {
    const a = await registeredOn(0);
    const b = await registeredOn(1);
    const day = place("day");
    const hour = place("hour");
    await a.ask({ type: "register_rendezvous", peerId: a.code, dailyPoints: [day], hourlyTokens: [hour], deadDrop: "x" });
    // Age A's entries on their shards just past their lifetimes.
    for (const [key, age] of [[`d:${day}`, 48 * 3_600_000], [`h:${hour}`, 3 * 3_600_000]] as const) {
      const stub = env.RENDEZVOUS.getByName(`rendezvous:${await shardOf("rendezvous", key)}`);
      await runInDurableObject(stub, (_: RendezvousRegistry, state) => {
        state.storage.sql.exec("UPDATE entries SET expires_at = expires_at - ? WHERE place = ?", age, key);
      });
    }
    expect(await b.ask({ type: "register_rendezvous", peerId: b.code, dailyPoints: [day], hourlyTokens: [hour] })).toEqual({
      type: "rendezvous_result",
      liveMatches: [],
      deadDrops: [],
    });
    await a.quiet(200);
  });

  it("refreshes the relay registration of the registrant", async () => {
    const relay = await relayOn(2);
    const before = await runInDurableObject(env.GATEWAY.getByName("gateway:2"), async (_, state) => {
      const [ws] = state.getWebSockets().filter((w) => (w.deserializeAttachment() as { relay?: string }).relay === relay.peerId);
      const attachment = ws!.deserializeAttachment() as { relayRefreshedAt: number };
      attachment.relayRefreshedAt -= 50_000;
      ws!.serializeAttachment(attachment);
      return attachment.relayRefreshedAt;
    });
    await relay.ask({ type: "register_rendezvous", peerId: relay.peerId, dailyPoints: [] });
    const after = await runInDurableObject(env.GATEWAY.getByName("gateway:2"), async (_, state) => {
      const [ws] = state.getWebSockets().filter((w) => (w.deserializeAttachment() as { relay?: string }).relay === relay.peerId);
      return (ws!.deserializeAttachment() as { relayRefreshedAt: number }).relayRefreshedAt;
    });
    expect(after).toBeGreaterThan(before + 40_000);
  });

  it("answers every validation error of the §7.5 table, in order, and the identity rule", async () => {
    const socket = await registeredOn(3);
    const me = socket.code;
    const long = "x".repeat(129);
    const cases: [Frame, string][] = [
      [{ type: "register_rendezvous" }, "Invalid message: register_rendezvous: peerId must be a string"],
      [{ type: "register_rendezvous", peerId: "someone-else" }, "peerId mismatch with registered identity"],
      [{ type: "register_rendezvous", peerId: me, dailyPoints: "p" }, "Too many daily points (max 50)"],
      [{ type: "register_rendezvous", peerId: me, dailyPoints: Array.from({ length: 51 }, (_, i) => `p${i}`) }, "Too many daily points (max 50)"],
      [{ type: "register_rendezvous", peerId: me, dailyPoints: [5] }, "Invalid daily points format"],
      [{ type: "register_rendezvous", peerId: me, daily_points: [long] }, "Invalid daily points format"],
      [{ type: "register_rendezvous", peerId: me, hourlyTokens: {} }, "Too many hourly tokens (max 50)"],
      [{ type: "register_rendezvous", peerId: me, hourly_tokens: [null] }, "Invalid hourly tokens format"],
      [{ type: "register_rendezvous", peerId: me, relayId: 7 }, "Invalid message: register_rendezvous: relayId must be a string"],
      [{ type: "register_rendezvous", peerId: me, relayId: long }, "Invalid relayId"],
      [{ type: "register_rendezvous", peerId: me, dead_drops: [] }, "Invalid dead drops"],
      [{ type: "register_rendezvous", peerId: me, deadDrops: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) }, "Too many dead drops"],
      [{ type: "register_rendezvous", peerId: me, dead_drops: { [long]: "v" } }, "Invalid dead drop key"],
      [{ type: "register_rendezvous", peerId: me, dead_drops: { k: "v".repeat(4097) } }, "Dead drop payload too large (max 4KB)"],
      [{ type: "register_rendezvous", peerId: me, dead_drops: { k: 5 } }, "Dead drop payload too large (max 4KB)"],
      [{ type: "register_rendezvous", peerId: me, deadDrop: "v".repeat(4097) }, "Dead drop payload too large (max 4KB)"],
    ];
    for (const [frame, message] of cases) expect(await socket.ask(frame), JSON.stringify(frame).slice(0, 80)).toEqual({ type: "error", message });
    const fresh = await socketOn(0);
    expect(await fresh.ask({ type: "register_rendezvous", peerId: "nobody" })).toEqual({ type: "error", message: "Not registered" });
    // `relayId: null` is accepted as absent (§9 item 9), and the reply is never rendezvous_partial.
    expect(await socket.ask({ type: "register_rendezvous", peerId: me, relayId: null, dailyPoints: [place("ok")] })).toEqual({
      type: "rendezvous_result",
      liveMatches: [],
      deadDrops: [],
    });
  });
});
