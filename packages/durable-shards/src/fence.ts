/**
 * What a routed call carries, and how it is checked on arrival.
 *
 * The routing facts travel as leading positional arguments of the RPC, never as an object: JS RPC
 * serializes objects far more slowly than primitives, and this is on every call's path
 * (bench:router shows the difference). A key call names the key, not the slot, so a caller cannot
 * claim a slot its key does not hash to.
 */
import { z } from "zod";
import { MAX_ARGS, keySchema, keyspaceNameSchema, mapVersionSchema, parse, shardIdSchema } from "./schema.js";

export const methodNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, "method must be a method name");
export const argsSchema = z.array(z.unknown()).max(MAX_ARGS, `at most ${MAX_ARGS} arguments`);

/** Routing facts of a call for one key; `shard` is null for entity placement. */
export interface KeyFence {
  keyspace: string;
  shard: string | null;
  key: string;
  version: number;
}

/** Routing facts of a call to a whole shard (fan-out). */
export interface ShardFence {
  keyspace: string;
  shard: string;
  version: number;
}

/** Validates the routing arguments of a key call. */
export function parseKeyFence(keyspace: unknown, shard: unknown, key: unknown, version: unknown): KeyFence {
  return {
    keyspace: parse(keyspaceNameSchema, keyspace, "keyspace"),
    shard: shard === null ? null : parse(shardIdSchema, shard, "shard"),
    key: parse(keySchema, key, "key"),
    version: parse(mapVersionSchema, version, "version"),
  };
}

/** Validates the routing arguments of a shard call. */
export function parseShardFence(keyspace: unknown, shard: unknown, version: unknown): ShardFence {
  return {
    keyspace: parse(keyspaceNameSchema, keyspace, "keyspace"),
    shard: parse(shardIdSchema, shard, "shard"),
    version: parse(mapVersionSchema, version, "version"),
  };
}

/**
 * Requests a router forwards to a key's object (`ShardRouter.fetch`: WebSocket upgrades, HTTP the
 * object answers itself) carry the key fence in this header, as JSON. The object checks it with
 * `ShardedObject.fencedRequest`; a refusal answers 421 with the failure as JSON and
 * {@link REFUSED_HEADER} set, so the router can tell it from the app's own 421s.
 */
export const FENCE_HEADER = "x-durable-shards-fence";
export const REFUSED_HEADER = "x-durable-shards-refused";

/** The fence of a forwarded request, or a `ShardError` (`InvalidArgument`) when it has none or a bad one. */
export function parseFenceHeader(value: string | null): KeyFence {
  let fence: Partial<Record<keyof KeyFence, unknown>> = {};
  try {
    const parsed: unknown = JSON.parse(value ?? "null");
    if (parsed !== null && typeof parsed === "object") fence = parsed;
  } catch {
    // no fence: each field is reported missing below
  }
  return parseKeyFence(fence.keyspace, fence.shard, fence.key, fence.version);
}
