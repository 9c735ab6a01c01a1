// End to end: the WebSocket protocol (docs/zajel-protocol.md §7) over real sockets to the
// server started by the README's start command, as the apps and relays use it.
import { createPublicKey, verify as verifySignature } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";
import { connect, randomCode, randomKey, randomPeerId, type WsClient } from "./ws-client.js";

// The test seed of §5.6, so the greeting's identity can be asserted exactly.
const IDENTITY_SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const IDENTITY_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
const SERVER_ID = "ed25519:A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg";
// Set explicitly because .dev.vars may hold other values, and the environment wins over it.
const ENDPOINT = "wss://signal.e2e.test/";
const REGION = "e2e-local";

let server: RunningServer;
const clients: WsClient[] = [];

/** A connected client, closed after the test; greeting consumed unless `greeting: false`. */
async function client(options: { greeting?: boolean } = {}): Promise<WsClient> {
  const socket = await connect(server.base, options);
  clients.push(socket);
  return socket;
}

/** A client holding a fresh pairing code. */
async function paired(): Promise<WsClient & { code: string; key: string }> {
  const socket = await client();
  const code = randomCode();
  const key = randomKey();
  expect(await socket.ask({ type: "register", pairingCode: code, publicKey: key })).toEqual({ type: "registered", pairingCode: code, serverId: SERVER_ID });
  return Object.assign(socket, { code, key });
}

function signedByIdentity(message: Buffer, signatureBase64: string): boolean {
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(IDENTITY_PUBLIC_KEY, "base64")]);
  return verifySignature(null, message, createPublicKey({ key: spki, format: "der", type: "spki" }), Buffer.from(signatureBase64, "base64"));
}

beforeAll(async () => {
  server = await startServer({ SERVER_IDENTITY_KEY: IDENTITY_SEED, PUBLIC_WS_ENDPOINT: ENDPOINT, REGION });
}, 100_000);
// Closing matters: a code or relay peerId stays taken while its socket is open.
afterEach(async () => {
  await Promise.all(clients.splice(0).map((socket) => socket.close()));
});
afterAll(() => server?.stop(), 20_000);

describe("greeting (§7.1.3)", () => {
  it("sends server_info, then server_identity signing a fresh 32-byte nonce", async () => {
    const first = await client({ greeting: false });
    expect(await first.next()).toEqual({ type: "server_info", serverId: SERVER_ID, endpoint: ENDPOINT, region: REGION });
    const identity = (await first.next()) as { type: string; public_key: string; nonce: string; signature: string };
    expect(Object.keys(identity).sort()).toEqual(["nonce", "public_key", "signature", "type"]);
    expect(identity).toMatchObject({ type: "server_identity", public_key: IDENTITY_PUBLIC_KEY });
    const nonce = Buffer.from(identity.nonce, "base64");
    expect(nonce.length).toBe(32);
    expect(signedByIdentity(nonce, identity.signature)).toBe(true);
    expect(signedByIdentity(Buffer.alloc(32), identity.signature)).toBe(false);

    const second = await client({ greeting: false });
    expect((await second.next()).type).toBe("server_info");
    expect((await second.next()).nonce).not.toBe(identity.nonce);
  });
});

