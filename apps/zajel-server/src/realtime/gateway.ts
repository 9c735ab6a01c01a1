/**
 * A gateway: holds client WebSockets with the Hibernation API (per-socket state in attachments,
 * so hibernation and eviction lose nothing) and runs the per-frame steps of §7.1.4.
 *
 * Served so far: greeting, frame checks, per-socket rate limit, `ping`, liveness, pairing and
 * `offer`/`answer`/`ice_candidate`/`call_*` forwarding between matched codes on any gateway, and
 * device linking. The other
 * message types of §7.5–7.8 are recognised but not served yet.
 */
import { DurableObject } from "cloudflare:workers";
import { Timers } from "durable-shards";
import type { Env } from "../env.js";
import { FRAMES_PER_WINDOW, MAX_FRAME_BYTES, countInWindow, errorFrame, frameBytes, parseFrame, type RateWindow } from "./frames.js";
import { toBase64Url } from "../crypto/encoding.js";
import { deliver } from "./codes.js";
import { greeting, serverIdentityKey } from "./identity.js";
import { getRelays, registerRelay, relayHeartbeat, releaseRelay, updateLoad, type RelayState } from "./relays.js";
import {
  forward,
  linkRequest,
  linkResponse,
  pairRequest,
  pairResponse,
  register,
  releaseCode,
  requireFields,
  type PairingState,
  type SocketContext,
} from "./pairing.js";

type Handler = (ctx: SocketContext, frame: Record<string, unknown>) => Promise<void>;

/** Served message types. */
/** Required fields checked before the identity rule (steps 5 and 6 of §7.1.4). */
const REQUIRED: Record<string, Record<string, "string" | "boolean">> = {
  update_load: { peerId: "string" },
  get_relays: { peerId: "string" },
  heartbeat: { peerId: "string" },
};

/** Step 6: a frame other than `register` with a `peerId` key must carry the socket's identity. */
function identityError(type: string, frame: Record<string, unknown>, state: SocketState): string | undefined {
  if (type === "register" || !("peerId" in frame)) return undefined;
  const identity = state.relay ?? state.code;
  if (!identity) return "Not registered";
  if (frame.peerId !== identity) return "peerId mismatch with registered identity";
  return undefined;
}

const HANDLERS: Record<string, Handler> = {
  register: (ctx, frame) => ("pairingCode" in frame ? register(ctx, frame) : registerRelay(ctx, frame)),
  update_load: updateLoad,
  get_relays: getRelays,
  heartbeat: relayHeartbeat,
  pair_request: pairRequest,
  pair_response: (ctx, frame) => pairResponse(ctx, frame),
  pair_accept: (ctx, frame) => pairResponse(ctx, frame, true),
  pair_reject: (ctx, frame) => pairResponse(ctx, frame, false),
  offer: forward,
  answer: forward,
  ice_candidate: forward,
  call_offer: forward,
  call_answer: forward,
  call_ice: forward,
  call_reject: forward,
  call_hangup: forward,
  link_request: linkRequest,
  link_response: linkResponse,
};

/** Client message types of §7.2–7.8 that later slices serve. */
const PROTOCOL_TYPES = new Set([
  "register", "pair_request", "pair_response", "pair_accept", "pair_reject", "offer", "answer", "ice_candidate", "call_offer",
  "call_answer", "call_ice", "call_reject", "call_hangup", "link_request", "link_response", "update_load", "get_relays", "heartbeat",
  "register_rendezvous", "chunk_announce", "chunk_request", "chunk_push", "channel-owner-register", "channel-subscribe",
  "upstream-message", "stream-start", "stream-frame", "stream-end", "attest_request", "attest_response",
]);

/** What a socket carries across hibernation. */
interface SocketState extends PairingState, RelayState {
  /** The socket's tag, by which pushes find it. */
  id: string;
  ip: string;
  connectedAt: number;
  frames: RateWindow;
  lastFrameAt: number;
  /** Sent at least one `ping` or `heartbeat`: subject to the 90 s idle rule. */
  heartbeating: boolean;
}

export const IDLE_LIMIT_MS = 90_000;
/** A relay registration not refreshed for this long closes its socket (§7.1.7). */
export const RELAY_LIMIT_MS = 60_000;
const LIVENESS = "liveness";
const LIVENESS_EVERY_MS = 30_000;

