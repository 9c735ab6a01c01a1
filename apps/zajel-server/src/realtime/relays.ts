/** The relay registry over WebSocket (§7.4): relay peers share one namespace with pairing codes. */
import { valuesOf } from "durable-shards";
import { z } from "zod";
import { randomInt } from "../attestation/regions.js";
import { router } from "../keyspaces.js";
import { codeShard } from "./codes.js";
import { requireFields, type SocketContext } from "./socket.js";

const PEER_ID = /^[A-Za-z0-9_-]{1,128}$/;
const maxConnectionsSchema = z.coerce.number().finite().min(1).max(1000);
const connectedCountSchema = z.number().finite().min(0).max(10_000);


/** Relays below half capacity anywhere in the deployment, except `self`, shuffled, at most `count`. */
async function relayList(ctx: SocketContext, self: string | undefined, count: number) {
  const read = await router(ctx.env, "codes").all((shard) => shard.availableRelays());
  const relays = valuesOf(read).flat().filter((r) => r.peerId !== self);
  for (let i = relays.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [relays[i], relays[j]] = [relays[j]!, relays[i]!];
  }
  return relays.slice(0, count);
}

export async function registerRelay(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const invalid = requireFields("register", frame, { peerId: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const peerId = frame.peerId as string;
  if (!PEER_ID.test(peerId)) return ctx.reply({ type: "error", message: "Invalid peerId: must be 1-128 alphanumeric characters, hyphens, or underscores" });
  const given = frame.maxConnections;
  const max = given === undefined || given === null ? { success: true as const, data: 20 } : maxConnectionsSchema.safeParse(typeof given === "string" || typeof given === "number" ? given : NaN);
  if (!max.success) return ctx.reply({ type: "error", message: "maxConnections must be a finite number between 1 and 1000" });
  const publicKey = frame.publicKey;
  if (publicKey !== undefined && publicKey !== null && !(typeof publicKey === "string" && publicKey.length <= 1024)) {
    return ctx.reply({ type: "error", message: "Invalid publicKey" });
  }
  if (ctx.state.relay && ctx.state.relay !== peerId) {
    return ctx.reply({ type: "error", message: "Cannot re-register with a different peerId" });
  }
  const outcome = await codeShard(ctx.env, peerId).registerRelay(ctx.holder, max.data, (publicKey as string | undefined) ?? null);
  if (outcome === "collision") return ctx.reply({ type: "error", message: "Peer ID already in use by another connection" });
  ctx.state.relay = peerId;
  ctx.state.relayRefreshedAt = Date.now();
  ctx.reply({ type: "registered", peerId, serverId: await ctx.serverId(), relays: await relayList(ctx, peerId, 10) });
}

export async function updateLoad(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const peerId = frame.peerId as string;
  if (!PEER_ID.test(peerId)) return ctx.reply({ type: "error", message: "Invalid peerId" });
  if (ctx.state.relay !== peerId) return;
  const count = connectedCountSchema.safeParse(frame.connectedCount);
  if (!count.success) return ctx.reply({ type: "error", message: "Invalid connectedCount" });
  await codeShard(ctx.env, peerId).refreshRelay(ctx.holder, count.data);
  ctx.state.relayRefreshedAt = Date.now();
  ctx.reply({ type: "load_updated", peerId, connectedCount: count.data });
}

export async function getRelays(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const peerId = frame.peerId as string;
  if (!PEER_ID.test(peerId)) return ctx.reply({ type: "error", message: "Invalid peerId" });
  const requested = typeof frame.count === "number" && Number.isFinite(frame.count) ? frame.count : 10;
  const count = Math.min(100, Math.max(1, Math.floor(requested)));
  ctx.reply({ type: "relays", relays: await relayList(ctx, peerId, count) });
}

export async function relayHeartbeat(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const peerId = frame.peerId as string;
  if (!PEER_ID.test(peerId)) return ctx.reply({ type: "error", message: "Invalid peerId" });
  if (ctx.state.relay !== peerId) return;
  await codeShard(ctx.env, peerId).refreshRelay(ctx.holder);
  ctx.state.relayRefreshedAt = Date.now();
  ctx.reply({ type: "heartbeat_ack", timestamp: Date.now() });
}

/** Removes the socket's relay registration (on close). */
export async function releaseRelay(ctx: SocketContext): Promise<void> {
  const peerId = ctx.state.relay;
  if (!peerId) return;
  ctx.state.relay = undefined;
  await codeShard(ctx.env, peerId).releaseRelay(ctx.holder);
}