describe("pairing and forwarding (§7.2, §7.3)", () => {
  it("pairs two codes, forwards offer, answer and ice_candidate both ways, and tells the survivor when one leaves", async () => {
    const alice = await paired();
    const bob = await paired();

    alice.send({ type: "pair_request", targetCode: bob.code });
    expect(await bob.next()).toEqual({ type: "pair_incoming", fromCode: alice.code, fromPublicKey: alice.key, expiresIn: 120_000 });
    bob.send({ type: "pair_response", targetCode: alice.code, accepted: true });
    expect(await alice.next()).toEqual({ type: "pair_matched", peerCode: bob.code, peerPublicKey: bob.key, isInitiator: true });
    expect(await bob.next()).toEqual({ type: "pair_matched", peerCode: alice.code, peerPublicKey: alice.key, isInitiator: false });

    const offer = { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" };
    alice.send({ type: "offer", target: bob.code, payload: offer });
    expect(await bob.next()).toEqual({ type: "offer", from: alice.code, payload: offer });
    const answer = { type: "answer", sdp: "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n" };
    bob.send({ type: "answer", target: alice.code, payload: answer });
    expect(await alice.next()).toEqual({ type: "answer", from: bob.code, payload: answer });
    const candidate = { candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", sdpMid: "0", sdpMLineIndex: 0 };
    alice.send({ type: "ice_candidate", target: bob.code, payload: candidate });
    expect(await bob.next()).toEqual({ type: "ice_candidate", from: alice.code, payload: candidate });
    bob.send({ type: "ice_candidate", target: alice.code });
    expect(await alice.next()).toEqual({ type: "ice_candidate", from: bob.code });

    await bob.close();
    expect(await alice.next()).toEqual({ type: "peer_left", peerCode: bob.code, pairingCode: bob.code });
  });

  it("forwards nothing between codes that are not matched and answers as if the target did not exist", async () => {
    const alice = await paired();
    const mallory = await paired();
    const nobody = randomCode();

    expect(await mallory.ask({ type: "offer", target: alice.code, payload: { sdp: "x" } })).toEqual({ type: "error", message: `Peer not found: ${alice.code}` });
    expect(await mallory.ask({ type: "offer", target: nobody, payload: { sdp: "x" } })).toEqual({ type: "error", message: `Peer not found: ${nobody}` });
    expect(await mallory.ask({ type: "pair_request", targetCode: nobody })).toEqual({ type: "pair_error", error: "Pair request could not be processed" });
    expect(await mallory.ask({ type: "pair_response", targetCode: alice.code, accepted: true })).toEqual({ type: "pair_error", error: "No pending request from this peer" });
    await alice.quiet();
  });
});

describe("relay registry (§7.4)", () => {
  type Relay = { peerId: string; publicKey: string | null; capacity: number };
  const listedBy = async (socket: WsClient, peerId: string) => {
    const reply = (await socket.ask({ type: "get_relays", peerId, count: 100 })) as { type: string; relays: Relay[] };
    expect(reply.type).toBe("relays");
    return reply.relays;
  };

  it("registers relays, lists them by load to other relays, and acknowledges heartbeats", async () => {
    const first = await client();
    const firstId = randomPeerId("e2e-relay");
    const firstKey = randomKey();
    const registered = await first.ask({ type: "register", peerId: firstId, maxConnections: 20, publicKey: firstKey });
    // Relays left registered by earlier runs may be listed, so only the shape and self-exclusion are exact.
    expect(registered).toEqual({ type: "registered", peerId: firstId, serverId: SERVER_ID, relays: expect.any(Array) });
    expect((registered.relays as Relay[]).map((relay) => relay.peerId)).not.toContain(firstId);

    const second = await client();
    const secondId = randomPeerId("e2e-relay");
    expect((await second.ask({ type: "register", peerId: secondId })).type).toBe("registered");
    let listed = await listedBy(second, secondId);
    expect(listed.map((relay) => relay.peerId)).not.toContain(secondId);
    expect(listed.find((relay) => relay.peerId === firstId)).toEqual({ peerId: firstId, publicKey: firstKey, capacity: 0 });
    expect((await listedBy(first, firstId)).find((relay) => relay.peerId === secondId)).toEqual({ peerId: secondId, publicKey: null, capacity: 0 });

    expect(await first.ask({ type: "update_load", peerId: firstId, connectedCount: 5 })).toEqual({ type: "load_updated", peerId: firstId, connectedCount: 5 });
    listed = await listedBy(second, secondId);
    expect(listed.find((relay) => relay.peerId === firstId)?.capacity).toBe(0.25);
    // Half full is no longer "< 0.5", so the relay drops out of the list.
    expect(await first.ask({ type: "update_load", peerId: firstId, connectedCount: 10 })).toEqual({ type: "load_updated", peerId: firstId, connectedCount: 10 });
    expect((await listedBy(second, secondId)).map((relay) => relay.peerId)).not.toContain(firstId);

    const before = Date.now();
    const ack = await first.ask({ type: "heartbeat", peerId: firstId });
    expect(Object.keys(ack).sort()).toEqual(["timestamp", "type"]);
    expect(ack.type).toBe("heartbeat_ack");
    expect(ack.timestamp).toBeGreaterThanOrEqual(before - 5_000);
    expect(ack.timestamp).toBeLessThanOrEqual(Date.now() + 5_000);

    expect(await second.ask({ type: "heartbeat", peerId: firstId })).toEqual({ type: "error", message: "peerId mismatch with registered identity" });
    const third = await client();
    expect(await third.ask({ type: "register", peerId: firstId })).toEqual({ type: "error", message: "Peer ID already in use by another connection" });
  });
});

describe("rendezvous (§7.5)", () => {
  it("matches two peers at an hourly token and hands over a dead drop at a daily point", async () => {
    const a = await paired();
    const b = await paired();
    const day = `day-${randomPeerId("p")}`;
    const hour = `hour-${randomPeerId("t")}`;
    expect(await a.ask({ type: "register_rendezvous", peerId: a.code, dailyPoints: [day], hourlyTokens: [hour], deadDrop: "sealed-for-b" })).toEqual({
      type: "rendezvous_result",
      liveMatches: [],
      deadDrops: [],
    });
    expect(await b.ask({ type: "register_rendezvous", peerId: b.code, dailyPoints: [day], hourlyTokens: [hour], relayId: "relay-b" })).toEqual({
      type: "rendezvous_result",
      liveMatches: [{ peerId: a.code, relayId: "" }],
      deadDrops: [{ peerId: a.code, deadDrop: "sealed-for-b", relayId: "" }],
    });
    expect(await a.waitFor("rendezvous_match")).toEqual({ type: "rendezvous_match", match: { peerId: b.code, relayId: "relay-b" } });
  });
});

describe("chunk relay (§7.6)", () => {
  it("pulls an announced chunk from its source, serves the requester, then serves later requests from the cache", async () => {
    const source = await paired();
    const requester = await paired();
    const chunkId = randomPeerId("chunk");
    const data = { ciphertext: "q83v", signature: "c2ln" };
    expect(await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId }] })).toEqual({ type: "chunk_announce_ack", registered: 1 });
    expect(await requester.ask({ type: "chunk_request", chunkId, channelId: "news" })).toEqual({ type: "chunk_pulling", chunkId });
    expect(await source.waitFor("chunk_pull")).toEqual({ type: "chunk_pull", chunkId, channelId: "news" });
    expect(await source.ask({ type: "chunk_push", peerId: source.code, chunkId, channelId: "news", data })).toEqual({
      type: "chunk_push_ack",
      chunkId,
      cached: true,
      servedCount: 1,
    });
    expect(await requester.waitFor("chunk_data")).toEqual({ type: "chunk_data", chunkId, channelId: "news", data, source: "relay" });
    const later = await paired();
    expect(await later.ask({ type: "chunk_request", chunkId, channelId: "news" })).toEqual({ type: "chunk_data", chunkId, channelId: "news", data, source: "cache" });
  });
});
