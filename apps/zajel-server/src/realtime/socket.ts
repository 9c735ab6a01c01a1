/** What every message handler sees of its socket: the state it carries and what it can do. */
import { z } from "zod";
import type { Env } from "../env.js";
import type { Logger } from "../logger.js";
import type { RateWindow } from "./frames.js";
import type { Holder, Outbox } from "./push.js";

/** A socket's state, kept in its attachment so hibernation and eviction lose nothing (≤ 16 KiB). */
export interface SocketState {
  /** The socket's tag, by which pushes find it. */
  id: string;
  /** The name of the gateway holding the socket. */
  gateway: string;
  ip: string;
  connectedAt: number;
  frames: RateWindow;
  lastFrameAt: number;
  /** Sent at least one `ping` or `heartbeat`: subject to the 90 s idle rule. */
  heartbeating: boolean;
  /** The pairing code held (§7.2) and its public key. */
  code?: string;
  publicKey?: string;
  pairRequests: RateWindow;
  /** Link codes this (web) socket asked to link with, to clean up when it leaves. */
  linkRequests?: string[];
  /** The relay peerId held (§7.4) and when it was last refreshed. */
  relay?: string;
  relayRefreshedAt?: number;
  upstream: RateWindow;
  /** Flags telling the close handler which keyspaces hold rows of this socket. */
  rendezvous?: boolean;
  chunks?: boolean;
  channels?: boolean;
  /** Attestation over the socket (§7.8): the device of the last `attest_request`, and until when the socket is attested. */
  attestDevice?: string;
  attestedUntil?: number;
  /** `REQUIRE_WS_ATTESTATION` when the socket was accepted. */
  requireAttestation: boolean;
  /** Cleanup after close has run (close and error events may both arrive). */
  closed?: boolean;
}

/** What a handler can do: answer its socket and push frames to any socket of the deployment. */
export interface SocketContext {
  env: Env;
  holder: Holder;
  state: SocketState;
  log: Logger;
  reply(frame: unknown): void;
  /** Sends to one socket anywhere; resolves once handed to its gateway. */
  push(to: Holder, frame: unknown): Promise<void>;
  /** A batch of pushes, delivered with one call per gateway. */
  outbox(): Outbox;
  serverId(): Promise<string>;
  /** Closes this socket (after the replies already sent). */
  close(code: number, reason: string): void;
}

export type Frame = Record<string, unknown>;
export type Handler = (ctx: SocketContext, frame: Frame) => Promise<void> | void;

const KINDS = { string: z.string(), boolean: z.boolean(), array: z.array(z.unknown()) } as const;

/** Step 5 of §7.1.4: the first required field of the wrong type, as the error text. */
export function requireFields(type: string, frame: Frame, fields: Record<string, keyof typeof KINDS>): string | undefined {
  for (const [field, kind] of Object.entries(fields)) {
    if (!KINDS[kind].safeParse(frame[field]).success) return `Invalid message: ${type}: ${field} must be a ${kind}`;
  }
  return undefined;
}

/** The socket's identity (§7.1.6): its relay peerId, else its pairing code. */
export function identityOf(state: SocketState): string | undefined {
  return state.relay ?? state.code;
}

/** Replies with the error envelope (§7.1.5). */
export function fail(ctx: SocketContext, message: string): void {
  ctx.reply({ type: "error", message });
}
