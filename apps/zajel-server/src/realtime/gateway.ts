/**
 * A gateway: holds client WebSockets with the Hibernation API (per-socket state in attachments,
 * so hibernation and eviction lose nothing), runs the per-frame steps of §7.1.4, and delivers
 * pushes from any gateway or state shard to its sockets.
 */
import { DurableObject } from "cloudflare:workers";
import { Timers } from "durable-shards";
import { toBase64Url } from "../crypto/encoding.js";
import type { Env } from "../env.js";
import { createLogger, type Logger } from "../logger.js";
import { MAX_PER_IP, connectionCounter, gatewayShare, maxConnections, refuseSocket } from "./connections.js";
import { FRAMES_PER_WINDOW, MAX_FRAME_BYTES, countInWindow, errorFrame, frameBytes, parseFrame } from "./frames.js";
import { dispatch } from "./handlers.js";
import { greeting, serverIdentityKey } from "./identity.js";
import { Outbox, rpcSender, type GatewayBatch } from "./push.js";
import { releaseSocket } from "./release.js";
import type { SocketContext, SocketState } from "./socket.js";

export const IDLE_LIMIT_MS = 90_000;
/** A relay registration not refreshed for this long closes its socket (§7.1.7). */
export const RELAY_LIMIT_MS = 60_000;
const LIVENESS = "liveness";
const LIVENESS_EVERY_MS = 30_000;

/** Number of gateway objects sockets are spread over. */
export const GATEWAYS = 4;

/** Set by the Worker on the upgrade it forwards: this gateway's share of the capacity. */
const SHARE_HEADER = "X-Zajel-Gateway-Share";
/** Set by the Worker: whether chunk messages of this socket need attestation. */
const ATTESTATION_HEADER = "X-Zajel-Require-Attestation";
/** Set by the Worker: the gateway's own name. */
const NAME_HEADER = "X-Zajel-Gateway";
/** Answered (status 503) by a gateway at its share, so the Worker offers the socket to the next. */
const FULL_HEADER = "X-Zajel-Gateway-Full";

