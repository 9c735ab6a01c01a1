import { env, runInDurableObject } from "cloudflare:test";
import { evictDurableObject } from "../evict.js";
import { describe, expect, it } from "vitest";
import { CACHE_CAP_PER_SHARD, type ChunkStore } from "../../src/realtime/chunk-store.js";
import { registeredOn, shardOf, socketOn, type Frame } from "./client.js";

const chunk = (name = "chunk") => `${name}-${crypto.randomUUID()}`;
const channel = () => `channel-${crypto.randomUUID()}`;

async function chunkStub(chunkId: string) {
  return env.CHUNKS.getByName(`chunks:${await shardOf("chunks", chunkId)}`);
}

describe("chunk relay (§7.6)", () => {
  it("announce → request pulls from the source on another gateway → push serves every waiter, then the cache answers", async () => {
    const source = await registeredOn(0);
    const first = await registeredOn(1);
    const second = await registeredOn(2);
    const id = chunk();
    const ch = channel();
    expect(await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id, routingHash: "h" }] })).toEqual({
      type: "chunk_announce_ack",
      registered: 1,
    });
    expect(await first.ask({ type: "chunk_request", chunkId: id, channelId: ch })).toEqual({ type: "chunk_pulling", chunkId: id });
    expect(await source.next()).toEqual({ type: "chunk_pull", chunkId: id, channelId: ch });
    // A second requester joins the active pull; the source is not asked twice.
    expect(await second.ask({ type: "chunk_request", chunkId: id, channelId: ch, peerId: second.code })).toEqual({ type: "chunk_pulling", chunkId: id });
    await source.quiet(200);
    const data = { ciphertext: "AAEC", n: 1, nested: { ok: true } };
    expect(await source.ask({ type: "chunk_push", chunkId: id, channelId: ch, data, peerId: source.code })).toEqual({
      type: "chunk_push_ack",
      chunkId: id,
      cached: true,
      servedCount: 2,
    });
    for (const waiter of [first, second]) expect(await waiter.next()).toEqual({ type: "chunk_data", chunkId: id, channelId: ch, data, source: "relay" });
    // Served data is the JSON value pushed: an object stays an object.
    const later = await registeredOn(3);
    expect(await later.ask({ type: "chunk_request", chunkId: id, channelId: "other" })).toEqual({ type: "chunk_data", chunkId: id, channelId: ch, data, source: "cache" });
  });

  it("a string stays a string; a push replaces the cached entry", async () => {
    const source = await registeredOn(0);
    const reader = await registeredOn(1);
    const id = chunk();
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    await source.ask({ type: "chunk_push", chunkId: id, channelId: "c1", data: "first" });
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c1" })).toMatchObject({ data: "first", channelId: "c1", source: "cache" });
    await source.ask({ type: "chunk_push", chunkId: id, channelId: "c2", data: "second" });
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c1" })).toMatchObject({ data: "second", channelId: "c2" });
  });

  it("no source → chunk_error; a source's own request is not sent back to it; sources leave with their socket and the pull lapses", async () => {
    const source = await registeredOn(0);
    const reader = await registeredOn(1);
    const id = chunk();
    const none = { type: "chunk_error", chunkId: id, error: "No source available for chunk" };
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toEqual(none);
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    expect(await source.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toEqual(none);
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toEqual({ type: "chunk_pulling", chunkId: id });
    source.ws.close();
    // Once the source's close is processed, the pull has lapsed and no source is left.
    const deadline = Date.now() + 5_000;
    let answer: Frame = {};
    while (Date.now() < deadline) {
      const other = await registeredOn(2);
      answer = await other.ask({ type: "chunk_request", chunkId: id, channelId: "c" });
      other.ws.close();
      if (answer.type === "chunk_error") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answer).toEqual({ type: "chunk_error", chunkId: id, error: "No source available for chunk" });
  });

  it("waiters expire after 2 minutes and the pull lapses, so a later request starts a new pull", async () => {
    const source = await registeredOn(0);
    const reader = await registeredOn(1);
    const id = chunk();
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" });
    expect(await source.next()).toMatchObject({ type: "chunk_pull", chunkId: id });
    await runInDurableObject(await chunkStub(id), (_: ChunkStore, state) => {
      state.storage.sql.exec("UPDATE waiters SET expires_at = 0 WHERE chunk_id = ?", id);
    });
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toEqual({ type: "chunk_pulling", chunkId: id });
    expect(await source.next()).toMatchObject({ type: "chunk_pull", chunkId: id });
  });

  it("only solicited pushes are accepted (§9 item 6), with the size limit checked after", async () => {
    const source = await registeredOn(0);
    const stranger = await registeredOn(1);
    const id = chunk();
    const unexpected = { type: "error", message: "Unexpected chunk_push: chunk was not requested from or announced by this peer" };
    expect(await stranger.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: "x" })).toEqual(unexpected);
    expect(await stranger.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: "x".repeat(70_000) })).toEqual(unexpected);
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    const big = { blob: "x".repeat(65_530) };
    const size = JSON.stringify(big).length;
    expect(await source.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: big })).toEqual({
      type: "error",
      message: `Chunk payload too large: ${size} bytes exceeds 65536 byte limit`,
    });
    expect(await source.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: "y".repeat(65_536) })).toMatchObject({ type: "chunk_push_ack", servedCount: 0 });
  });

  it("keeps at most its share of 1,000 entries per shard, evicting the least recently accessed first", async () => {
    // Two sources, so no socket goes over 100 frames a minute.
    const sources = [await registeredOn(0), await registeredOn(2)];
    const reader = await registeredOn(1);
    const target = await shardOf("chunks", "anchor");
    const ids: string[] = [];
    while (ids.length < CACHE_CAP_PER_SHARD + 1) {
      const id = chunk("lru");
      if ((await shardOf("chunks", id)) === target) ids.push(id);
    }
    const stub = env.CHUNKS.getByName(`chunks:${target}`);
    await runInDurableObject(stub, (_: ChunkStore, state) => void state.storage.sql.exec("DELETE FROM cache"));
    const sourceOf = (i: number) => sources[i % 2]!;
    for (const [s, source] of sources.entries()) {
      const mine = ids.filter((_, i) => i % 2 === s);
      await source.ask({ type: "chunk_announce", peerId: source.code, chunks: mine.map((chunkId) => ({ chunkId })) });
    }
    for (const [i, id] of ids.slice(0, -1).entries()) {
      expect(await sourceOf(i).ask({ type: "chunk_push", chunkId: id, channelId: "c", data: `d${i}` })).toMatchObject({ type: "chunk_push_ack" });
    }
    // Touch the oldest entry so the second oldest becomes least recently accessed.
    expect(await reader.ask({ type: "chunk_request", chunkId: ids[0]!, channelId: "c" })).toMatchObject({ type: "chunk_data", source: "cache" });
    await sourceOf(ids.length - 1).ask({ type: "chunk_push", chunkId: ids.at(-1)!, channelId: "c", data: "last" });
    const cached = await runInDurableObject(stub, (_: ChunkStore, state) =>
      state.storage.sql.exec<{ chunk_id: string }>("SELECT chunk_id FROM cache").toArray().map((r) => r.chunk_id),
    );
    expect(cached.length).toBe(CACHE_CAP_PER_SHARD);
    expect(cached).toContain(ids[0]);
    expect(cached).not.toContain(ids[1]);
  }, 30_000);

  it("entries expire after 30 minutes: an expired entry is not served, so the request pulls again", async () => {
    const source = await registeredOn(0);
    const reader = await registeredOn(1);
    const id = chunk();
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    await source.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: "v" });
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toMatchObject({ type: "chunk_data", source: "cache" });
    await runInDurableObject(await chunkStub(id), (_: ChunkStore, state) => {
      state.storage.sql.exec("UPDATE cache SET cached_at = cached_at - 1800000 WHERE chunk_id = ?", id);
    });
    expect(await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" })).toEqual({ type: "chunk_pulling", chunkId: id });
    expect(await source.next()).toMatchObject({ type: "chunk_pull", chunkId: id });
  });

  it("loses nothing when the chunk shard is evicted mid-transfer", async () => {
    const source = await registeredOn(0);
    const reader = await registeredOn(3);
    const id = chunk();
    await source.ask({ type: "chunk_announce", peerId: source.code, chunks: [{ chunkId: id }] });
    await reader.ask({ type: "chunk_request", chunkId: id, channelId: "c" });
    expect(await source.next()).toMatchObject({ type: "chunk_pull", chunkId: id });
    await evictDurableObject(await chunkStub(id));
    expect(await source.ask({ type: "chunk_push", chunkId: id, channelId: "c", data: { part: 1 } })).toMatchObject({ type: "chunk_push_ack", servedCount: 1 });
    expect(await reader.next()).toEqual({ type: "chunk_data", chunkId: id, channelId: "c", data: { part: 1 }, source: "relay" });
  });

  it("tells the other subscribers of a channel about announced chunks", async () => {
    const ch = channel();
    const owner = await registeredOn(0);
    const subscriber = await socketOn(2);
    expect(await subscriber.ask({ type: "channel-subscribe", channelId: ch })).toEqual({ type: "channel-subscribed", channelId: ch });
    expect(await owner.ask({ type: "channel-subscribe", channelId: ch })).toEqual({ type: "channel-subscribed", channelId: ch });
    const ids = [chunk(), chunk()];
    expect(await owner.ask({ type: "chunk_announce", peerId: owner.code, channelId: ch, chunks: ids.map((chunkId) => ({ chunkId })) })).toEqual({
      type: "chunk_announce_ack",
      registered: 2,
    });
    expect(await subscriber.next()).toEqual({ type: "chunk_available", channelId: ch, chunkIds: ids });
    await owner.quiet(200);
  });

  it("answers every validation error of the §7.6 table", async () => {
    const socket = await registeredOn(1);
    const me = socket.code;
    const long = "x".repeat(257);
    const cases: [Frame, string][] = [
      [{ type: "chunk_announce", peerId: me }, "Invalid message: chunk_announce: chunks must be a array"],
      [{ type: "chunk_announce", chunks: [] }, "Invalid message: chunk_announce: peerId must be a string"],
      [{ type: "chunk_announce", peerId: "other", chunks: [] }, "peerId mismatch with registered identity"],
      [{ type: "chunk_announce", peerId: me, chunks: [] }, "Missing or empty chunks array"],
      [{ type: "chunk_announce", peerId: me, chunks: Array.from({ length: 101 }, (_, i) => ({ chunkId: `c${i}` })) }, "Too many chunks per announce (max 100)"],
      [{ type: "chunk_announce", peerId: me, chunks: [{ chunkId: "" }] }, "Invalid chunk entry: chunkId must be a string up to 256 chars"],
      [{ type: "chunk_announce", peerId: me, chunks: [{ chunkId: long }] }, "Invalid chunk entry: chunkId must be a string up to 256 chars"],
      [{ type: "chunk_announce", peerId: me, chunks: ["c1"] }, "Invalid chunk entry: chunkId must be a string up to 256 chars"],
      [{ type: "chunk_announce", peerId: me, chunks: [{ chunkId: "c", routingHash: 5 }] }, "Invalid chunk entry: routingHash must be a string up to 256 chars"],
      [{ type: "chunk_announce", peerId: me, chunks: [{ chunkId: "c" }], channelId: "" }, "Invalid channel ID"],
      [{ type: "chunk_announce", peerId: me, chunks: [{ chunkId: "c" }], channelId: long }, "Invalid channel ID"],
      [{ type: "chunk_request", channelId: "c" }, "Invalid message: chunk_request: chunkId must be a string"],
      [{ type: "chunk_request", chunkId: "c" }, "Invalid message: chunk_request: channelId must be a string"],
      [{ type: "chunk_request", chunkId: "", channelId: "c" }, "Missing required field: chunkId"],
      [{ type: "chunk_request", chunkId: "c", channelId: "" }, "Missing required field: channelId"],
      [{ type: "chunk_request", chunkId: "c", channelId: "c", peerId: "other" }, "peerId mismatch with registered identity"],
      [{ type: "chunk_push", chunkId: "", channelId: "c", data: "x" }, "Missing required field: chunkId"],
      [{ type: "chunk_push", chunkId: "c", channelId: "", data: "x" }, "Missing required field: channelId"],
      ...[undefined, null, false, 0, ""].map((data): [Frame, string] => [{ type: "chunk_push", chunkId: "c", channelId: "c", data }, "Missing required field: data"]),
    ];
    for (const [frame, message] of cases) expect(await socket.ask(frame), JSON.stringify(frame).slice(0, 90)).toEqual({ type: "error", message });
    const anonymous = await socketOn(2);
    expect(await anonymous.ask({ type: "chunk_request", chunkId: "c", channelId: "c" })).toEqual({ type: "error", message: "Not registered" });
    expect(await anonymous.ask({ type: "chunk_push", chunkId: "c", channelId: "c", data: "x" })).toEqual({ type: "error", message: "Not registered" });
    expect(await anonymous.ask({ type: "chunk_announce", peerId: "x", chunks: [{ chunkId: "c" }] })).toEqual({ type: "error", message: "Not registered" });
  });
});
