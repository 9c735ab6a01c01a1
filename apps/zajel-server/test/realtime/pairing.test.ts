import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyOf, randomCode, shardOf, socketOn, type Frame } from "./client.js";

const KEY_A = keyOf(1);
const KEY_B = keyOf(2);

describe("pairing (§7.2) and forwarding (§7.3.1) across gateways and shards", () => {
  it("pairs two peers on different gateways whose codes are on different shards, and forwards offer/answer/ICE", async () => {
    const a = await socketOn(0);
    const b = await socketOn(1);
    const codeA = randomCode();
    const registered = await a.ask({ type: "register", pairingCode: codeA, publicKey: KEY_A });
    expect(registered).toMatchObject({ type: "registered", pairingCode: codeA });
    expect(Object.keys(registered)).toEqual(["type", "pairingCode", "serverId"]);
    let codeB = randomCode();
    while ((await shardOf("codes", codeB)) === (await shardOf("codes", codeA))) codeB = randomCode();
    expect(await b.ask({ type: "register", pairingCode: codeB, publicKey: KEY_B })).toMatchObject({ type: "registered", pairingCode: codeB });

    a.send({ type: "pair_request", targetCode: codeB, proposedName: "Phone" });
    expect(await b.next()).toEqual({ type: "pair_incoming", fromCode: codeA, fromPublicKey: KEY_A, expiresIn: 120_000, proposedName: "Phone" });
    b.send({ type: "pair_response", targetCode: codeA, accepted: true });
    expect(await a.next()).toEqual({ type: "pair_matched", peerCode: codeB, peerPublicKey: KEY_B, isInitiator: true });
    expect(await b.next()).toEqual({ type: "pair_matched", peerCode: codeA, peerPublicKey: KEY_A, isInitiator: false });

    a.send({ type: "offer", target: codeB, payload: { sdp: "v=0 offer" } });
    expect(await b.next()).toEqual({ type: "offer", from: codeA, payload: { sdp: "v=0 offer" } });
    b.send({ type: "answer", target: codeA, payload: { sdp: "v=0 answer" }, ignored: 1 });
    expect(await a.next()).toEqual({ type: "answer", from: codeB, payload: { sdp: "v=0 answer" } });
    a.send({ type: "ice_candidate", target: codeB });
    expect(await b.next()).toEqual({ type: "ice_candidate", from: codeA });

    // An unmatched peer gets the same answer as for a code nobody holds.
    const c = await socketOn(2);
    await c.ask({ type: "register", pairingCode: randomCode(), publicKey: KEY_A });
    expect(await c.ask({ type: "offer", target: codeB })).toEqual({ type: "error", message: `Peer not found: ${codeB}` });
    expect(await c.ask({ type: "offer", target: "ZZZZZ2" })).toEqual({ type: "error", message: "Peer not found: ZZZZZ2" });

    a.ws.close(1000, "bye");
    expect(await b.next()).toEqual({ type: "peer_left", peerCode: codeA, pairingCode: codeA });
    expect(await b.ask({ type: "offer", target: codeA })).toEqual({ type: "error", message: `Peer not found: ${codeA}` });
  });

  it("rejects, and answers pair_accept / pair_reject as aliases", async () => {
    const a = await socketOn(0);
    const b = await socketOn(3);
    const [codeA, codeB] = [randomCode(), randomCode()];
    await a.ask({ type: "register", pairingCode: codeA, publicKey: KEY_A });
    await b.ask({ type: "register", pairingCode: codeB, publicKey: KEY_B });
    a.send({ type: "pair_request", targetCode: codeB });
    expect(await b.next()).toEqual({ type: "pair_incoming", fromCode: codeA, fromPublicKey: KEY_A, expiresIn: 120_000 });
    b.send({ type: "pair_reject", targetCode: codeA });
    expect(await a.next()).toEqual({ type: "pair_rejected", peerCode: codeB });
    expect(await b.ask({ type: "pair_accept", targetCode: codeA })).toEqual({ type: "pair_error", error: "No pending request from this peer" });
    a.send({ type: "pair_request", targetCode: codeB });
    await b.next();
    b.send({ type: "pair_accept", targetCode: codeA });
    expect(await a.next()).toMatchObject({ type: "pair_matched", peerCode: codeB, isInitiator: true });
  });

  it("answers every registration and pairing error with the exact frame", async () => {
    const s = await socketOn(1);
    const other = await socketOn(2);
    const held = randomCode();
    await other.ask({ type: "register", pairingCode: held, publicKey: KEY_B });
    const rows: [Frame, Frame][] = [
      [{ type: "pair_request", targetCode: held }, { type: "error", message: "Not registered. Send register message first." }],
      [{ type: "offer", target: held }, { type: "error", message: "Not registered. Send register message first." }],
      [{ type: "pair_response", targetCode: held, accepted: true }, { type: "error", message: "Not registered. Send register message first." }],
      [{ type: "register", pairingCode: 5, publicKey: KEY_A }, { type: "error", message: "Invalid message: register: pairingCode must be a string" }],
      [{ type: "register", pairingCode: "ABC234" }, { type: "error", message: "Invalid message: register: publicKey must be a string" }],
      [{ type: "register", pairingCode: "", publicKey: KEY_A }, { type: "error", message: "Missing required field: pairingCode" }],
      [{ type: "register", pairingCode: "abc234", publicKey: KEY_A }, { type: "error", message: "Invalid pairing code format" }],
      [{ type: "register", pairingCode: "ABC1O0", publicKey: KEY_A }, { type: "error", message: "Invalid pairing code format" }],
      [{ type: "register", pairingCode: "ABC234", publicKey: "" }, { type: "error", message: "Missing required field: publicKey" }],
      [{ type: "register", pairingCode: "ABC234", publicKey: "not base64!" }, { type: "error", message: "Invalid public key format" }],
      [{ type: "register", pairingCode: "ABC234", publicKey: btoa("short") }, { type: "error", message: "Invalid public key length" }],
      [{ type: "register", pairingCode: held, publicKey: KEY_A }, { type: "code_collision", message: "Pairing code already in use. Please reconnect with a new code." }],
      [{ type: "pair_response", targetCode: held }, { type: "error", message: "Invalid message: pair_response: accepted must be a boolean" }],
    ];
    for (const [frame, answer] of rows) expect(await s.ask(frame), JSON.stringify(frame)).toEqual(answer);

    const mine = randomCode();
    expect(await s.ask({ type: "register", pairingCode: mine, publicKey: KEY_A })).toMatchObject({ type: "registered" });
    expect(await s.ask({ type: "register", pairingCode: mine, publicKey: KEY_B })).toMatchObject({ type: "registered", pairingCode: mine });
    const pairing: [Frame, Frame][] = [
      [{ type: "pair_request", targetCode: "" }, { type: "error", message: "Missing required field: targetCode" }],
      [{ type: "pair_request", targetCode: "nope" }, { type: "error", message: "Invalid target code format" }],
      [{ type: "pair_request", targetCode: mine }, { type: "pair_error", error: "Pair request could not be processed" }],
      [{ type: "pair_request", targetCode: "ZZZZZ3" }, { type: "pair_error", error: "Pair request could not be processed" }],
      [{ type: "pair_response", targetCode: "bad", accepted: true }, { type: "error", message: "Invalid target code format" }],
      [{ type: "offer", target: "" }, { type: "error", message: "Missing required field: target" }],
      [{ type: "offer", target: "bad" }, { type: "error", message: "Invalid target code format" }],
      [{ type: "offer" }, { type: "error", message: "Invalid message: offer: target must be a string" }],
    ];
    for (const [frame, answer] of pairing) expect(await s.ask(frame), JSON.stringify(frame)).toEqual(answer);
  });

  it("limits pair requests to 10 a minute per socket", async () => {
    const s = await socketOn(0);
    await s.ask({ type: "register", pairingCode: randomCode(), publicKey: KEY_A });
    for (let i = 0; i < 10; i++) expect(await s.ask({ type: "pair_request", targetCode: "ZZZZZ4" })).toEqual({ type: "pair_error", error: "Pair request could not be processed" });
    expect(await s.ask({ type: "pair_request", targetCode: "ZZZZZ4" })).toEqual({ type: "error", message: "Too many pair requests. Please slow down." });
  });
});