export class Gateway extends DurableObject<Env> {
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly queues = new Map<string, Promise<void>>();
  /** Sockets between the capacity check and their acceptance. */
  private admitting = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.timers = new Timers(ctx.storage);
    this.log = createLogger(env, "gateway");
  }

  /** Accepts an upgrade forwarded by the Worker, after the capacity and per-IP checks, and greets the client. */
  override async fetch(request: Request): Promise<Response> {
    const share = Number(request.headers.get(SHARE_HEADER) ?? Number.POSITIVE_INFINITY);
    if (this.ctx.getWebSockets().length + this.admitting >= share) return new Response(null, { status: 503, headers: { [FULL_HEADER]: "1" } });
    const id = crypto.randomUUID();
    const ip = request.headers.get("CF-Connecting-IP") || "unknown";
    // The local runtime may start a gateway without its name (from an alarm, workerd#6850) and keep
    // it so: the Worker names it in the request, and each socket keeps the name in its state.
    const name = request.headers.get(NAME_HEADER) ?? this.ctx.id.name;
    if (!name) throw new Error("gateway: upgrade without a gateway name");
    const holder = { gateway: name, socket: id };
    this.admitting++;
    let admitted: boolean;
    try {
      admitted = await connectionCounter(this.env, ip).admit(holder, MAX_PER_IP);
    } finally {
      this.admitting--;
    }
    if (!admitted) {
      this.log.info("connection refused: per-IP cap", { ip });
      return refuseSocket(1013, "Too many connections from this IP");
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [id]);
    const now = Date.now();
    const state: SocketState = {
      id,
      gateway: holder.gateway,
      ip,
      connectedAt: now,
      frames: { start: now, count: 0 },
      lastFrameAt: now,
      heartbeating: false,
      pairRequests: { start: now, count: 0 },
      upstream: { start: now, count: 0 },
      requireAttestation: request.headers.get(ATTESTATION_HEADER) === "true",
    };
    server.serializeAttachment(state);
    for (const frame of await greeting(this.env, request.url)) server.send(frame);
    this.log.debug("socket open", { socket: id });
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
    // Frames queued behind one that closed the socket (1009, 4001) are not processed.
    if (ws.readyState !== WebSocket.OPEN) return;
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
    const type = parsed?.ok ? parsed.type : undefined;
    if (type === "ping" || type === "heartbeat" || type === "register") await this.timers.ensure(LIVENESS, LIVENESS_EVERY_MS);
    if (type === "ping" || type === "heartbeat") state.heartbeating = true;
    ws.serializeAttachment(state);
    // The timer write above may have let the socket close meanwhile.
    const send = (text: string) => void (ws.readyState === WebSocket.OPEN && ws.send(text));
    if (!allowed) return send(errorFrame("Rate limit exceeded. Please slow down."));
    if (!parsed!.ok) return send(errorFrame(parsed!.error));
    if (type === "ping") return send(JSON.stringify({ type: "pong" }));
    const route = dispatch(parsed!.type, parsed!.frame, state);
    if ("error" in route) return send(errorFrame(route.error));
    try {
      await route.handler(this.context(ws, state), parsed!.frame);
    } catch (error) {
      this.log.error("handler failed", { type, error: String(error) });
      send(errorFrame("Internal server error"));
    } finally {
      ws.serializeAttachment(state);
    }
  }

  /** Delivers frames pushed from anywhere to sockets of this gateway; returns how many sockets were reached. */
  deliverBatch(batch: GatewayBatch): number {
    let reached = 0;
    for (const [socket, frames] of batch) {
      const [ws] = this.ctx.getWebSockets(socket);
      if (!ws) continue;
      try {
        for (const frame of frames) ws.send(frame);
        reached++;
      } catch {
        // A dead transport is cleaned up by its close event.
      }
    }
    return reached;
  }

  /** Whether the socket tagged `socket` is open here. */
  isOpen(socket: string): boolean {
    return this.ctx.getWebSockets(socket).length > 0;
  }

  /** The tags among `sockets` that are open here. */
  openSockets(sockets: string[]): string[] {
    return sockets.filter((socket) => this.isOpen(socket));
  }

  private context(ws: WebSocket, state: SocketState): SocketContext {
    const name = state.gateway;
    const remote = rpcSender(this.env);
    // Pushes to this gateway's own sockets skip the RPC.
    const send = async (gateway: string, batch: GatewayBatch) => (gateway === name ? this.deliverBatch(batch) : remote(gateway, batch));
    return {
      env: this.env,
      holder: { gateway: name, socket: state.id },
      state,
      log: this.log,
      reply: (frame) => void (ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(frame))),
      push: async (to, frame) => void (await new Outbox(send).add(to, frame).flush()),
      outbox: () => new Outbox(send),
      serverId: async () => `ed25519:${toBase64Url((await serverIdentityKey(this.env)).publicKey)}`,
      close: (code, reason) => ws.close(code, reason),
    };
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.cleanup(ws);
    try {
      // 1005/1006/1015 are reported by the runtime but may not be sent back.
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.cleanup(ws);
  }

  /** On close: releases what the socket held (see `release.ts`), once. */
  private async cleanup(ws: WebSocket): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (!state || state.closed) return;
    state.closed = true;
    ws.serializeAttachment(state);
    const failed = await releaseSocket(this.context(ws, state));
    this.log.debug("socket closed", { socket: state.id, failed });
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

/**
 * Hands an upgrade to a gateway (§7.1.1): a random one first, then the others in turn while they
 * are at their share of `WS_MAX_CONNECTIONS`; when all are, the socket is closed with 1013.
 */
export async function acceptUpgrade(env: Env, request: Request): Promise<Response> {
  const max = maxConnections(env);
  const first = crypto.getRandomValues(new Uint32Array(1))[0]! % GATEWAYS;
  for (let i = 0; i < GATEWAYS; i++) {
    const index = (first + i) % GATEWAYS;
    const headers = new Headers(request.headers);
    // Set here, never taken from the client.
    headers.set(SHARE_HEADER, String(gatewayShare(max, index, GATEWAYS)));
    headers.set(ATTESTATION_HEADER, String(env.REQUIRE_WS_ATTESTATION === "true"));
    headers.set(NAME_HEADER, `gateway:${index}`);
    const response = await env.GATEWAY.getByName(`gateway:${index}`).fetch(new Request(request, { headers }));
    if (!response.headers.has(FULL_HEADER)) return response;
  }
  return refuseSocket(1013, "Server at capacity");
}
