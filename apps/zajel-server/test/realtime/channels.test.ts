/**
 * Channels (§7.7) over real sockets on several gateways: ownership, subscriptions, upstream
 * messages (delivered, queued, capped, rate-limited) and streams, with every error of the table.
 * Frames of one socket are sent one at a time (`ask`), since back-to-back frames of a test socket
 * may reach the gateway out of order.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registeredOn, shardOf, socketOn, type Frame, type TestSocket } from "./client.js";

const newChannel = () => `ch-${crypto.randomUUID()}`;
const error = (message: string) => ({ type: "error", message });
const subscribe = async (socket: TestSocket, channelId: string) => expect(await socket.ask({ type: "channel-subscribe", channelId })).toEqual({ type: "channel-subscribed", channelId });
const own = async (socket: TestSocket, channelId: string) =>
  expect(await socket.ask({ type: "channel-owner-register", channelId })).toEqual({ type: "channel-owner-registered", channelId });
const upstream = (channelId: string, message: unknown, ephemeralPublicKey = "epk") => ({ type: "upstream-message", channelId, message, ephemeralPublicKey });
/** A frame as sent on the wire, so key order is checked too. */
const text = (frame: Frame) => JSON.stringify(frame);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers `socket` as owner once the previous owner's close handler has released the channel. */
async function ownAfterRelease(socket: TestSocket, channelId: string): Promise<void> {
  let reply: Frame = {};
  for (let i = 0; i < 40 && reply.type !== "channel-owner-registered"; i++) {
    reply = await socket.ask({ type: "channel-owner-register", channelId });
    if (reply.type !== "channel-owner-registered") {
      expect(reply).toEqual(error("Channel already has an active owner"));
      await pause(50);
    }
  }
  expect(reply).toEqual({ type: "channel-owner-registered", channelId });
}

