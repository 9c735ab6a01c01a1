/**
 * Input schemas shared by the directory, the shard base class and the router. Every public
 * function and RPC parses its arguments through these, so bad input fails the same way
 * everywhere: an `InvalidArgument` / `InvalidKey` {@link ShardError} naming the offending field.
 */
import { z } from "zod";
import { ShardError } from "./errors.js";

/** Default number of slots of a keyspace. */
export const DEFAULT_SLOT_COUNT = 65_536;
/** Upper bound of slots per keyspace; a router's table for it stays at 128 KiB. */
export const MAX_SLOT_COUNT = 65_536;
/** Longest accepted key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024;
/** Most shards one change may add. */
export const MAX_SHARDS_PER_CHANGE = 1024;

/** Location hints Durable Objects accept (honoured only when an object is first created). */
export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type LocationHint = (typeof LOCATION_HINTS)[number];

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME_RULE = "1-64 characters of letters, digits, '_', '.' or '-', starting with a letter or digit";

export const keyspaceNameSchema = z.string().regex(NAME, `keyspace name must be ${NAME_RULE}`);
export const shardIdSchema = z.string().regex(NAME, `shard id must be ${NAME_RULE}`);
/** The shards a removal names: at least one. */
export const shardIdsSchema = z.array(shardIdSchema).min(1, "name at least one shard");
/** Ids of backups and of backup or restore jobs (they name R2 objects and snapshot tables). */
export const backupIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "backup and job ids are 1–64 of A-Z a-z 0-9 _ -");
export const keySchema = z
  .string({ error: "key must be a string" })
  .min(1, "key must not be empty")
  .max(MAX_KEY_LENGTH, `key must be at most ${MAX_KEY_LENGTH} characters`);
/** Most keys in one shard call of `router.some` (each carries its keys); larger groups are split. */
export const MAX_KEYS_PER_CALL = 10_000;
/** Most characters of keys in one shard call of `router.some` (an RPC message has a size limit). */
export const MAX_KEY_CHARS_PER_CALL = 1_000_000;
/** The keys of a call for several keys (`router.some`). */
export const keysSchema = z
  .array(keySchema)
  .min(1, "name at least one key")
  .max(MAX_KEYS_PER_CALL, `at most ${MAX_KEYS_PER_CALL} keys per call`);
export const slotCountSchema = z
  .number()
  .int("slotCount must be an integer")
  .min(1, "slotCount must be at least 1")
  .max(MAX_SLOT_COUNT, `slotCount must be at most ${MAX_SLOT_COUNT}`);
export const mapVersionSchema = z.number().int().min(0);
/** Most arguments a routed call may pass to a keyspace method. */
export const MAX_ARGS = 64;

/*
 * Hot-path predicates. Every routed call checks its key and version; a schema parse costs several
 * microseconds per call inside workerd, a few comparisons cost nothing. Each predicate accepts
 * exactly what its schema accepts (test/schema.test.ts checks that property on random input);
 * callers run the schema only when the predicate fails, to word the error.
 */

/** Exactly `keySchema`'s acceptance. */
export function isKey(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= MAX_KEY_LENGTH;
}

/** Exactly `slotCountSchema`'s acceptance. */
export function isSlotCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_SLOT_COUNT;
}

/** `value` as a key, or the schema's `InvalidKey` error. */
export function checkKey(value: unknown): string {
  return isKey(value) ? value : parse(keySchema, value, "key");
}

/** Exactly `mapVersionSchema`'s acceptance. */
export function isMapVersion(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
export const locationHintSchema = z.enum(LOCATION_HINTS);
export const placementSchema = z.enum(["hash", "entity"]);

export const shardSpecSchema = z.strictObject({
  id: shardIdSchema.optional(),
  locationHint: locationHintSchema.optional(),
});
export type ShardSpec = z.infer<typeof shardSpecSchema>;

const SHARDS_RULE = `shards must be a count from 1 to ${MAX_SHARDS_PER_CHANGE} or a list of 1 to ${MAX_SHARDS_PER_CHANGE} shard specs`;

/** How many shards to add: a count (expanded to that many specs with generated ids), or specs. */
export const shardSpecsSchema = z.preprocess(
  (v) => (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_SHARDS_PER_CHANGE ? Array.from({ length: v }, () => ({})) : v),
  z.array(shardSpecSchema, { error: SHARDS_RULE }).min(1, SHARDS_RULE).max(MAX_SHARDS_PER_CHANGE, SHARDS_RULE),
);

/** Options of fan-outs (`fanOut`, `ShardRouter.all`/`some`). */
export const fanOutOptionsSchema = z.strictObject({
  concurrency: z.number().int().min(1).max(1000).optional(),
  deadlineMs: z.number().int().min(1).max(600_000).optional(),
});

/** Options of the retry policy (`withRetry`, `RouterOptions.retry`). */
export const retryOptionsSchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(20).optional(),
  baseDelayMs: z.number().min(0).max(60_000).optional(),
  maxDelayMs: z.number().min(0).max(600_000).optional(),
  random: z.custom<() => number>((v) => typeof v === "function", "random must be a function").optional(),
  onRetry: z.custom<(...args: unknown[]) => void>((v) => typeof v === "function", "onRetry must be a function").optional(),
  idempotent: z.boolean().optional(),
});

/**
 * Parses `value` with `schema`, throwing a typed error that names the argument on failure.
 * Keys get `InvalidKey`, everything else `InvalidArgument`.
 */
export function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${what}.${issue.path.join(".")}` : what;
  const code = schema === (keySchema as z.ZodType) ? "InvalidKey" : "InvalidArgument";
  throw new ShardError(code, `${where}: ${issue?.message ?? "invalid value"}`);
}
