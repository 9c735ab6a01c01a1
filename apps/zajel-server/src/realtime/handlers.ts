/** The client message types (§7.2–7.8): required fields, the identity rule, and their handlers. */
import { attestRequest, attestResponse } from "./attest.js";
import { channelOwnerRegister, channelSubscribe, streamEnd, streamFrame, streamStart, upstreamMessage } from "./channels.js";
import { chunkAnnounce, chunkPush, chunkRequest } from "./chunks.js";
import { forward, linkRequest, linkResponse, pairRequest, pairResponse, register } from "./pairing.js";
import { getRelays, registerRelay, relayHeartbeat, updateLoad } from "./relays.js";
import { registerRendezvous } from "./rendezvous.js";
import { identityOf, requireFields, type Frame, type Handler, type SocketState } from "./socket.js";

type Kind = "string" | "boolean" | "array";

/**
 * Required fields checked in the gateway before the identity rule (steps 5 and 6 of §7.1.4).
 * Types whose handlers check fields in an order of their own (pairing, forwarding) are not listed.
 */
const REQUIRED: Record<string, Record<string, Kind>> = {
  update_load: { peerId: "string" },
  get_relays: { peerId: "string" },
  heartbeat: { peerId: "string" },
  register_rendezvous: { peerId: "string" },
  chunk_announce: { peerId: "string", chunks: "array" },
  chunk_request: { chunkId: "string", channelId: "string" },
  chunk_push: { chunkId: "string", channelId: "string" },
  "channel-owner-register": { channelId: "string" },
  "channel-subscribe": { channelId: "string" },
  "upstream-message": { channelId: "string", ephemeralPublicKey: "string" },
  "stream-start": { streamId: "string", channelId: "string" },
  "stream-frame": { streamId: "string", channelId: "string" },
  "stream-end": { streamId: "string", channelId: "string" },
  attest_request: { device_id: "string" },
  attest_response: { nonce: "string", responses: "array" },
};

const HANDLERS: Record<string, Handler> = {
  register: (ctx, frame) => ("pairingCode" in frame ? register(ctx, frame) : registerRelay(ctx, frame)),
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
  update_load: updateLoad,
  get_relays: getRelays,
  heartbeat: relayHeartbeat,
  register_rendezvous: registerRendezvous,
  chunk_announce: chunkAnnounce,
  chunk_request: chunkRequest,
  chunk_push: chunkPush,
  "channel-owner-register": channelOwnerRegister,
  "channel-subscribe": channelSubscribe,
  "upstream-message": upstreamMessage,
  "stream-start": streamStart,
  "stream-frame": streamFrame,
  "stream-end": streamEnd,
  attest_request: attestRequest,
  attest_response: attestResponse,
};

/** Step 6: a frame other than `register` with a `peerId` key must carry the socket's identity. */
function identityError(type: string, frame: Frame, state: SocketState): string | undefined {
  if (type === "register" || !("peerId" in frame)) return undefined;
  const identity = identityOf(state);
  if (!identity) return "Not registered";
  if (frame.peerId !== identity) return "peerId mismatch with registered identity";
  return undefined;
}

/**
 * Steps 5–7 for a parsed frame of `type`: the handler to run, or the error text to answer with.
 * (`ping` is answered by the gateway itself.)
 */
export function dispatch(type: string, frame: Frame, state: SocketState): { handler: Handler } | { error: string } {
  // Own properties only: a type named after an Object.prototype member is just unknown.
  const required = Object.hasOwn(REQUIRED, type) ? REQUIRED[type] : undefined;
  const invalid = required && requireFields(type, frame, required);
  if (invalid) return { error: invalid };
  const wrongIdentity = identityError(type, frame, state);
  if (wrongIdentity) return { error: wrongIdentity };
  const handler = Object.hasOwn(HANDLERS, type) ? HANDLERS[type] : undefined;
  return handler ? { handler } : { error: `Unknown message type: ${type}` };
}
