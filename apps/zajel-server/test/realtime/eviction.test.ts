import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { evictDurableObject } from "../evict.js";
import { keyOf, randomCode, registeredOn, shardOf, socketOn } from "./client.js";

describe("eviction mid-pairing loses nothing", () => {
  it("a code shard evicted between pair_request and pair_response: the request, its timers and the match survive", async () => {
    const a = await registeredOn(0, 1);
    const b = await registeredOn(1, 2);
    a.send({ type: "pair_request", targetCode: b.code });
    expect(await b.next()).toMatchObject({ type: "pair_incoming", fromCode: a.code });
    await evictDurableObject(env.CODES.getByName(`codes:${await shardOf("codes", b.code)}`));
    await evictDurableObject(env.CODES.getByName(`codes:${await shardOf("codes", a.code)}`));
    b.send({ type: "pair_response", targetCode: a.code, accepted: true });
    expect(await a.next()).toMatchObject({ type: "pair_matched", peerCode: b.code, isInitiator: true });
    expect(await b.next()).toMatchObject({ type: "pair_matched", peerCode: a.code, isInitiator: false });
    a.send({ type: "offer", target: b.code, payload: { sdp: "after eviction" } });
    expect(await b.next()).toEqual({ type: "offer", from: a.code, payload: { sdp: "after eviction" } });
  });

  it("a gateway evicted mid-pairing: its client reconnects, gets its code back (no code_collision) and the pending request completes", async () => {
    const code = randomCode();
    const a = await registeredOn(2, 1, code);
    const b = await registeredOn(3, 2);
    a.send({ type: "pair_request", targetCode: b.code });
    expect(await b.next()).toMatchObject({ type: "pair_incoming", fromCode: code });
    // The runtime drops every socket of an evicted gateway without a close event.
    await evictDurableObject(env.GATEWAY.getByName("gateway:2"));
    await a.wait(() => a.closed.code !== undefined);
    const again = await socketOn(2);
    expect(await again.ask({ type: "register", pairingCode: code, publicKey: keyOf(1) })).toMatchObject({ type: "registered", pairingCode: code });
    b.send({ type: "pair_response", targetCode: code, accepted: true });
    expect(await again.next()).toMatchObject({ type: "pair_matched", peerCode: b.code, isInitiator: true });
    expect(await b.next()).toMatchObject({ type: "pair_matched", peerCode: code, isInitiator: false });
    b.send({ type: "answer", target: code, payload: { sdp: "still routed" } });
    expect(await again.next()).toEqual({ type: "answer", from: b.code, payload: { sdp: "still routed" } });
  });

  it("a code still held by an open socket is not taken over", async () => {
    const code = randomCode();
    await registeredOn(0, 1, code);
    const other = await socketOn(1);
    expect(await other.ask({ type: "register", pairingCode: code, publicKey: keyOf(3) })).toEqual({
      type: "code_collision",
      message: "Pairing code already in use. Please reconnect with a new code.",
    });
  });
});