export class Gateway extends DurableObject<Env> {
  private readonly timers: Timers;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.timers = new Timers(ctx.storage);
  }

  /** Accepts an upgrade forwarded by the Worker and greets the client. */
  override async fetch(request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const id = crypto.randomUUID();
    this.ctx.acceptWebSocket(server, [id]);
    const now = Date.now();
    const state: SocketState = {
      id,
      pairRequests: { start: now, count: 0 },
      ip: request.headers.get("CF-Connecting-IP") || "unknown",
      connectedAt: now,
      frames: { start: now, count: 0 },
      lastFrameAt: now,
      heartbeating: false,
    };
    server.serializeAttachment(state);
    for (const frame of await greeting(this.env, request.url)) server.send(frame);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Frames of one socket are processed one after the other: handlers await other objects, and a
   * later frame (say a `pair_request` right after `register`) must see the state the earlier one left.
   */
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const id = (ws.deserializeAttachment() as SocketState).id;
    const previous = this.queues.get(id) ?? Promise.resolve();
    const current = previous.then(() => this.process(ws, message));
    const settled = current.catch(() => undefined);
    this.queues.set(id, settled);
    try {
      await current;
    } finally {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    }
  }

  private async process(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState;
    const now = Date.now();
    state.lastFrameAt = now;
    if (frameBytes(message) > MAX_FRAME_BYTES) {
      ws.send(errorFrame("Message too large"));
      ws.close(1009, "Message Too Big");
      return;
    }
    const allowed = countInWindow(state.frames, FRAMES_PER_WINDOW, now);
    const parsed = allowed ? parseFrame(message) : undefined;
    if (parsed?.ok && (parsed.type === "ping" || parsed.type === "heartbeat" || parsed.type === "register") && this.timers.dueAt(LIVENESS) === undefined) {
      await this.timers.after(LIVENESS, LIVENESS_EVERY_MS);
    }
    if (parsed?.ok && (parsed.type === "ping" || parsed.type === "heartbeat")) state.heartbeating = true;
    ws.serializeAttachment(state);
    if (!allowed) return ws.send(errorFrame("Rate limit exceeded. Please slow down."));
    if (!parsed!.ok) return ws.send(errorFrame(parsed!.error));
    const { type, frame } = parsed!;
    if (type === "ping") return ws.send(JSON.stringify({ type: "pong" }));
    const ctx = this.context(ws, state);
    try {
      const required = REQUIRED[type];
      const invalid = required && requireFields(type, frame, required);
      if (invalid) return ws.send(errorFrame(invalid));
      const wrongIdentity = identityError(type, frame, state);
      if (wrongIdentity) return ws.send(errorFrame(wrongIdentity));
      const handler = HANDLERS[type];
      if (handler) await handler(ctx, frame);
      else if (PROTOCOL_TYPES.has(type)) ws.send(errorFrame(`Not supported by this server yet: ${type}`));
      else ws.send(errorFrame(`Unknown message type: ${type}`));
    } catch (error) {
      console.error("gateway: handler failed", type, error);
      ws.send(errorFrame("Internal server error"));
    } finally {
      ws.serializeAttachment(state);
    }
  }

  /** Delivers frames pushed from any gateway to the socket tagged `socket`; false when it is gone. */
  deliver(socket: string, frames: string[]): boolean {
    const [ws] = this.ctx.getWebSockets(socket);
    if (!ws) return false;
    try {
      for (const frame of frames) ws.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  private context(ws: WebSocket, state: SocketState): SocketContext {
    const name = this.ctx.id.name!;
    return {
      env: this.env,
      holder: { gateway: name, socket: state.id },
      state,
      reply: (frame) => ws.send(JSON.stringify(frame)),
      push: async (to, frame) => {
        const text = JSON.stringify(frame);
        if (to.gateway === name) this.deliver(to.socket, [text]);
        else await deliver(this.env, to, text);
      },
      serverId: async () => `ed25519:${toBase64Url((await serverIdentityKey(this.env)).publicKey)}`,
    };
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (state) {
      const ctx = this.context(ws, state);
      await releaseCode(ctx);
      await releaseRelay(ctx);
    }
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  /**
   * Closes sockets that heartbeated and then fell silent for 90 s (§7.1.7). The check is cheap and
   * idempotent, so it runs on every alarm, due or early, and re-arms while sockets are watched.
   */
  override async alarm(): Promise<void> {
    await this.timers.run({ [LIVENESS]: () => undefined });
    const now = Date.now();
    let watched = 0;
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (!state) continue;
      const idle = state.heartbeating && now - state.lastFrameAt > IDLE_LIMIT_MS;
      const staleRelay = state.relay !== undefined && now - (state.relayRefreshedAt ?? 0) > RELAY_LIMIT_MS;
      if (idle || staleRelay) ws.close(1000, "Heartbeat timeout");
      else if (state.heartbeating || state.relay) watched++;
    }
    if (watched > 0) await this.timers.after(LIVENESS, LIVENESS_EVERY_MS);
  }
}

/** Number of gateway objects sockets are spread over. */
export const GATEWAYS = 4;

/** The gateway for a new socket: spread evenly and at random. */
export function pickGateway(env: Env): DurableObjectStub<Gateway> {
  const index = crypto.getRandomValues(new Uint32Array(1))[0]! % GATEWAYS;
  return env.GATEWAY.getByName(`gateway:${index}`);
}