describe("call signaling (§7.3.2)", () => {
  it("forwards call_* between matched peers after checking callId, sdp and candidate", async () => {
    const a = await socketOn(2);
    const b = await socketOn(3);
    const [codeA, codeB] = [randomCode(), randomCode()];
    await a.ask({ type: "register", pairingCode: codeA, publicKey: KEY_A });
    await b.ask({ type: "register", pairingCode: codeB, publicKey: KEY_B });
    a.send({ type: "pair_request", targetCode: codeB });
    await b.next();
    b.send({ type: "pair_response", targetCode: codeA, accepted: true });
    await a.next();
    await b.next();

    const callId = "6f1c9a3e-2b4d-4c8e-9f00-1a2b3c4d5e6f";
    const offer = { type: "call_offer", target: codeB, payload: { callId, sdp: "v=0\r\n", withVideo: true } };
    a.send(offer);
    expect(await b.next()).toEqual({ type: "call_offer", from: codeA, payload: offer.payload });
    b.send({ type: "call_reject", target: codeA, payload: { callId, reason: "busy" } });
    expect(await a.next()).toEqual({ type: "call_reject", from: codeB, payload: { callId, reason: "busy" } });

    const rows: [Record<string, unknown>, string][] = [
      [{ type: "call_offer", target: codeB }, "Missing or invalid payload"],
      [{ type: "call_offer", target: codeB, payload: [] }, "Missing or invalid payload"],
      [{ type: "call_offer", target: codeB, payload: { callId: "nope", sdp: "x" } }, "Invalid or missing callId (must be UUID v4 format)"],
      [{ type: "call_hangup", target: codeB, payload: { callId: "6f1c9a3e-2b4d-1c8e-9f00-1a2b3c4d5e6f" } }, "Invalid or missing callId (must be UUID v4 format)"],
      [{ type: "call_answer", target: codeB, payload: { callId } }, "Missing or invalid sdp in call_answer"],
      [{ type: "call_offer", target: codeB, payload: { callId, sdp: "x".repeat(65_537) } }, "SDP too large (max 65536 bytes)"],
      [{ type: "call_ice", target: codeB, payload: { callId, candidate: "" } }, "Missing or invalid candidate in call_ice"],
      [{ type: "call_ice", target: codeB, payload: { callId, candidate: "c".repeat(1025) } }, "ICE candidate too large (max 1024 bytes)"],
      [{ type: "call_hangup", target: "ZZZZZ5", payload: { callId } }, "Peer not found: ZZZZZ5"],
    ];
    for (const [frame, message] of rows) expect(await a.ask(frame), message).toEqual({ type: "error", message });
  });
});