/** Waits until the channel's shard holds `n` subscriber rows (close handlers run after the client's close). */
async function subscriberRows(channelId: string, n: number): Promise<void> {
  const shard = env.CHANNELS.getByName(`channels:${await shardOf("channels", channelId)}`);
  const count = () => runInDurableObject(shard, (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM subscribers WHERE channel_id = ?", channelId).one().n);
  for (let i = 0; i < 40 && (await count()) !== n; i++) await pause(50);
  expect(await count()).toBe(n);
}

describe("channel ownership and subscriptions (§7.7)", () => {
  it("has one owner at a time: a socket on another gateway is refused until the owner's socket closes", async () => {
    const channelId = newChannel();
    const owner = await socketOn(0);
    const rival = await socketOn(1);
    await own(owner, channelId);
    expect(await rival.ask({ type: "channel-owner-register", channelId })).toEqual(error("Channel already has an active owner"));
    // The owner itself may register again.
    await own(owner, channelId);
    // Released by the close handler (§7.1.7).
    owner.ws.close(1000, "bye");
    await ownAfterRelease(rival, channelId);
  });

  it("validates channel ids: 1–256 characters; a non-string fails the required-field step", async () => {
    const socket = await socketOn(2);
    for (const type of ["channel-owner-register", "channel-subscribe"]) {
      expect(await socket.ask({ type, channelId: "" })).toEqual(error("Invalid channel ID"));
      expect(await socket.ask({ type, channelId: "x".repeat(257) })).toEqual(error("Invalid channel ID"));
      expect(await socket.ask({ type, channelId: 7 })).toEqual(error(`Invalid message: ${type}: channelId must be a string`));
      expect(await socket.ask({ type })).toEqual(error(`Invalid message: ${type}: channelId must be a string`));
    }
    await own(socket, "x".repeat(256));
    await subscribe(socket, "y".repeat(256));
    await subscribe(socket, "z");
  });

  it("subscribes idempotently and replays the active stream and the channel's cached chunks, in that order", async () => {
    const channelId = newChannel();
    const owner = await socketOn(0);
    await own(owner, channelId);
    // A cached chunk of the channel: announced by a source on gateway 3, then pushed by it.
    const source = await registeredOn(3);
    const chunkId = `chunk-${crypto.randomUUID()}`;
    expect(await source.ask({ type: "chunk_announce", peerId: source.code, channelId, chunks: [{ chunkId }] })).toEqual({ type: "chunk_announce_ack", registered: 1 });
    expect(await source.ask({ type: "chunk_push", peerId: source.code, chunkId, channelId, data: { bytes: "AAEC" } })).toMatchObject({ type: "chunk_push_ack", cached: true });
    expect(await owner.ask({ type: "stream-start", streamId: "s-1", channelId, title: { name: "Live", n: 1 } })).toEqual({
      type: "stream-started",
      streamId: "s-1",
      channelId,
      subscriberCount: 0,
    });

    const late = await socketOn(1);
    for (let i = 0; i < 2; i++) {
      expect(text(await late.ask({ type: "channel-subscribe", channelId }))).toBe(text({ type: "channel-subscribed", channelId }));
      expect(text(await late.next())).toBe(text({ type: "stream-start", streamId: "s-1", channelId, title: { name: "Live", n: 1 } }));
      expect(text(await late.next())).toBe(text({ type: "chunk_available", channelId, chunkIds: [chunkId] }));
    }
    // Subscribed twice, counted (and served) once.
    expect(await owner.ask({ type: "stream-start", streamId: "s-2", channelId, title: null })).toMatchObject({ type: "stream-started", subscriberCount: 1 });
    expect(await late.next()).toEqual({ type: "stream-start", streamId: "s-2", channelId, title: null });
    await late.quiet();
  });
});

describe("upstream messages (§7.7)", () => {
  it("reach an open owner on another gateway; the sender is acked with message.id or null", async () => {
    const channelId = newChannel();
    const owner = await socketOn(0);
    const sender = await socketOn(1);
    await own(owner, channelId);
    await subscribe(sender, channelId);
    const cases: [unknown, unknown][] = [
      [{ id: "m-1", ciphertext: "abc" }, "m-1"],
      [{ id: 42 }, 42],
      [{ ciphertext: "no id" }, null],
      ["a string message", null],
      [{ id: null }, null],
    ];
    for (const [message, messageId] of cases) {
      expect(text(await sender.ask(upstream(channelId, message, "key-1")))).toBe(text({ type: "upstream-ack", channelId, messageId }));
      expect(text(await owner.next())).toBe(text({ type: "upstream-message", channelId, message, ephemeralPublicKey: "key-1" }));
    }
  });

  it("refuses bad ids, a missing message, non-subscribers and the 31st message of a minute", async () => {
    const channelId = newChannel();
    const sender = await socketOn(2);
    expect(await sender.ask(upstream("", { id: 1 }))).toEqual(error("Invalid channel ID"));
    expect(await sender.ask(upstream("x".repeat(257), { id: 1 }))).toEqual(error("Invalid channel ID"));
    expect(await sender.ask(upstream(5 as never, { id: 1 }))).toEqual(error("Invalid message: upstream-message: channelId must be a string"));
    expect(await sender.ask({ type: "upstream-message", channelId, message: { id: 1 } })).toEqual(
      error("Invalid message: upstream-message: ephemeralPublicKey must be a string"),
    );
    // The id is checked before the message, the message before the subscription.
    expect(await sender.ask({ type: "upstream-message", channelId: "", ephemeralPublicKey: "k" })).toEqual(error("Invalid channel ID"));
    for (const message of [undefined, null, false, 0, ""]) {
      expect(await sender.ask(upstream(channelId, message)), String(message)).toEqual(error("Missing required field: message"));
    }
    expect(await sender.ask(upstream(channelId, { id: 1 }))).toEqual(error("Not subscribed to this channel"));

    // 30 per socket per minute; refused frames (not subscribed) do not count, and without an
    // owner the messages are queued and still acked.
    const limited = await socketOn(3);
    for (let i = 0; i < 30; i++) expect(await limited.ask(upstream(channelId, { id: i }))).toEqual(error("Not subscribed to this channel"));
    await subscribe(limited, channelId);
    for (let i = 0; i < 30; i++) expect(await limited.ask(upstream(channelId, { id: i }))).toEqual({ type: "upstream-ack", channelId, messageId: i });
    expect(await limited.ask(upstream(channelId, { id: 30 }))).toEqual(error("Upstream rate limit exceeded. Please slow down."));
    // Another socket has its own allowance.
    await subscribe(sender, channelId);
    expect(await sender.ask(upstream(channelId, { id: "other" }))).toEqual({ type: "upstream-ack", channelId, messageId: "other" });
  });

  it("are queued without an owner and delivered first, in order, when an owner registers; stale ones are dropped", async () => {
    const channelId = newChannel();
    const sender = await socketOn(1);
    await subscribe(sender, channelId);
    for (const id of ["q-1", "q-2", "q-3"]) await sender.ask(upstream(channelId, { id }));
    // q-1 is made older than 5 minutes in the channel's shard.
    await runInDurableObject(env.CHANNELS.getByName(`channels:${await shardOf("channels", channelId)}`), (_, state) => {
      state.storage.sql.exec("UPDATE upstream SET created_at = created_at - 300001 WHERE channel_id = ? AND frame LIKE '%\"q-1\"%'", channelId);
    });

    const owner = await socketOn(2);
    owner.send({ type: "channel-owner-register", channelId });
    for (const id of ["q-2", "q-3"]) expect(text(await owner.next())).toBe(text({ type: "upstream-message", channelId, message: { id }, ephemeralPublicKey: "epk" }));
    expect(await owner.next()).toEqual({ type: "channel-owner-registered", channelId });
    // The queue was cleared: the next owner gets nothing queued.
    owner.ws.close(1000, "bye");
    const successor = await socketOn(3);
    await ownAfterRelease(successor, channelId);
    await successor.quiet();
  });

  it("queue at most 100 per channel; later ones are dropped silently (the sender is still acked)", async () => {
    const channelId = newChannel();
    // 104 messages from four subscribers (30 per socket per minute), one at a time.
    const senders = await Promise.all([0, 1, 2, 3].map((g) => socketOn(g)));
    for (const s of senders) await subscribe(s, channelId);
    for (let i = 0; i < 104; i++) {
      expect(await senders[Math.floor(i / 26)]!.ask(upstream(channelId, { id: i }))).toEqual({ type: "upstream-ack", channelId, messageId: i });
    }
    const owner = await socketOn(0);
    owner.send({ type: "channel-owner-register", channelId });
    for (let i = 0; i < 100; i++) expect(await owner.next()).toEqual({ type: "upstream-message", channelId, message: { id: i }, ephemeralPublicKey: "epk" });
    expect(await owner.next()).toEqual({ type: "channel-owner-registered", channelId });
    await owner.quiet();
  });
});

describe("streams (§7.7)", () => {
  it("start, relay frames and end for subscribers on every gateway; only the owner may", async () => {
    const channelId = newChannel();
    const owner = await socketOn(0);
    await own(owner, channelId);
    // Two subscribers share gateway 1, so one batch carries frames for both.
    const subs = await Promise.all([1, 1, 2, 3].map((g) => socketOn(g)));
    for (const s of subs) await subscribe(s, channelId);
    const outsider = await socketOn(2);

    expect(await owner.ask({ type: "stream-start", streamId: "", channelId })).toEqual(error("Missing required fields: streamId, channelId"));
    expect(await owner.ask({ type: "stream-start", streamId: "s", channelId: "" })).toEqual(error("Missing required fields: streamId, channelId"));
    expect(await owner.ask({ type: "stream-start", streamId: 1, channelId })).toEqual(error("Invalid message: stream-start: streamId must be a string"));
    expect(await subs[0]!.ask({ type: "stream-start", streamId: "s", channelId })).toEqual(error("Only the channel owner can start a stream"));
    expect(await outsider.ask({ type: "stream-start", streamId: "s", channelId: "x".repeat(300) })).toEqual(error("Only the channel owner can start a stream"));
    expect(await owner.ask({ type: "stream-end", streamId: "s", channelId })).toEqual(error("Cannot end stream: not the owner or no active stream"));

    expect(text(await owner.ask({ type: "stream-start", streamId: "live", channelId, title: "Evening news" }))).toBe(
      text({ type: "stream-started", streamId: "live", channelId, subscriberCount: 4 }),
    );
    for (const s of subs) expect(text(await s.next())).toBe(text({ type: "stream-start", streamId: "live", channelId, title: "Evening news" }));

    owner.send({ type: "stream-frame", streamId: "live", channelId, frame: { seq: 1, data: "AAA" } });
    for (const s of subs) expect(text(await s.next())).toBe(text({ type: "stream-frame", streamId: "live", channelId, frame: { seq: 1, data: "AAA" } }));
    // Dropped silently: a subscriber's frame, another stream id, a missing frame, a foreign channel.
    subs[0]!.send({ type: "stream-frame", streamId: "live", channelId, frame: { forged: true } });
    outsider.send({ type: "stream-frame", streamId: "live", channelId, frame: { forged: true } });
    owner.send({ type: "stream-frame", streamId: "other", channelId, frame: { seq: 2 } });
    owner.send({ type: "stream-frame", streamId: "live", channelId });
    owner.send({ type: "stream-frame", streamId: "live", channelId: newChannel(), frame: { seq: 3 } });
    await Promise.all([owner, outsider, ...subs].map((s) => s.quiet()));

    expect(await subs[2]!.ask({ type: "stream-end", streamId: "live", channelId })).toEqual(error("Cannot end stream: not the owner or no active stream"));
    expect(await owner.ask({ type: "stream-end", streamId: "other", channelId })).toEqual(error("Cannot end stream: not the owner or no active stream"));
    expect(await owner.ask({ type: "stream-end", streamId: "live", channelId: "" })).toEqual(error("Missing required fields: streamId, channelId"));
    expect(text(await owner.ask({ type: "stream-end", streamId: "live", channelId }))).toBe(text({ type: "stream-ended", streamId: "live", channelId }));
    for (const s of subs) expect(text(await s.next())).toBe(text({ type: "stream-end", streamId: "live", channelId }));
    // Nothing active any more: frames are dropped, ending again fails, a new subscriber gets no replay.
    owner.send({ type: "stream-frame", streamId: "live", channelId, frame: { seq: 4 } });
    await Promise.all(subs.map((s) => s.quiet()));
    expect(await owner.ask({ type: "stream-end", streamId: "live", channelId })).toEqual(error("Cannot end stream: not the owner or no active stream"));
    await subscribe(outsider, channelId);
    await outsider.quiet();
  });

  it("end for every subscriber when the owner's socket closes; closed subscribers stop counting", async () => {
    const channelId = newChannel();
    const owner = await socketOn(3);
    await own(owner, channelId);
    const subs = await Promise.all([0, 1, 2].map((g) => socketOn(g)));
    for (const s of subs) await subscribe(s, channelId);
    await owner.ask({ type: "stream-start", streamId: "live", channelId, title: "t" });
    for (const s of subs) await s.next();

    subs[2]!.ws.close(1000, "bye");
    owner.ws.close(1000, "bye");
    for (const s of subs.slice(0, 2)) expect(text(await s.next())).toBe(text({ type: "stream-end", streamId: "live", channelId }));
    await subscriberRows(channelId, 2);

    // Ownership was released: a new owner on another gateway registers and reaches the two left.
    const successor = await socketOn(1);
    await own(successor, channelId);
    expect(await successor.ask({ type: "stream-start", streamId: "next", channelId, title: "t2" })).toMatchObject({ subscriberCount: 2 });
    for (const s of subs.slice(0, 2)) expect(await s.next()).toEqual({ type: "stream-start", streamId: "next", channelId, title: "t2" });
    expect(await subs[0]!.ask(upstream(channelId, { id: "hi" }))).toEqual({ type: "upstream-ack", channelId, messageId: "hi" });
    expect(await successor.next()).toEqual({ type: "upstream-message", channelId, message: { id: "hi" }, ephemeralPublicKey: "epk" });
  });

  it("replays a stream started without a title without a title key", async () => {
    const channelId = newChannel();
    const owner = await socketOn(0);
    await own(owner, channelId);
    expect(await owner.ask({ type: "stream-start", streamId: "untitled", channelId })).toMatchObject({ type: "stream-started", subscriberCount: 0 });
    const late = await socketOn(1);
    expect(await late.ask({ type: "channel-subscribe", channelId })).toEqual({ type: "channel-subscribed", channelId });
    expect(text(await late.next())).toBe(text({ type: "stream-start", streamId: "untitled", channelId }));
  });

  it("a new owner takes over a channel whose owner socket was lost without a close event, and its stream ends for subscribers", async () => {
    const channelId = newChannel();
    const owner = await socketOn(2);
    await own(owner, channelId);
    const sub = await socketOn(1);
    await subscribe(sub, channelId);
    await owner.ask({ type: "stream-start", streamId: "orphan", channelId, title: "t" });
    await sub.next();
    // As after a gateway reset: the owner row names a socket no gateway holds.
    const shard = env.CHANNELS.getByName(`channels:${await shardOf("channels", channelId)}`);
    await runInDurableObject(shard, (_, state) => void state.storage.sql.exec("UPDATE owners SET socket = 'lost' WHERE channel_id = ?", channelId));
    const successor = await socketOn(3);
    await own(successor, channelId);
    expect(text(await sub.next())).toBe(text({ type: "stream-end", streamId: "orphan", channelId }));
  });
});
