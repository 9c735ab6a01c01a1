/**
 * Stubs for the shards of cached maps, with each shard's name → id derivation done once.
 *
 * `getByName(name)` derives the object's id from its name on every call (a keyed hash inside the
 * runtime); with the name string built per call that is a measurable part of a routed call
 * (bench:router, "routed / direct-id"). Ids are plain values, not I/O objects, so unlike stubs they
 * may be kept across requests. A new stub is still made for every call, as docs/platform.md requires of
 * every attempt: a stub that threw stays broken.
 */
import type { ShardInfo } from "./shard-map.js";

/** Ids by shard entry of a cached map; they go when the map that holds the entry goes. */
const ids = new WeakMap<ShardInfo, { namespace: object; id: DurableObjectId }>();

/** A new stub for `shard` of `keyspace`, as `namespace.getByName("<keyspace>:<shard id>")` with the shard's location hint would return. */
export function shardStub<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  keyspace: string,
  shard: ShardInfo,
): DurableObjectStub<T> {
  let known = ids.get(shard);
  // A map entry is shared by every router of its keyspace; one given another namespace (a
  // misconfiguration, or a test) must still reach its own objects.
  if (known?.namespace !== namespace) {
    known = { namespace, id: namespace.idFromName(`${keyspace}:${shard.id}`) };
    ids.set(shard, known);
  }
  return namespace.get(known.id, shard.locationHint ? { locationHint: shard.locationHint } : undefined);
}
