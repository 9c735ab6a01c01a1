import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { peerIdOf, socketOn, type Frame } from "./client.js";

describe("relay registry (§7.4)", () => {
  it("registers relays on different gateways, lists those below half capacity, and updates load", async () => {
    const a = await socketOn(0);
    const b = await socketOn(1);
    const [peerA, peerB] = [peerIdOf("relay-a"), peerIdOf("relay-b")];
    const registeredA = await a.ask({ type: "register", peerId: peerA, maxConnections: "10", publicKey: "pk-a" });
    expect(registeredA).toMatchObject({ type: "registered", peerId: peerA });
    expect(Object.keys(registeredA)).toEqual(["type", "peerId", "serverId", "relays"]);
    const registeredB = (await b.ask({ type: "register", peerId: peerB })) as { relays: { peerId: string; publicKey: string | null; capacity: number }[] };
    expect(registeredB.relays).toContainEqual({ peerId: peerA, publicKey: "pk-a", capacity: 0 });
    expect(registeredB.relays.map((r) => r.peerId)).not.toContain(peerB);

    expect(await a.ask({ type: "update_load", peerId: peerA, connectedCount: 6 })).toEqual({ type: "load_updated", peerId: peerA, connectedCount: 6 });
    const listed = (await b.ask({ type: "get_relays", peerId: peerB, count: 100 })) as { relays: { peerId: string }[] };
    expect(listed.relays.map((r) => r.peerId)).not.toContain(peerA); // 6/10 ≥ 0.5
    await a.ask({ type: "update_load", peerId: peerA, connectedCount: 4 });
    expect(((await b.ask({ type: "get_relays", peerId: peerB })) as { relays: { peerId: string; capacity: number }[] }).relays).toContainEqual({
      peerId: peerA,
      publicKey: "pk-a",
      capacity: 0.4,
    });
    const ack = await a.ask({ type: "heartbeat", peerId: peerA });
    expect(ack).toMatchObject({ type: "heartbeat_ack" });
    expect(Math.abs((ack.timestamp as number) - Date.now())).toBeLessThan(5_000);

    a.ws.close(1000, "bye");
    await new Promise((r) => setTimeout(r, 100));
    const after = (await b.ask({ type: "get_relays", peerId: peerB, count: 100 })) as { relays: { peerId: string }[] };
    expect(after.relays.map((r) => r.peerId)).not.toContain(peerA);
  });

  it("keeps one namespace for codes and peerIds, and enforces identity on peerId frames", async () => {
    const a = await socketOn(2);
    const b = await socketOn(3);
    const shared = "ABC2XY";
    await a.ask({ type: "register", pairingCode: shared, publicKey: btoa(String.fromCharCode(...new Uint8Array(32).fill(3))) });
    expect(await b.ask({ type: "register", peerId: shared })).toEqual({ type: "error", message: "Peer ID already in use by another connection" });
    expect(await b.ask({ type: "get_relays", peerId: "someone" })).toEqual({ type: "error", message: "Not registered" });
    const peer = peerIdOf("relay-c");
    await b.ask({ type: "register", peerId: peer });
    expect(await b.ask({ type: "register", peerId: peerIdOf("other") })).toEqual({ type: "error", message: "Cannot re-register with a different peerId" });
    expect(await b.ask({ type: "heartbeat", peerId: "not-me" })).toEqual({ type: "error", message: "peerId mismatch with registered identity" });
    expect(await b.ask({ type: "heartbeat", peerId: 5 })).toEqual({ type: "error", message: "Invalid message: heartbeat: peerId must be a string" });
    const rows: [Frame, string][] = [
      [{ type: "register", peerId: "bad id!" }, "Invalid peerId: must be 1-128 alphanumeric characters, hyphens, or underscores"],
      [{ type: "register", peerId: peer, maxConnections: 0 }, "maxConnections must be a finite number between 1 and 1000"],
      [{ type: "register", peerId: peer, maxConnections: "lots" }, "maxConnections must be a finite number between 1 and 1000"],
      [{ type: "register", peerId: peer, publicKey: 7 }, "Invalid publicKey"],
      [{ type: "update_load", peerId: peer, connectedCount: -1 }, "Invalid connectedCount"],
      [{ type: "update_load", peerId: peer, connectedCount: "3" }, "Invalid connectedCount"],
    ];
    for (const [frame, message] of rows) expect(await b.ask(frame), message).toEqual({ type: "error", message });
    // The pairing-code holder sends relay frames under its code: not a relay peer, so ignored silently.
    a.send({ type: "heartbeat", peerId: shared });
    expect(await a.ask({ type: "ping" })).toEqual({ type: "pong" });
  });

  it("closes a relay whose registration was not refreshed for 60 s", async () => {
    const a = await socketOn(1);
    await a.ask({ type: "register", peerId: peerIdOf("relay-d") });
    const gateway = env.GATEWAY.getByName("gateway:1");
    await runInDurableObject(gateway, (_, state) => {
      for (const ws of state.getWebSockets()) {
        const attachment = ws.deserializeAttachment() as { relay?: string; relayRefreshedAt?: number };
        if (attachment.relay) ws.serializeAttachment({ ...attachment, relayRefreshedAt: Date.now() - 61_000 });
      }
    });
    await runDurableObjectAlarm(gateway);
    await a.wait(() => a.closed.code !== undefined);
    expect(a.closed).toEqual({ code: 1000, reason: "Heartbeat timeout" });
  });
});
