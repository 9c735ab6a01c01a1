/**
 * Attestation over WebSocket (§7.8): challenges and verification against the same registry as the
 * HTTP API (§4.3, §6), the client IP's `attest` rate class, and the opt-in gate of the chunk
 * messages. Frames of one socket are sent one at a time (`ask`): back-to-back frames of a test
 * socket may reach the gateway out of order.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import { GATEWAYS } from "../../src/realtime/gateway.js";
import type { SocketState } from "../../src/realtime/socket.js";
import { answer, challenge, deviceId, register, REGIONS, upload, VERSION, verifiedTokenData } from "../attestation/helpers.js";
import { call, freshIp, result } from "../helpers.js";
import { connectWith, keyOf, randomCode, socketOn, type Frame, type TestSocket } from "./client.js";

type Challenge = { type: string; nonce: string; regions: { index: number; offset: number; length: number }[] };

const REFUSED = { type: "attest_error", message: "Failed to get attestation challenge from bootstrap" };
const FAILED = { type: "attest_failed", message: "Attestation verification failed" };
const NOT_ATTESTED = { type: "error", code: "NOT_ATTESTED", message: "Attestation required" };
const error = (message: string) => ({ type: "error", message });

/** A device registered with `version` (android), whose reference binary is uploaded. */
async function registeredDevice(version = VERSION()): Promise<{ device: string; version: string }> {
  expect((await upload(version)).status).toBe(200);
  const device = deviceId();
  expect((await register(device, version)).status).toBe(200);
  return { device, version };
}

async function requestChallenge(socket: TestSocket, frame: Frame): Promise<Challenge> {
  const issued = (await socket.ask({ type: "attest_request", ...frame })) as Challenge;
  expect(issued.type).toBe("attest_challenge");
  return issued;
}

/** A full exchange on `socket`; returns the `attest_response` answer. */
async function attest(socket: TestSocket, device: string): Promise<Frame> {
  const issued = await requestChallenge(socket, { device_id: device });
  return socket.ask({ type: "attest_response", nonce: issued.nonce, responses: await answer(issued.nonce, issued.regions) });
}

async function expectClosedWith4001(socket: TestSocket): Promise<void> {
  await socket.wait(() => socket.closed.code !== undefined);
  expect(socket.closed).toEqual({ code: 4001, reason: "Attestation failed" });
}