describe("pair request timers (§7.2)", () => {
  it("tells both sides at 90 s and times the request out at 120 s", async () => {
    const a = await socketOn(1);
    const b = await socketOn(2);
    const [codeA, codeB] = [randomCode(), randomCode()];
    await a.ask({ type: "register", pairingCode: codeA, publicKey: KEY_A });
    await b.ask({ type: "register", pairingCode: codeB, publicKey: KEY_B });
    a.send({ type: "pair_request", targetCode: codeB });
    await b.next();
    // The request lives in the target's shard; make its timers due one after the other.
    const shard = env.CODES.getByName(`codes:${await shardOf("codes", codeB)}`);
    const fire = async (kind: string) => {
      await runInDurableObject(shard, (_, state) => {
        state.storage.sql.exec("UPDATE _ds_timers SET due_at = 0 WHERE name LIKE ?", `${kind}|${codeB}|${codeA}|%`);
      });
      await runDurableObjectAlarm(shard);
    };
    await fire("expiring");
    expect(await a.next()).toEqual({ type: "pair_expiring", peerCode: codeB, remainingSeconds: 30 });
    expect(await b.next()).toEqual({ type: "pair_expiring", peerCode: codeA, remainingSeconds: 30 });
    await fire("timeout");
    expect(await a.next()).toEqual({ type: "pair_timeout", peerCode: codeB });
    expect(await b.ask({ type: "pair_response", targetCode: codeA, accepted: true })).toEqual({ type: "pair_error", error: "No pending request from this peer" });
  });
});

