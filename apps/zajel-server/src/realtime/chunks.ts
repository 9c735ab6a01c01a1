/** The chunk relay messages (§7.6): `chunk_announce`, `chunk_request`, `chunk_push`. */
import { completeValuesOf } from "durable-shards";
import { z } from "zod";
import { router } from "../keyspaces.js";
import { attestationGate } from "./attest.js";
import { channelShard } from "./channel-store.js";
import { chunkShard } from "./chunk-store.js";
import { fail, identityOf, type Frame, type SocketContext } from "./socket.js";

const PEER_ID = /^[A-Za-z0-9_-]{1,128}$/;
const chunkEntry = z.object({ chunkId: z.string().min(1).max(256) }).loose();
const routingHash = z.string().max(256).optional();
export const channelIdSchema = z.string().min(1).max(256);
const MAX_ID = 256;

export async function chunkAnnounce(ctx: SocketContext, frame: Frame): Promise<void> {
  if (!attestationGate(ctx)) return;
  if (!PEER_ID.test(frame.peerId as string)) return fail(ctx, "Invalid peerId");
  const chunks = frame.chunks as unknown[];
  if (chunks.length === 0) return fail(ctx, "Missing or empty chunks array");
  if (chunks.length > 100) return fail(ctx, "Too many chunks per announce (max 100)");
  for (const entry of chunks) {
    const parsed = chunkEntry.safeParse(entry);
    if (!parsed.success) return fail(ctx, "Invalid chunk entry: chunkId must be a string up to 256 chars");
    if (!routingHash.safeParse(parsed.data.routingHash).success) return fail(ctx, "Invalid chunk entry: routingHash must be a string up to 256 chars");
  }
  const channelId = frame.channelId;
  if (channelId !== undefined && !channelIdSchema.safeParse(channelId).success) return fail(ctx, "Invalid channel ID");
  const identity = identityOf(ctx.state)!;
  const ids = [...new Set(chunks.map((c) => (c as { chunkId: string }).chunkId))];
  ctx.state.chunks = true;
  // One call per shard, not per chunk: an announce may carry 100 chunks.
  const recorded = await router(ctx.env, "chunks").some(ids, (shard, owned) => shard.announce(owned, identity, ctx.holder));
  completeValuesOf(recorded, "chunk_announce");
  ctx.reply({ type: "chunk_announce_ack", registered: chunks.length });
  if (typeof channelId === "string") {
    await channelShard(ctx.env, channelId).broadcast({ type: "chunk_available", channelId, chunkIds: ids }, ctx.holder);
  }
}

/**
 * The first checks of `chunk_request` and `chunk_push`: the attestation gate, then non-empty ids.
 * Answers and returns undefined when one fails.
 */
function chunkAndChannel(ctx: SocketContext, frame: Frame): { chunkId: string; channelId: string } | undefined {
  if (!attestationGate(ctx)) return undefined;
  const chunkId = frame.chunkId as string;
  const channelId = frame.channelId as string;
  if (chunkId === "") return void fail(ctx, "Missing required field: chunkId");
  if (channelId === "") return void fail(ctx, "Missing required field: channelId");
  return { chunkId, channelId };
}

export async function chunkRequest(ctx: SocketContext, frame: Frame): Promise<void> {
  const ids = chunkAndChannel(ctx, frame);
  if (!ids) return;
  const { chunkId, channelId } = ids;
  const identity = identityOf(ctx.state);
  if (!identity) return fail(ctx, "Not registered");
  const noSource = { type: "chunk_error", chunkId, error: "No source available for chunk" };
  // An id longer than any announce accepts cannot have a source or a cache entry.
  if (chunkId.length > MAX_ID) return ctx.reply(noSource);
  const found = await chunkShard(ctx.env, chunkId).request(identity, ctx.holder);
  ctx.state.chunks = true;
  if (found.kind === "data") return ctx.reply({ type: "chunk_data", chunkId, channelId: found.channelId, data: JSON.parse(found.data), source: "cache" });
  if (found.kind === "none") return ctx.reply(noSource);
  if (found.kind === "pull") await ctx.push(found.source, { type: "chunk_pull", chunkId, channelId });
  ctx.reply({ type: "chunk_pulling", chunkId });
}

/** Serialized size of pushed data: JSON text length for an object, length for a string. */
function dataSize(data: object | string): number {
  return typeof data === "string" ? data.length : JSON.stringify(data).length;
}

export async function chunkPush(ctx: SocketContext, frame: Frame): Promise<void> {
  const ids = chunkAndChannel(ctx, frame);
  if (!ids) return;
  const { chunkId, channelId } = ids;
  const data = frame.data;
  if (!data || (typeof data !== "object" && typeof data !== "string")) return fail(ctx, "Missing required field: data");
  const identity = identityOf(ctx.state);
  if (!identity) return fail(ctx, "Not registered");
  if (chunkId.length > MAX_ID) return fail(ctx, "Unexpected chunk_push: chunk was not requested from or announced by this peer");
  if (channelId.length > MAX_ID) return fail(ctx, "Invalid channel ID");
  const size = dataSize(data);
  const outcome = await chunkShard(ctx.env, chunkId).push(channelId, JSON.stringify(data), size, identity, ctx.holder);
  if (outcome.kind === "unexpected") return fail(ctx, "Unexpected chunk_push: chunk was not requested from or announced by this peer");
  if (outcome.kind === "too-large") return fail(ctx, `Chunk payload too large: ${size} bytes exceeds 65536 byte limit`);
  ctx.state.chunks = true;
  const outbox = ctx.outbox();
  for (const waiter of outcome.waiters) outbox.add(waiter, { type: "chunk_data", chunkId, channelId, data, source: "relay" });
  const servedCount = await outbox.flush();
  ctx.reply({ type: "chunk_push_ack", chunkId, cached: true, servedCount });
}

/** Drops the socket's chunk sources, waiting requests and pulls (on close), on every shard. */
export async function releaseChunks(ctx: SocketContext): Promise<void> {
  if (!ctx.state.chunks) return;
  ctx.state.chunks = false;
  completeValuesOf(await router(ctx.env, "chunks").all((shard) => shard.dropSocket(ctx.holder)), "release chunk sources");
}
