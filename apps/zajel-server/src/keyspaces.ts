/**
 * Every keyspace of the server in one place: its Durable Object binding, placement and object
 * class. Routers are made here; each keyspace is created by the directory on first use (`ensure`).
 */
import { ShardRouter } from "durable-shards";
import type { AdminState } from "./admin/state.js";
import type { ChallengeStore } from "./attestation/challenge-store.js";
import type { DeviceIndex } from "./attestation/device-index.js";
import type { DeviceStore } from "./attestation/device-store.js";
import type { NonceStore } from "./bootstrap/nonce-store.js";
import type { RegistryIndex } from "./bootstrap/registry-index.js";
import type { ServerRegistry } from "./bootstrap/registry.js";
import type { ServerListCache } from "./bootstrap/snapshot.js";
import type { Env } from "./env.js";
import type { RateLimiter } from "./ratelimit/limiter.js";
import type { ChannelRegistry } from "./realtime/channel-store.js";
import type { ChunkStore } from "./realtime/chunk-store.js";
import type { CodeRegistry } from "./realtime/codes.js";
import type { ConnectionCounter } from "./realtime/connections.js";
import type { RendezvousRegistry } from "./realtime/rendezvous-store.js";

/** The object class serving each keyspace. */
interface KeyspaceObjects {
  "rate-limits": RateLimiter;
  admin: AdminState;
  servers: ServerRegistry;
  "registry-index": RegistryIndex;
  "registration-nonces": NonceStore;
  "server-list": ServerListCache;
  devices: DeviceStore;
  "device-index": DeviceIndex;
  challenges: ChallengeStore;
  codes: CodeRegistry;
  rendezvous: RendezvousRegistry;
  chunks: ChunkStore;
  channels: ChannelRegistry;
  connections: ConnectionCounter;
}

export type KeyspaceName = keyof KeyspaceObjects;

interface KeyspaceSpec {
  binding: keyof Env;
  placement?: "entity";
  shards?: number;
}

export const KEYSPACES: Record<KeyspaceName, KeyspaceSpec> = {
  "rate-limits": { binding: "RATE_LIMITER", shards: 8 },
  admin: { binding: "ADMIN", placement: "entity" },
  servers: { binding: "REGISTRY", shards: 8 },
  "registry-index": { binding: "REGISTRY_INDEX", placement: "entity" },
  "registration-nonces": { binding: "NONCES", shards: 4 },
  "server-list": { binding: "SERVER_LIST", placement: "entity" },
  devices: { binding: "DEVICES", shards: 8 },
  "device-index": { binding: "DEVICE_INDEX", placement: "entity" },
  challenges: { binding: "CHALLENGES", shards: 4 },
  codes: { binding: "CODES", shards: 8 },
  rendezvous: { binding: "RENDEZVOUS", shards: 8 },
  chunks: { binding: "CHUNKS", shards: 8 },
  channels: { binding: "CHANNELS", shards: 8 },
  connections: { binding: "CONNECTIONS", shards: 4 },
};

/** The router of `keyspace`. */
export function router<K extends KeyspaceName>(env: Env, keyspace: K): ShardRouter<KeyspaceObjects[K]> {
  const spec = KEYSPACES[keyspace];
  return new ShardRouter({
    directory: env.DIRECTORY,
    namespace: env[spec.binding] as unknown as DurableObjectNamespace<KeyspaceObjects[K]>,
    keyspace,
    ensure: { binding: spec.binding, placement: spec.placement ?? "hash", ...(spec.shards ? { shards: spec.shards } : {}) },
  });
}
