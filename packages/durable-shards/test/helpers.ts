/** Shared set-up of the library's tests: real objects of the test Worker, unique keyspaces. */
import { env } from "cloudflare:test";
import { DEFAULT_DIRECTORY_NAME, MapCache, ShardRouter, directoryClient, errorOf, isFailure, type RouterOptions, type ShardError } from "../src/index.js";
import type { TestKvStore } from "./fixtures/worker.js";

/** A client of the directory object the routers use, as apps call it. */
export function directory() {
  return directoryClient(env.DIRECTORY);
}

/** The raw stub of that directory object (for alarms and `runInDurableObject`). */
export function directoryStub() {
  return env.DIRECTORY.getByName(DEFAULT_DIRECTORY_NAME);
}

let counter = 0;
/** A keyspace name no other test uses. */
export function uniqueName(prefix = "ks"): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

/** A map cache that counts how often it asks the directory. */
export class CountingCache extends MapCache {
  loads = 0;
  override load(...args: Parameters<MapCache["load"]>): ReturnType<MapCache["load"]> {
    this.loads++;
    return super.load(...args);
  }
}

/** Creates a kv keyspace with `shards` shards and returns its name. */
export async function createKv(shards: number, slotCount?: number): Promise<string> {
  const name = uniqueName();
  await directory().createKeyspace({ name, binding: "KV", shards, ...(slotCount ? { slotCount } : {}) });
  return name;
}

/** A router over the kv keyspace `keyspace` with its own cache (as if in its own isolate). */
export function kvRouter(keyspace: string, options: Partial<RouterOptions<TestKvStore>> = {}) {
  const cache = new CountingCache();
  const router = new ShardRouter<TestKvStore>({ directory: env.DIRECTORY, namespace: env.KV, keyspace, cache, ...options });
  return { router, cache };
}

/**
 * Reads `read()` every `intervalMs` (default 50) until `done` holds for its value, and returns
 * that value; fails the test naming `what` after `timeoutMs` (default 10 s).
 */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Rejection of `promise`, failing the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the promise to reject");
}

/**
 * The typed error a raw RPC call to a library object answered with as a failure value. Fails the
 * test when the call threw instead (an exception inside the object) or succeeded.
 */
export async function answeredFailure(call: Promise<unknown>): Promise<ShardError> {
  let result: unknown;
  try {
    result = await call;
  } catch (error) {
    throw new Error(`expected a failure value, but the object threw: ${String(error)}`);
  }
  if (!isFailure(result)) throw new Error(`expected a failure value, got ${JSON.stringify(result)}`);
  return errorOf(result);
}

/**
 * Three writers incrementing `keys` round-robin through `router` until `stop()` is true: the
 * increments each key had acknowledged, and every failure with its key.
 */
export function writers(router: ShardRouter<TestKvStore>, keys: string[], stop: () => boolean) {
  const acked = new Map<string, number>(keys.map((k) => [k, 0]));
  const failures: { key: string; error: unknown }[] = [];
  const loop = async (w: number) => {
    for (let i = w; !stop(); i += 3) {
      const key = keys[i % keys.length]!;
      try {
        await router.get(key).increment(1);
        acked.set(key, acked.get(key)! + 1);
      } catch (error) {
        failures.push({ key, error });
      }
    }
  };
  return { done: Promise.all([0, 1, 2].map(loop)), acked, failures };
}