describe("attest_request / attest_response (§7.8)", () => {
  it("challenges for the registered build version and answers a correct response with a session token", async () => {
    const { device, version } = await registeredDevice();
    const socket = await socketOn(1);
    // build_token is accepted for shape compatibility and not used.
    const issued = await requestChallenge(socket, { device_id: device, build_token: { payload: "x", signature: "y" } });
    expect(Object.keys(issued)).toEqual(["type", "nonce", "regions"]);
    expect(issued.nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.regions.length).toBeGreaterThanOrEqual(3);
    expect(issued.regions.length).toBeLessThanOrEqual(5);
    issued.regions.forEach((region, i) => {
      expect(Object.keys(region)).toEqual(["index", "offset", "length"]);
      expect(region.index).toBe(i);
      expect(REGIONS).toContainEqual(expect.objectContaining({ offset: region.offset, length: region.length }));
    });

    const success = await socket.ask({ type: "attest_response", nonce: issued.nonce, responses: await answer(issued.nonce, issued.regions) });
    expect(Object.keys(success)).toEqual(["type", "session_token"]);
    expect(success.type).toBe("attest_success");
    // The token the HTTP verify endpoint issues: signed with the attestation key, 1 hour, the challenge's version.
    expect(await verifiedTokenData(success.session_token as string)).toMatchObject({ device_id: device, build_version: version, platform: "android" });
    expect(await socket.ask({ type: "ping" })).toEqual({ type: "pong" });
    // The nonce was consumed in the registry the HTTP API uses.
    expect(await result(call("/attest/verify", { method: "POST", json: { device_id: device, nonce: issued.nonce, responses: [] } }))).toEqual({
      status: 403,
      body: { error: "Invalid or expired nonce" },
    });
  });

  it("uses an explicit build_version, checks field types, and answers every refusal with attest_error", async () => {
    const { device, version } = await registeredDevice();
    const other = VERSION();
    await upload(other);
    const socket = await socketOn(2);
    const issued = await requestChallenge(socket, { device_id: device, build_version: other });
    const success = await socket.ask({ type: "attest_response", nonce: issued.nonce, responses: await answer(issued.nonce, issued.regions) });
    expect(await verifiedTokenData(success.session_token as string)).toMatchObject({ device_id: device, build_version: other });

    expect(await socket.ask({ type: "attest_request", device_id: device, build_version: 5 })).toEqual(error("Invalid message: attest_request: build_version must be a string"));
    expect(await socket.ask({ type: "attest_request", device_id: 5 })).toEqual(error("Invalid message: attest_request: device_id must be a string"));
    expect(await socket.ask({ type: "attest_request" })).toEqual(error("Invalid message: attest_request: device_id must be a string"));

    const web = deviceId();
    await register(web, "1.0.0", "web");
    const refusals: [string, Frame][] = [
      ["unregistered device", { device_id: deviceId() }],
      ["malformed device id", { device_id: "bad id" }],
      ["malformed build version", { device_id: device, build_version: "1 0" }],
      ["no reference for the version", { device_id: device, build_version: "9.9.9" }],
      ["web device", { device_id: web }],
    ];
    for (const [why, frame] of refusals) expect(await socket.ask({ type: "attest_request", ...frame }), why).toEqual(REFUSED);

    // At most 5 pending challenges per device, whether asked over HTTP or the socket.
    expect((await challenge(device, version)).status).toBe(200);
    for (let i = 0; i < 4; i++) await requestChallenge(socket, { device_id: device });
    expect(await socket.ask({ type: "attest_request", device_id: device })).toEqual(REFUSED);
  });

  it("answers attest_failed and closes 4001 without a prior request, on a wrong HMAC, a wrong count or another device's nonce", async () => {
    const { device, version } = await registeredDevice();

    const unasked = await socketOn(0);
    expect(await unasked.ask({ type: "attest_response", nonce: "0".repeat(64), responses: [{ region_index: 0, hmac: "0".repeat(64) }] })).toEqual(FAILED);
    await expectClosedWith4001(unasked);

    // Field errors leave the socket open and the challenge usable; a wrong HMAC consumes it.
    const wrong = await socketOn(1);
    const issued = await requestChallenge(wrong, { device_id: device });
    expect(await wrong.ask({ type: "attest_response", nonce: issued.nonce, responses: [] })).toEqual(error("Missing or empty responses array"));
    expect(await wrong.ask({ type: "attest_response", nonce: 5, responses: [] })).toEqual(error("Invalid message: attest_response: nonce must be a string"));
    expect(await wrong.ask({ type: "attest_response", nonce: issued.nonce, responses: {} })).toEqual(error("Invalid message: attest_response: responses must be a array"));
    const mismatched = (await answer(issued.nonce, issued.regions)).map((r, i) => (i === 0 ? { ...r, hmac: "0".repeat(64) } : r));
    expect(await wrong.ask({ type: "attest_response", nonce: issued.nonce, responses: mismatched })).toEqual(FAILED);
    await expectClosedWith4001(wrong);
    expect((await result(call("/attest/verify", { method: "POST", json: { device_id: device, nonce: issued.nonce, responses: mismatched } }))).status).toBe(403);

    // A wrong number of answers fails the socket but leaves the challenge usable (§4.3.5 row 6).
    const short = await socketOn(2);
    const kept = await requestChallenge(short, { device_id: device });
    const answers = await answer(kept.nonce, kept.regions);
    expect(await short.ask({ type: "attest_response", nonce: kept.nonce, responses: answers.slice(1) })).toEqual(FAILED);
    await expectClosedWith4001(short);
    expect((await (await call("/attest/verify", { method: "POST", json: { device_id: device, nonce: kept.nonce, responses: answers } })).json()) as Frame).toMatchObject({
      valid: true,
    });

    // The socket's remembered device is the one of its last request, not the nonce's.
    const foreign = await socketOn(3);
    const otherDevice = deviceId();
    await register(otherDevice, version);
    await requestChallenge(foreign, { device_id: otherDevice });
    const theirs = (await (await challenge(device, version)).json()) as Challenge;
    expect(await foreign.ask({ type: "attest_response", nonce: theirs.nonce, responses: await answer(theirs.nonce, theirs.regions) })).toEqual(FAILED);
    await expectClosedWith4001(foreign);
  });

  it("counts both messages in the client IP's attest class (20 per minute) shared with HTTP", async () => {
    const { device } = await registeredDevice();
    const ip = freshIp();
    const socket = await socketOn(0, { ip });
    const issued = await requestChallenge(socket, { device_id: device });
    // 19 more requests of the class from the same IP over HTTP make 20; the 21st is refused.
    for (let i = 0; i < 19; i++) expect((await call("/attest/challenge", { method: "POST", json: {}, ip })).status).toBe(400);
    expect((await call("/attest/challenge", { method: "POST", json: {}, ip })).status).toBe(429);

    const another = await socketOn(1, { ip });
    expect(await another.ask({ type: "attest_request", device_id: device })).toEqual(REFUSED);
    // Correct answers, but the class is exhausted.
    expect(await socket.ask({ type: "attest_response", nonce: issued.nonce, responses: await answer(issued.nonce, issued.regions) })).toEqual(FAILED);
    await expectClosedWith4001(socket);
  });
});

/** Changes the attachment of the one socket of client `ip`, on whichever gateway holds it. */
async function editSocket(ip: string, change: (state: SocketState) => void): Promise<void> {
  let found = 0;
  for (let g = 0; g < GATEWAYS; g++) {
    await runInDurableObject(env.GATEWAY.getByName(`gateway:${g}`), (_, state) => {
      for (const ws of state.getWebSockets()) {
        const attachment = ws.deserializeAttachment() as SocketState | null;
        if (attachment?.ip !== ip) continue;
        change(attachment);
        ws.serializeAttachment(attachment);
        found++;
      }
    });
  }
  expect(found).toBe(1);
}

