/**
 * TinyBase's WebSocket synchronizer protocol, as its server classes speak it: each frame is
 * `<client id>\n<remainder>`, where the remainder is the JSON array `[requestId, message, body]`
 * with `undefined` written as U+FFFC. A client addresses `S` (the server's own peer), another
 * client by id, or everyone (the empty id); the server forwards a frame with the sender's id in
 * place of the addressee's. Fragmented frames (a client created with a `fragmentSize`) and the
 * multi-channel variant are not accepted: a store is at most {@link MAX_FRAME_CHARS} anyway.
 */
import { z } from "zod";
import { parseWithUndefined, stringifyWithUndefined } from "./tinybase-json.js";

export const SERVER_CLIENT_ID = "S";
/** Largest frame taken, in UTF-16 code units. */
export const MAX_FRAME_CHARS = 512 * 1024;

/** TinyBase's message types (Response … GetValueDiff). */
const messageSchema = z.tuple([z.string().max(256).nullable(), z.number().int().min(0).max(7), z.unknown()]);
export type SyncMessage = [requestId: string | null, message: number, body: unknown];

/** A frame split into addressee and remainder, or why it is not one. */
export function parseFrame(frame: string): { to: string; remainder: string; message: SyncMessage } | { error: string } {
  if (frame.length > MAX_FRAME_CHARS) return { error: `frame over ${MAX_FRAME_CHARS} characters` };
  const split = frame.indexOf("\n");
  if (split < 0) return { error: "frame has no client id line" };
  const to = frame.slice(0, split);
  if (to.length > 256) return { error: "client id over 256 characters" };
  const remainder = frame.slice(split + 1);
  let parsed: unknown;
  try {
    parsed = parseWithUndefined(remainder);
  } catch {
    return { error: "message is not JSON (fragmented frames are not accepted)" };
  }
  const message = messageSchema.safeParse(parsed);
  if (!message.success) return { error: "message is not [requestId, type 0-7, body]" };
  return { to, remainder, message: message.data as SyncMessage };
}

/** A frame from `fromClientId` carrying `remainder` as it was sent. */
export function frame(fromClientId: string, remainder: string): string {
  return `${fromClientId}\n${remainder}`;
}

/** The remainder of a message, `undefined` encoded as TinyBase does. */
export function encodeMessage(requestId: string | null, message: number, body: unknown): string {
  return stringifyWithUndefined([requestId, message, body]);
}
