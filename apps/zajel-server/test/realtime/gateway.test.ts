import { runDurableObjectAlarm, runInDurableObject, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { verify } from "../../src/crypto/ed25519.js";
import { fromBase64 } from "../../src/crypto/encoding.js";
import { connect } from "./client.js";

describe("WebSocket connection lifecycle (§7.1)", () => {
  it("accepts upgrades on / and unknown paths and greets with server_info then a verifiable server_identity", async () => {
    for (const path of ["/", "/ws", "/signal", "/anything?x=1"]) {
      const client = await connect(path);
      await client.wait(() => client.frames.length >= 2);
      const [info, identity] = client.frames as [Record<string, string>, Record<string, string>] & Record<string, string>[];
      expect(Object.keys(info)).toEqual(["type", "serverId", "endpoint", "region"]);
      expect(info).toMatchObject({ type: "server_info", endpoint: "wss://signal.zajel.test/", region: null });
      expect(Object.keys(identity)).toEqual(["type", "public_key", "nonce", "signature"]);
      const { public_key: key = "", signature = "", nonce = "" } = identity;
      expect(info.serverId).toBe(`ed25519:${key.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`);
      expect(await verify(fromBase64(key)!, fromBase64(signature)!, fromBase64(nonce)!)).toBe(true);
      client.ws.close();
    }
  });

  it("answers ping with pong and bad frames with the exact errors, and keeps working", async () => {
    const client = await connect();
    const sends: [string | ArrayBuffer, string][] = [
      ["not json", "Invalid message format: JSON parse error"],
      ["[1,2]", "Invalid message: Message must be a JSON object"],
      ['"text"', "Invalid message: Message must be a JSON object"],
      ['{"no":"type"}', 'Invalid message: Missing or invalid "type" field'],
      ['{"type":5}', 'Invalid message: Missing or invalid "type" field'],
      ['{"type":"PING"}', "Unknown message type: PING"],
      ['{"type":"nonsense","x":1}', "Unknown message type: nonsense"],
    ];
    // One frame at a time: this checks each answer, not ordering under load.
    await client.next();
    await client.next();
    for (const [frame, message] of sends) {
      client.ws.send(frame);
      expect(await client.next()).toEqual({ type: "error", message });
    }
    client.ws.send(new TextEncoder().encode('{"type":"ping","extra":true}').buffer as ArrayBuffer);
    expect(await client.next()).toEqual({ type: "pong" });
  });

  it("closes with 1009 after a frame over 256 KB", async () => {
    const client = await connect();
    await client.wait(() => client.frames.length >= 2);
    client.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(262_144) }));
    await client.wait(() => client.closed.code !== undefined);
    expect(client.frames.at(-1)).toEqual({ type: "error", message: "Message too large" });
    expect(client.closed).toEqual({ code: 1009, reason: "Message Too Big" });
  });

  it("refuses the 101st frame of a minute on one socket, counting unparseable frames too", async () => {
    const client = await connect();
    await client.wait(() => client.frames.length >= 2);
    for (let i = 0; i < 50; i++) client.ws.send("garbage");
    for (let i = 0; i < 52; i++) client.ws.send('{"type":"ping"}');
    await client.wait(() => client.frames.length >= 2 + 102);
    const replies = client.frames.slice(2);
    const limited = replies.filter((f) => f.message === "Rate limit exceeded. Please slow down.");
    expect(limited).toHaveLength(2);
    expect(replies.filter((f) => f.type === "pong").length + replies.filter((f) => f.message === "Invalid message format: JSON parse error").length).toBe(100);
    // Another socket is not affected.
    const other = await connect();
    await other.wait(() => other.frames.length >= 2);
    other.ws.send('{"type":"ping"}');
    await other.wait(() => other.frames.length >= 3);
    expect(other.frames[2]).toEqual({ type: "pong" });
  });

  it("closes a socket that pinged and then fell silent for 90 s (state kept in its attachment)", async () => {
    const client = await connect();
    await client.wait(() => client.frames.length >= 2);
    client.ws.send('{"type":"ping"}');
    await client.wait(() => client.frames.length >= 3);
    // Make every socket of every gateway look silent for 91 s, then run the liveness alarms.
    for (let i = 0; i < 4; i++) {
      const gateway = env.GATEWAY.getByName(`gateway:${i}`);
      await runInDurableObject(gateway, (_, state) => {
        for (const ws of state.getWebSockets()) {
          const attachment = ws.deserializeAttachment() as { lastFrameAt: number };
          ws.serializeAttachment({ ...attachment, lastFrameAt: Date.now() - 91_000 });
        }
      });
      await runDurableObjectAlarm(gateway);
    }
    await client.wait(() => client.closed.code !== undefined);
    expect(client.closed).toEqual({ code: 1000, reason: "Heartbeat timeout" });
  });
});
