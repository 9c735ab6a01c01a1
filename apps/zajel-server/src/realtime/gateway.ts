/**
 * A gateway: holds client WebSockets with the Hibernation API (per-socket state in attachments,
 * so hibernation and eviction lose nothing) and runs the per-frame steps of §7.1.4.
 *
 * This is the first slice of the client protocol: greeting, frame checks, per-socket rate limit,
 * `ping`, and liveness. Message types of §7.2–7.8 are recognised but not served yet.
 */
import { DurableObject } from "cloudflare:workers";
import { Timers } from "durable-shards";
import type { Env } from "../env.js";
import { FRAMES_PER_WINDOW, MAX_FRAME_BYTES, countInWindow, errorFrame, frameBytes, parseFrame, type RateWindow } from "./frames.js";
import { greeting } from "./identity.js";

/** Client message types of §7.2–7.8 that later slices serve. */
const PROTOCOL_TYPES = new Set([
  "register", "pair_request", "pair_response", "pair_accept", "pair_reject", "offer", "answer", "ice_candidate", "call_offer",
  "call_answer", "call_ice", "call_reject", "call_hangup", "link_request", "link_response", "update_load", "get_relays", "heartbeat",
  "register_rendezvous", "chunk_announce", "chunk_request", "chunk_push", "channel-owner-register", "channel-subscribe",
  "upstream-message", "stream-start", "stream-frame", "stream-end", "attest_request", "attest_response",
]);

/** What a socket carries across hibernation. */
interface SocketState {
  ip: string;
  connectedAt: number;
  frames: RateWindow;
  lastFrameAt: number;
  /** Sent at least one `ping` or `heartbeat`: subject to the 90 s idle rule. */
  heartbeating: boolean;
}

export const IDLE_LIMIT_MS = 90_000;
const LIVENESS = "liveness";
const LIVENESS_EVERY_MS = 30_000;

export class Gateway extends DurableObject<Env> {
  private readonly timers: Timers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.timers = new Timers(ctx.storage);
  }

  /** Accepts an upgrade forwarded by the Worker and greets the client. */
  override async fetch(request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    const state: SocketState = {
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

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
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
    if (parsed?.ok && (parsed.type === "ping" || parsed.type === "heartbeat") && !state.heartbeating) {
      state.heartbeating = true;
      if (this.timers.dueAt(LIVENESS) === undefined) await this.timers.after(LIVENESS, LIVENESS_EVERY_MS);
    }
    ws.serializeAttachment(state);
    if (!allowed) return ws.send(errorFrame("Rate limit exceeded. Please slow down."));
    if (!parsed!.ok) return ws.send(errorFrame(parsed!.error));
    const { type } = parsed!;
    if (type === "ping") return ws.send(JSON.stringify({ type: "pong" }));
    if (PROTOCOL_TYPES.has(type)) return ws.send(errorFrame(`Not supported by this server yet: ${type}`));
    ws.send(errorFrame(`Unknown message type: ${type}`));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // Nothing is held per socket yet beyond its attachment; later slices release codes, relays, …
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
      if (!state?.heartbeating) continue;
      if (now - state.lastFrameAt > IDLE_LIMIT_MS) ws.close(1000, "Heartbeat timeout");
      else watched++;
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
