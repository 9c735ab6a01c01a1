/** Channel messages (§7.7): owners, subscribers, upstream messages and streams. */
import { completeValuesOf, valuesOf } from "durable-shards";
import { router } from "../keyspaces.js";
import { channelShard } from "./channel-store.js";
import { channelIdSchema } from "./chunks.js";
import { countInWindow } from "./frames.js";
import { fail, type Frame, type SocketContext } from "./socket.js";

const UPSTREAM_PER_WINDOW = 30;
const isChannelId = (value: unknown): value is string => channelIdSchema.safeParse(value).success;

export async function channelOwnerRegister(ctx: SocketContext, frame: Frame): Promise<void> {
  const channelId = frame.channelId;
  if (!isChannelId(channelId)) return fail(ctx, "Invalid channel ID");
  ctx.state.channels = true;
  const outcome = await channelShard(ctx.env, channelId).registerOwner(ctx.holder);
  if (outcome.kind === "busy") return fail(ctx, "Channel already has an active owner");
  for (const queued of outcome.queued) ctx.reply(JSON.parse(queued));
  ctx.reply({ type: "channel-owner-registered", channelId });
}

export async function channelSubscribe(ctx: SocketContext, frame: Frame): Promise<void> {
  const channelId = frame.channelId;
  if (!isChannelId(channelId)) return fail(ctx, "Invalid channel ID");
  ctx.state.channels = true;
  const stream = await channelShard(ctx.env, channelId).subscribe(ctx.holder);
  ctx.reply({ type: "channel-subscribed", channelId });
  if (stream) ctx.reply({ type: "stream-start", streamId: stream.streamId, channelId, ...("title" in stream ? { title: stream.title } : {}) });
  const cached = await router(ctx.env, "chunks").all((shard) => shard.cachedOf(channelId));
  const chunkIds = valuesOf(cached).flat().sort();
  if (chunkIds.length > 0) ctx.reply({ type: "chunk_available", channelId, chunkIds });
}

export async function upstreamMessage(ctx: SocketContext, frame: Frame): Promise<void> {
  const { channelId, message, ephemeralPublicKey } = frame;
  if (!isChannelId(channelId)) return fail(ctx, "Invalid channel ID");
  if (!message) return fail(ctx, "Missing required field: message");
  // Counted before the shard checks the subscription, and uncounted if it refuses: the rate is
  // the last check of §7.7, so a frame refused earlier does not use up the allowance.
  const window = { ...ctx.state.upstream };
  const allowed = countInWindow(ctx.state.upstream, UPSTREAM_PER_WINDOW, Date.now());
  const upstream = JSON.stringify({ type: "upstream-message", channelId, message, ephemeralPublicKey });
  const outcome = await channelShard(ctx.env, channelId).upstream(ctx.holder, upstream, allowed);
  if (outcome === "not-subscribed") {
    ctx.state.upstream = window;
    return fail(ctx, "Not subscribed to this channel");
  }
  if (outcome === "rate") return fail(ctx, "Upstream rate limit exceeded. Please slow down.");
  const id = typeof message === "object" && message !== null && "id" in message ? (message as { id: unknown }).id : null;
  ctx.reply({ type: "upstream-ack", channelId, messageId: id ?? null });
}

/** Stream frames name a channel the sender owns; an id no owner could have registered is not owned. */
function streamIds(frame: Frame): { streamId: string; channelId: string } | null {
  const { streamId, channelId } = frame as { streamId: string; channelId: string };
  return streamId === "" || channelId === "" ? null : { streamId, channelId };
}

export async function streamStart(ctx: SocketContext, frame: Frame): Promise<void> {
  const ids = streamIds(frame);
  if (!ids) return fail(ctx, "Missing required fields: streamId, channelId");
  const { streamId, channelId } = ids;
  const count = isChannelId(channelId) ? await channelShard(ctx.env, channelId).startStream(streamId, frame.title, ctx.holder) : null;
  if (count === null) return fail(ctx, "Only the channel owner can start a stream");
  ctx.reply({ type: "stream-started", streamId, channelId, subscriberCount: count });
}

export async function streamFrame(ctx: SocketContext, frame: Frame): Promise<void> {
  const ids = streamIds(frame);
  // Missing frame, no active stream or not the owner: dropped silently (§7.7).
  if (!ids || !("frame" in frame) || !isChannelId(ids.channelId)) return;
  await channelShard(ctx.env, ids.channelId).streamFrame(ids.streamId, frame.frame, ctx.holder);
}

export async function streamEnd(ctx: SocketContext, frame: Frame): Promise<void> {
  const ids = streamIds(frame);
  if (!ids) return fail(ctx, "Missing required fields: streamId, channelId");
  const { streamId, channelId } = ids;
  const ended = isChannelId(channelId) && (await channelShard(ctx.env, channelId).endStream(streamId, ctx.holder));
  if (!ended) return fail(ctx, "Cannot end stream: not the owner or no active stream");
  ctx.reply({ type: "stream-ended", streamId, channelId });
}

/** Releases the socket's channel ownerships and subscriptions (on close), on every shard. */
export async function releaseChannels(ctx: SocketContext): Promise<void> {
  if (!ctx.state.channels) return;
  ctx.state.channels = false;
  completeValuesOf(await router(ctx.env, "channels").all((shard) => shard.dropSocket(ctx.holder)), "release channels");
}