describe("device linking (§7.3.3)", () => {
  it("links a web client to the mobile app's code, then forwards between them", async () => {
    const mobile = await socketOn(0);
    const web = await socketOn(3);
    const [linkCode, webCode] = [randomCode(), randomCode()];
    await mobile.ask({ type: "register", pairingCode: linkCode, publicKey: KEY_A });
    await web.ask({ type: "register", pairingCode: webCode, publicKey: KEY_B });
    web.send({ type: "link_request", linkCode, publicKey: "web-link-key" });
    expect(await mobile.next()).toEqual({ type: "link_request", linkCode, publicKey: "web-link-key", deviceName: "Unknown Browser", expiresIn: 120_000 });
    mobile.send({ type: "link_response", linkCode, accepted: true, deviceId: "phone-1" });
    expect(await web.next()).toEqual({ type: "link_matched", linkCode, peerPublicKey: KEY_A, isInitiator: true, deviceId: "phone-1" });
    expect(await mobile.next()).toEqual({
      type: "link_matched",
      linkCode,
      peerPublicKey: "web-link-key",
      isInitiator: false,
      webClientCode: webCode,
      deviceName: "Unknown Browser",
    });
    web.send({ type: "offer", target: linkCode, payload: { sdp: "x" } });
    expect(await mobile.next()).toEqual({ type: "offer", from: webCode, payload: { sdp: "x" } });
  });

  it("rejects, times out when the web side leaves, and answers link errors", async () => {
    const mobile = await socketOn(1);
    const web = await socketOn(2);
    const [linkCode, webCode] = [randomCode(), randomCode()];
    await mobile.ask({ type: "register", pairingCode: linkCode, publicKey: KEY_A });
    expect(await web.ask({ type: "link_request", linkCode, publicKey: "k" })).toEqual({ type: "error", message: "Not registered. Send register message first." });
    await web.ask({ type: "register", pairingCode: webCode, publicKey: KEY_B });
    const rows: [Frame, Frame][] = [
      [{ type: "link_request", linkCode: "", publicKey: "k" }, { type: "error", message: "Missing required field: linkCode" }],
      [{ type: "link_request", linkCode: "bad", publicKey: "k" }, { type: "error", message: "Invalid link code format" }],
      [{ type: "link_request", linkCode, publicKey: "" }, { type: "error", message: "Missing required field: publicKey" }],
      [{ type: "link_request", linkCode }, { type: "error", message: "Invalid message: link_request: publicKey must be a string" }],
      [{ type: "link_request", linkCode: "ZZZZZ6", publicKey: "k" }, { type: "link_error", error: "Link request could not be processed" }],
      [{ type: "link_response", linkCode, accepted: true }, { type: "error", message: "Cannot respond to link request for another device" }],
      [{ type: "link_response", linkCode: "bad", accepted: true }, { type: "error", message: "Invalid link code format" }],
      [{ type: "link_response", linkCode: webCode, accepted: true }, { type: "link_error", error: "No pending link request found" }],
    ];
    for (const [frame, answer] of rows) expect(await web.ask(frame), JSON.stringify(frame)).toEqual(answer);

    web.send({ type: "link_request", linkCode, publicKey: "k", deviceName: "Firefox" });
    expect(await mobile.next()).toMatchObject({ type: "link_request", deviceName: "Firefox" });
    mobile.send({ type: "link_response", linkCode, accepted: false });
    expect(await web.next()).toEqual({ type: "link_rejected", linkCode });

    web.send({ type: "link_request", linkCode, publicKey: "k" });
    await mobile.next();
    web.ws.close(1000, "gone");
    expect(await mobile.next()).toEqual({ type: "link_timeout", linkCode });
  });
});