/** A socket through the Worker with REQUIRE_WS_ATTESTATION = `flag`, greeted and holding a pairing code. */
async function gatedSocket(flag: string | undefined): Promise<TestSocket & { ip: string; code: string }> {
  const ip = freshIp();
  const socket = await connectWith({ REQUIRE_WS_ATTESTATION: flag }, ip);
  expect((await socket.next()).type).toBe("server_info");
  expect((await socket.next()).type).toBe("server_identity");
  const code = randomCode();
  expect(await socket.ask({ type: "register", pairingCode: code, publicKey: keyOf(7) })).toMatchObject({ type: "registered" });
  return Object.assign(socket, { ip, code });
}

const chunkFrames = (code: string, chunkId: string) => [
  { type: "chunk_announce", peerId: code, chunks: [{ chunkId }] },
  { type: "chunk_request", peerId: code, chunkId, channelId: "ch" },
  { type: "chunk_push", peerId: code, chunkId, channelId: "ch", data: { v: 1 } },
];

describe("the attestation gate of chunk messages (REQUIRE_WS_ATTESTATION)", () => {
  it("passes in the first 30 s, then answers NOT_ATTESTED and keeps the socket open until it attests for an hour", async () => {
    const socket = await gatedSocket("true");
    const chunkId = `chunk-${crypto.randomUUID()}`;
    expect(await socket.ask(chunkFrames(socket.code, chunkId)[0]!)).toEqual({ type: "chunk_announce_ack", registered: 1 });

    await editSocket(socket.ip, (state) => void (state.connectedAt = Date.now() - 30_001));
    for (const frame of chunkFrames(socket.code, chunkId)) {
      const refused = await socket.ask(frame);
      expect(JSON.stringify(refused), frame.type).toBe(JSON.stringify(NOT_ATTESTED));
    }
    // Other messages are not gated, and the socket stays open.
    expect(await socket.ask({ type: "ping" })).toEqual({ type: "pong" });
    expect(socket.closed.code).toBeUndefined();

    const { device } = await registeredDevice();
    expect(await attest(socket, device)).toMatchObject({ type: "attest_success" });
    expect(await socket.ask(chunkFrames(socket.code, chunkId)[0]!)).toEqual({ type: "chunk_announce_ack", registered: 1 });
    expect(await socket.ask(chunkFrames(socket.code, chunkId)[2]!)).toMatchObject({ type: "chunk_push_ack", chunkId, cached: true });
    expect(await socket.ask(chunkFrames(socket.code, chunkId)[1]!)).toMatchObject({ type: "chunk_data", chunkId, source: "cache" });

    // The hour has passed.
    await editSocket(socket.ip, (state) => void (state.attestedUntil = Date.now() - 1));
    expect(await socket.ask(chunkFrames(socket.code, chunkId)[0]!)).toEqual(NOT_ATTESTED);
  });

  it("does not attest a socket whose verification yields no token (no signing key)", async () => {
    const { device } = await registeredDevice();
    const socket = await gatedSocket("true");
    await editSocket(socket.ip, (state) => void (state.connectedAt = Date.now() - 30_001));
    // The gateways' env is fixed by the test configuration, so the key is taken from their
    // instances for the duration of the exchange.
    const restore: (() => void)[] = [];
    for (let g = 0; g < GATEWAYS; g++) {
      await runInDurableObject(env.GATEWAY.getByName(`gateway:${g}`), (instance) => {
        const holder = instance as unknown as { env: Env };
        const original = holder.env;
        holder.env = { ...original, ATTESTATION_SIGNING_KEY: undefined };
        restore.push(() => void (holder.env = original));
      });
    }
    try {
      expect(JSON.stringify(await attest(socket, device))).toBe(JSON.stringify({ type: "attest_success", session_token: null }));
    } finally {
      restore.forEach((undo) => undo());
    }
    expect(await socket.ask(chunkFrames(socket.code, "c")[0]!)).toEqual(NOT_ATTESTED);
  });

  it("always passes unless the flag is exactly `true` (§2)", async () => {
    for (const flag of [undefined, "false", "TRUE"]) {
      const socket = await gatedSocket(flag);
      await editSocket(socket.ip, (state) => void (state.connectedAt = Date.now() - 3_600_000));
      const chunkId = `chunk-${crypto.randomUUID()}`;
      expect(await socket.ask(chunkFrames(socket.code, chunkId)[0]!), String(flag)).toEqual({ type: "chunk_announce_ack", registered: 1 });
      expect(await socket.ask(chunkFrames(socket.code, chunkId)[1]!)).toEqual({ type: "chunk_error", chunkId, error: "No source available for chunk" });
    }
  });
});
