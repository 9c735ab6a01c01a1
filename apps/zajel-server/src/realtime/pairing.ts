/** Pairing (§7.2) and forwarding between matched codes (§7.3.1–7.3.2 `offer`/`answer`/`ice_candidate`). */
import { z } from "zod";
import { fromBase64 } from "../crypto/encoding.js";
import { codeShard, type CodeRecord } from "./codes.js";
import { countInWindow } from "./frames.js";
import { requireFields, type SocketContext } from "./socket.js";

export const CODE = /^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$/;
const PUBLIC_KEY = /^[A-Za-z0-9+/]+=*$/;
const PAIR_REQUESTS_PER_WINDOW = 10;

const MAX_LINK_REQUESTS = 100;
const NOT_REGISTERED = "Not registered. Send register message first.";

export async function register(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const invalid = requireFields("register", frame, { pairingCode: "string", publicKey: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const code = frame.pairingCode as string;
  const key = frame.publicKey as string;
  if (code === "") return ctx.reply({ type: "error", message: "Missing required field: pairingCode" });
  if (!CODE.test(code)) return ctx.reply({ type: "error", message: "Invalid pairing code format" });
  if (key === "") return ctx.reply({ type: "error", message: "Missing required field: publicKey" });
  if (!PUBLIC_KEY.test(key)) return ctx.reply({ type: "error", message: "Invalid public key format" });
  if (fromBase64(key.length % 4 === 0 ? key : key + "=".repeat(4 - (key.length % 4)))?.length !== 32) {
    return ctx.reply({ type: "error", message: "Invalid public key length" });
  }
  if (ctx.state.code && ctx.state.code !== code) {
    // Checks passed: the old code goes first, as on close.
    if ((await codeShard(ctx.env, code).lookup()) !== null) {
      return ctx.reply({ type: "code_collision", message: "Pairing code already in use. Please reconnect with a new code." });
    }
    await releaseCode(ctx);
  }
  if ((await codeShard(ctx.env, code).claim(ctx.holder, key)) === "collision") {
    return ctx.reply({ type: "code_collision", message: "Pairing code already in use. Please reconnect with a new code." });
  }
  ctx.state.code = code;
  ctx.state.publicKey = key;
  ctx.log.info("pairing code registered", { code: ctx.log.code(code), socket: ctx.state.id });
  ctx.reply({ type: "registered", pairingCode: code, serverId: await ctx.serverId() });
}

export async function pairRequest(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const invalid = requireFields("pair_request", frame, { targetCode: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  if (!countInWindow(ctx.state.pairRequests, PAIR_REQUESTS_PER_WINDOW, Date.now())) {
    return ctx.reply({ type: "error", message: "Too many pair requests. Please slow down." });
  }
  const { code, publicKey } = ctx.state;
  if (!code || !publicKey) return ctx.reply({ type: "error", message: NOT_REGISTERED });
  const target = frame.targetCode as string;
  if (target === "") return ctx.reply({ type: "error", message: "Missing required field: targetCode" });
  if (!CODE.test(target)) return ctx.reply({ type: "error", message: "Invalid target code format" });
  const holder = target === code ? null : await codeShard(ctx.env, target).request(code, publicKey);
  if (!holder) return ctx.reply({ type: "pair_error", error: "Pair request could not be processed" });
  const incoming: Record<string, unknown> = { type: "pair_incoming", fromCode: code, fromPublicKey: publicKey, expiresIn: 120_000 };
  if (typeof frame.proposedName === "string" && frame.proposedName !== "") incoming.proposedName = frame.proposedName;
  await ctx.push(holder, incoming);
}

export async function pairResponse(ctx: SocketContext, frame: Record<string, unknown>, forced?: boolean): Promise<void> {
  const type = frame.type as string;
  const invalid = requireFields(type, frame, forced === undefined ? { targetCode: "string", accepted: "boolean" } : { targetCode: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const { code, publicKey } = ctx.state;
  if (!code || !publicKey) return ctx.reply({ type: "error", message: NOT_REGISTERED });
  const requester = frame.targetCode as string;
  if (!CODE.test(requester)) return ctx.reply({ type: "error", message: "Invalid target code format" });
  const pending = await codeShard(ctx.env, code).takeRequest(requester);
  if (!pending) return ctx.reply({ type: "pair_error", error: "No pending request from this peer" });
  const accepted = forced ?? (frame.accepted as boolean);
  const requesterHolder: CodeRecord | null = await codeShard(ctx.env, requester).lookup();
  if (!accepted) {
    if (requesterHolder) await ctx.push(requesterHolder, { type: "pair_rejected", peerCode: code });
    return;
  }
  if (!requesterHolder) return;
  await Promise.all([codeShard(ctx.env, code).match(requester), codeShard(ctx.env, requester).match(code)]);
  await ctx.push(requesterHolder, { type: "pair_matched", peerCode: code, peerPublicKey: publicKey, isInitiator: true });
  ctx.reply({ type: "pair_matched", peerCode: requester, peerPublicKey: pending.requesterKey, isInitiator: false });
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const nonEmptyString = z.string().min(1);

/** The payload checks of the `call_*` messages (§7.3.2), or undefined when they pass. */
function callPayloadError(type: string, payload: unknown): string | undefined {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return "Missing or invalid payload";
  const p = payload as Record<string, unknown>;
  if (typeof p.callId !== "string" || !UUID_V4.test(p.callId)) return "Invalid or missing callId (must be UUID v4 format)";
  if (type === "call_offer" || type === "call_answer") {
    if (!nonEmptyString.safeParse(p.sdp).success) return `Missing or invalid sdp in ${type}`;
    if ((p.sdp as string).length > 65_536) return "SDP too large (max 65536 bytes)";
  }
  if (type === "call_ice") {
    if (!nonEmptyString.safeParse(p.candidate).success) return "Missing or invalid candidate in call_ice";
    if ((p.candidate as string).length > 1024) return "ICE candidate too large (max 1024 bytes)";
  }
  return undefined;
}

/**
 * `offer`, `answer`, `ice_candidate` and the `call_*` messages: delivered only between matched
 * codes (§7.3.1), payloads unchanged.
 */
export async function forward(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const type = frame.type as string;
  const invalid = requireFields(type, frame, { target: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const { code } = ctx.state;
  if (!code) return ctx.reply({ type: "error", message: NOT_REGISTERED });
  const target = frame.target as string;
  if (target === "") return ctx.reply({ type: "error", message: "Missing required field: target" });
  if (!CODE.test(target)) return ctx.reply({ type: "error", message: "Invalid target code format" });
  if (type.startsWith("call_")) {
    const payloadError = callPayloadError(type, frame.payload);
    if (payloadError) return ctx.reply({ type: "error", message: payloadError });
  }
  const [matched, holder] = await Promise.all([codeShard(ctx.env, code).isMatched(target), codeShard(ctx.env, target).lookup()]);
  if (!matched || !holder) return ctx.reply({ type: "error", message: `Peer not found: ${target}` });
  const out: Record<string, unknown> = { type, from: code };
  if ("payload" in frame) out.payload = frame.payload;
  await ctx.push(holder, out);
}

/** `link_request` from the web client (§7.3.3). */
export async function linkRequest(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const invalid = requireFields("link_request", frame, { linkCode: "string", publicKey: "string" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const { code } = ctx.state;
  if (!code) return ctx.reply({ type: "error", message: NOT_REGISTERED });
  const linkCode = frame.linkCode as string;
  const publicKey = frame.publicKey as string;
  if (linkCode === "") return ctx.reply({ type: "error", message: "Missing required field: linkCode" });
  if (!CODE.test(linkCode)) return ctx.reply({ type: "error", message: "Invalid link code format" });
  if (publicKey === "") return ctx.reply({ type: "error", message: "Missing required field: publicKey" });
  const deviceName = typeof frame.deviceName === "string" && frame.deviceName !== "" ? frame.deviceName : "Unknown Browser";
  const mobile = linkCode === code ? null : await codeShard(ctx.env, linkCode).requestLink({ code, publicKey, deviceName });
  if (!mobile) return ctx.reply({ type: "link_error", error: "Link request could not be processed" });
  // The most recent link codes only: the list lives in the socket's 16 KiB attachment.
  ctx.state.linkRequests = [...new Set([...(ctx.state.linkRequests ?? []), linkCode])].slice(-MAX_LINK_REQUESTS);
  await ctx.push(mobile, { type: "link_request", linkCode, publicKey, deviceName, expiresIn: 120_000 });
}

/** `link_response` from the mobile app (§7.3.3). */
export async function linkResponse(ctx: SocketContext, frame: Record<string, unknown>): Promise<void> {
  const invalid = requireFields("link_response", frame, { linkCode: "string", accepted: "boolean" });
  if (invalid) return ctx.reply({ type: "error", message: invalid });
  const { code, publicKey } = ctx.state;
  if (!code || !publicKey) return ctx.reply({ type: "error", message: NOT_REGISTERED });
  const linkCode = frame.linkCode as string;
  if (!CODE.test(linkCode)) return ctx.reply({ type: "error", message: "Invalid link code format" });
  if (linkCode !== code) return ctx.reply({ type: "error", message: "Cannot respond to link request for another device" });
  const pending = await codeShard(ctx.env, code).takeLink();
  if (!pending) return ctx.reply({ type: "link_error", error: "No pending link request found" });
  const web = await codeShard(ctx.env, pending.webCode).lookup();
  if (!web) return;
  if (!(frame.accepted as boolean)) return ctx.push(web, { type: "link_rejected", linkCode });
  await Promise.all([codeShard(ctx.env, code).match(pending.webCode), codeShard(ctx.env, pending.webCode).match(code)]);
  const toWeb: Record<string, unknown> = { type: "link_matched", linkCode, peerPublicKey: publicKey, isInitiator: true };
  if (typeof frame.deviceId === "string") toWeb.deviceId = frame.deviceId;
  await ctx.push(web, toWeb);
  ctx.reply({ type: "link_matched", linkCode, peerPublicKey: pending.webKey, isInitiator: false, webClientCode: pending.webCode, deviceName: pending.deviceName });
}

/** Releases the socket's code: matched partners get `peer_left` (§7.2 departure notice). */
export async function releaseCode(ctx: SocketContext): Promise<void> {
  const code = ctx.state.code;
  if (!code) return;
  ctx.state.code = undefined;
  ctx.state.publicKey = undefined;
  // A web client's pending link requests end: each mobile side gets link_timeout (§7.3.3).
  const links = ctx.state.linkRequests ?? [];
  ctx.state.linkRequests = [];
  await Promise.all(
    links.map(async (linkCode) => {
      const mobile = await codeShard(ctx.env, linkCode).dropLinkFrom(code);
      if (mobile) await ctx.push(mobile, { type: "link_timeout", linkCode });
    }),
  );
  const peers = await codeShard(ctx.env, code).release(ctx.holder);
  ctx.log.info("pairing code released", { code: ctx.log.code(code), partners: peers.length });
  await Promise.all(
    peers.map(async (peer) => {
      const holder = await codeShard(ctx.env, peer).unmatch(code);
      if (holder) await ctx.push(holder, { type: "peer_left", peerCode: code, pairingCode: code });
    }),
  );
}
