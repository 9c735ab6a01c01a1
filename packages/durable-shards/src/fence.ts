/**
 * What a routed call carries and how a shard answers a fenced-off call.
 *
 * A key call names the key (the shard derives the slot itself, so a caller cannot claim a slot
 * that the key does not hash to); a shard call names only the shard and the caller's map version.
 */
import { z } from "zod";
import { keySchema, keyspaceNameSchema, mapVersionSchema, shardIdSchema } from "./schema.js";

export const keyFenceSchema = z.strictObject({
  keyspace: keyspaceNameSchema,
  /** Shard id for hash placement; absent for entity placement. */
  shard: shardIdSchema.optional(),
  key: keySchema,
  version: mapVersionSchema,
});
/** Routing facts of a call for one key. */
export type KeyFence = z.infer<typeof keyFenceSchema>;

export const shardFenceSchema = z.strictObject({
  keyspace: keyspaceNameSchema,
  shard: shardIdSchema,
  version: mapVersionSchema,
});
/** Routing facts of a call to a whole shard (fan-out). */
export type ShardFence = z.infer<typeof shardFenceSchema>;

export const methodNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, "method must be a method name");
export const argsSchema = z.array(z.unknown()).max(64, "at most 64 arguments");

/** A routed call's answer: the method's value, or the shard's refusal. */
export type RoutedReply<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; wrongShard: { version: number; message: string } };
