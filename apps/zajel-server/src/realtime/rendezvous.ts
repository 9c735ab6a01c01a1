/** `register_rendezvous` (§7.5): daily points with dead drops, hourly tokens with live matches. */
import { completeValuesOf } from "durable-shards";
import { z } from "zod";
import { router } from "../keyspaces.js";
import { codeShard } from "./codes.js";
import { DAILY_TTL_MS, HOURLY_TTL_MS, placeShard, type PlaceEntry } from "./rendezvous-store.js";
import { fail, type Frame, type SocketContext } from "./socket.js";

const PEER_ID = /^[A-Za-z0-9_-]{1,128}$/;
const place = z.string().max(128);
const places = z.array(z.unknown()).max(50);
const deadDrop = z.string().max(4096);

/** The first present field of `names`, or `fallback`. */
function firstOf(frame: Frame, names: string[], fallback: unknown): unknown {
  for (const name of names) if (name in frame) return frame[name];
  return fallback;
}

/** A list of places, or the error text. */
function placeList(value: unknown, label: string): string[] | string {
  if (!places.safeParse(value).success) return `Too many ${label} (max 50)`;
  const list = value as unknown[];
  if (!list.every((p) => place.safeParse(p).success)) return `Invalid ${label} format`;
  return list as string[];
}

/** The dead drop map, or the error text. */
function deadDropMap(value: unknown): Record<string, string> | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "Invalid dead drops";
  const entries = Object.entries(value);
  if (entries.length > 50) return "Too many dead drops";
  for (const [key, payload] of entries) {
    if (!place.safeParse(key).success) return "Invalid dead drop key";
    if (!deadDrop.safeParse(payload).success) return "Dead drop payload too large (max 4KB)";
  }
  return value as Record<string, string>;
}

interface Registration {
  peerId: string;
  daily: string[];
  hourly: string[];
  relayId: string;
  dropAt: (point: string) => string;
}

/** Validates a `register_rendezvous` frame in the order of the §7.5 table. */
function parseRegistration(frame: Frame): Registration | string {
  const peerId = frame.peerId as string;
  if (!PEER_ID.test(peerId)) return "Invalid peerId";
  const daily = placeList(firstOf(frame, ["dailyPoints", "daily_points"], []), "daily points");
  if (typeof daily === "string") return daily;
  const hourly = placeList(firstOf(frame, ["hourlyTokens", "hourly_tokens"], []), "hourly tokens");
  if (typeof hourly === "string") return hourly;
  const relay = frame.relayId ?? "";
  if (typeof relay !== "string") return "Invalid message: register_rendezvous: relayId must be a string";
  if (relay.length > 128) return "Invalid relayId";
  const map = deadDropMap(firstOf(frame, ["dead_drops", "deadDrops"], {}));
  if (typeof map === "string") return map;
  const legacy = frame.deadDrop ?? "";
  if (!deadDrop.safeParse(legacy).success) return "Dead drop payload too large (max 4KB)";
  const useMap = Object.keys(map).length > 0;
  return { peerId, daily, hourly, relayId: relay, dropAt: (point) => (useMap ? (map[point] ?? "") : (legacy as string)) };
}

export async function registerRendezvous(ctx: SocketContext, frame: Frame): Promise<void> {
  const parsed = parseRegistration(frame);
  if (typeof parsed === "string") return fail(ctx, parsed);
  const { peerId, daily, hourly, relayId, dropAt } = parsed;
  if (ctx.state.relay === peerId) {
    ctx.state.relayRefreshedAt = Date.now();
    await codeShard(ctx.env, peerId).refreshRelay(ctx.holder);
  }
  // Entries of a relay peer are removed when its socket closes (§7.5).
  if (ctx.state.relay === peerId) ctx.state.rendezvous = true;
  const [points, tokens] = await Promise.all([
    Promise.all([...new Set(daily)].map((p) => placeShard(ctx.env, "daily", p).visit(peerId, dropAt(p), relayId, DAILY_TTL_MS))),
    Promise.all([...new Set(hourly)].map((t) => placeShard(ctx.env, "hourly", t).visit(peerId, "", relayId, HOURLY_TTL_MS))),
  ]);
  const deadDrops = points.flat().filter((e: PlaceEntry) => e.deadDrop !== "");
  const live = new Map<string, string>();
  for (const entry of tokens.flat()) if (!live.has(entry.peerId)) live.set(entry.peerId, entry.relayId);
  const liveMatches = [...live].map(([peer, relay]) => ({ peerId: peer, relayId: relay }));
  // Pushes addressed to an identity go to the socket holding it, if any (§7.1.6).
  const outbox = ctx.outbox();
  const holders = await Promise.all(liveMatches.map((m) => codeShard(ctx.env, m.peerId).holderOf()));
  for (const holder of holders) if (holder) outbox.add(holder, { type: "rendezvous_match", match: { peerId, relayId } });
  await outbox.flush();
  ctx.reply({ type: "rendezvous_result", liveMatches, deadDrops });
}

/** Removes the rendezvous entries of the socket's relay peer (on close), on every shard. */
export async function releaseRendezvous(ctx: SocketContext, peerId: string): Promise<void> {
  if (!ctx.state.rendezvous) return;
  ctx.state.rendezvous = false;
  completeValuesOf(await router(ctx.env, "rendezvous").all((shard) => shard.dropPeer(peerId)), "release rendezvous points");
}
