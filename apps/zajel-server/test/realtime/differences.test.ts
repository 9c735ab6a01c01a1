/**
 * One test per WebSocket item of "Differences from the reference implementation" (protocol §9,
 * items 1–11), each as the observable behaviour a client sees.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyOf, peerIdOf, randomCode, registeredOn, socketOn } from "./client.js";

/** Two sockets on different gateways whose codes are matched. */
async function matchedPair() {
  const a = await registeredOn(0, 1);
  const b = await registeredOn(1, 2);
  a.send({ type: "pair_request", targetCode: b.code });
  await b.next();
  b.send({ type: "pair_accept", targetCode: a.code });
  expect(await a.next()).toMatchObject({ type: "pair_matched", peerCode: b.code });
  expect(await b.next()).toMatchObject({ type: "pair_matched", peerCode: a.code });
  return { a, b };
}

describe("differences from the reference (§9, WebSocket items)", () => {
  it("1. one logical service: `registered` has no redirects; register_rendezvous answers rendezvous_result, never rendezvous_partial", async () => {
    const socket = await socketOn(2);
    const code = randomCode();
    expect(Object.keys(await socket.ask({ type: "register", pairingCode: code, publicKey: keyOf(1) }))).toEqual(["type", "pairingCode", "serverId"]);
    const relay = await socketOn(3);
    expect(Object.keys(await relay.ask({ type: "register", peerId: peerIdOf("r") }))).toEqual(["type", "peerId", "serverId", "relays"]);
    expect((await socket.ask({ type: "register_rendezvous", peerId: code, dailyPoints: ["p"], hourlyTokens: ["t"] })).type).toBe("rendezvous_result");
  });

  it("2. legacy aliases: pair_accept and pair_reject act as pair_response accepted true/false", async () => {
    await matchedPair(); // pair_accept
    const a = await registeredOn(2, 1);
    const b = await registeredOn(3, 2);
    a.send({ type: "pair_request", targetCode: b.code });
    await b.next();
    b.send({ type: "pair_reject", targetCode: a.code });
    expect(await a.next()).toEqual({ type: "pair_rejected", peerCode: b.code });
  });

  it("3. departure notice to matched partners only, with both field names", async () => {
    const { a, b } = await matchedPair();
    const bystander = await registeredOn(2, 3);
    a.ws.close(1000, "bye");
    expect(await b.next()).toEqual({ type: "peer_left", peerCode: a.code, pairingCode: a.code });
    await bystander.quiet(300);
  });

  it("4. forwarding only between matched pairs; unmatched and unknown targets get the same answer", async () => {
    const a = await registeredOn(0, 1);
    const registered = await registeredOn(1, 2);
    const unknown = randomCode();
    for (const target of [registered.code, unknown]) {
      expect(await a.ask({ type: "offer", target, payload: {} })).toEqual({ type: "error", message: `Peer not found: ${target}` });
    }
    await registered.quiet(200);
  });

  it("5. identity binding: frames carrying a peerId must carry the socket's own identity; codes and relay peerIds share one namespace", async () => {
    const coded = await registeredOn(0, 1);
    for (const type of ["update_load", "get_relays", "heartbeat", "register_rendezvous", "chunk_announce", "chunk_request", "chunk_push"]) {
      const reply = await coded.ask({ type, peerId: "someone-else", connectedCount: 1, chunks: [{ chunkId: "c" }], chunkId: "c", channelId: "c", data: "d" });
      expect(reply, type).toEqual({ type: "error", message: "peerId mismatch with registered identity" });
    }
    const relay = await socketOn(1);
    expect(await relay.ask({ type: "register", peerId: coded.code })).toEqual({ type: "error", message: "Peer ID already in use by another connection" });
    // A relay peerId shaped like a pairing code blocks that code for every other socket.
    const relayId = randomCode();
    expect(await relay.ask({ type: "register", peerId: relayId })).toMatchObject({ type: "registered", peerId: relayId });
    const other = await socketOn(2);
    expect(await other.ask({ type: "register", pairingCode: relayId, publicKey: keyOf(2) })).toEqual({
      type: "code_collision",
      message: "Pairing code already in use. Please reconnect with a new code.",
    });
    const fresh = await socketOn(3);
    expect(await fresh.ask({ type: "heartbeat", peerId: relayId })).toEqual({ type: "error", message: "Not registered" });
  });

  it("6. solicited chunk pushes only", async () => {
    const socket = await registeredOn(3, 1);
    expect(await socket.ask({ type: "chunk_push", chunkId: `c-${crypto.randomUUID()}`, channelId: "c", data: "x" })).toEqual({
      type: "error",
      message: "Unexpected chunk_push: chunk was not requested from or announced by this peer",
    });
  });

  it("7. idle cleanup: a socket that pinged and then fell silent for 90 s is closed; one that never pinged is not", async () => {
    const pinger = await socketOn(1);
    const silent = await socketOn(1);
    expect(await pinger.ask({ type: "ping" })).toEqual({ type: "pong" });
    await runInDurableObject(env.GATEWAY.getByName("gateway:1"), (_, state) => {
      for (const ws of state.getWebSockets()) {
        const attachment = ws.deserializeAttachment() as { lastFrameAt: number };
        attachment.lastFrameAt -= 91_000;
        ws.serializeAttachment(attachment);
      }
    });
    await runDurableObjectAlarm(env.GATEWAY.getByName("gateway:1"));
    await pinger.wait(() => pinger.closed.code !== undefined);
    expect(pinger.closed).toEqual({ code: 1000, reason: "Heartbeat timeout" });
    expect(await silent.ask({ type: "ping" })).toEqual({ type: "pong" });
  });

  it("8. limits: 256 KB frames (1009) and per-socket message limits, the IP cap counted across gateways", async () => {
    const big = await socketOn(0);
    big.send(JSON.stringify({ type: "ping", pad: "x".repeat(262_144) }));
    expect(await big.next()).toEqual({ type: "error", message: "Message too large" });
    await big.wait(() => big.closed.code !== undefined);
    expect(big.closed).toEqual({ code: 1009, reason: "Message Too Big" });
    const requester = await registeredOn(2, 1);
    for (let i = 0; i < 10; i++) expect((await requester.ask({ type: "pair_request", targetCode: randomCode() })).type).toBe("pair_error");
    expect(await requester.ask({ type: "pair_request", targetCode: randomCode() })).toEqual({ type: "error", message: "Too many pair requests. Please slow down." });
    // The IP cap (50 across the deployment) is covered in connections.test.ts.
  });

  it("9. relayId is optional in register_rendezvous; rendezvous_match always carries one", async () => {
    const a = await registeredOn(0, 1);
    const b = await registeredOn(3, 2);
    const token = `t-${crypto.randomUUID()}`;
    await a.ask({ type: "register_rendezvous", peerId: a.code, hourlyTokens: [token] });
    expect((await b.ask({ type: "register_rendezvous", peerId: b.code, hourlyTokens: [token] })).liveMatches).toEqual([{ peerId: a.code, relayId: "" }]);
    expect(await a.next()).toEqual({ type: "rendezvous_match", match: { peerId: b.code, relayId: "" } });
  });

  it("10. attestation over the socket uses the registry's own schema, and gating is opt-in", async () => {
    const socket = await registeredOn(1, 1);
    // Without REQUIRE_WS_ATTESTATION the chunk messages pass the gate.
    expect(await socket.ask({ type: "chunk_announce", peerId: socket.code, chunks: [{ chunkId: "c" }] })).toEqual({ type: "chunk_announce_ack", registered: 1 });
    // The reference's {build_token, device_id} shape is accepted; an unknown device gets attest_error.
    expect(await socket.ask({ type: "attest_request", device_id: `dev-${crypto.randomUUID()}`, build_token: "ignored" })).toEqual({
      type: "attest_error",
      message: "Failed to get attestation challenge from bootstrap",
    });
    // With REQUIRE_WS_ATTESTATION=true the gate is exercised in attest.test.ts.
  });

  it("11. clarifications: idempotent re-register, a new code releases the old one, proposedName only as a non-empty string", async () => {
    const { a, b } = await matchedPair();
    expect(await a.ask({ type: "register", pairingCode: a.code, publicKey: keyOf(9) })).toMatchObject({ type: "registered", pairingCode: a.code });
    await b.quiet(200);
    const next = randomCode();
    expect(await a.ask({ type: "register", pairingCode: next, publicKey: keyOf(1) })).toMatchObject({ type: "registered", pairingCode: next });
    expect(await b.next()).toEqual({ type: "peer_left", peerCode: a.code, pairingCode: a.code });
    const c = await registeredOn(2, 3);
    b.send({ type: "pair_request", targetCode: c.code, proposedName: "" });
    expect(Object.keys(await c.next())).toEqual(["type", "fromCode", "fromPublicKey", "expiresIn"]);
    a.send({ type: "pair_request", targetCode: c.code, proposedName: 42 });
    expect(await c.next()).not.toHaveProperty("proposedName");
  });
});
