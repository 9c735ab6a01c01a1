/** Bindings and configuration of the server (names as in docs/zajel-protocol.md §2). */
import type { ShardDirectory } from "durable-shards";
import type { AdminState } from "./admin/state.js";
import type { ChallengeStore } from "./attestation/challenge-store.js";
import type { DeviceIndex } from "./attestation/device-index.js";
import type { DeviceStore } from "./attestation/device-store.js";
import type { NonceStore } from "./bootstrap/nonce-store.js";
import type { RegistryIndex } from "./bootstrap/registry-index.js";
import type { ServerRegistry } from "./bootstrap/registry.js";
import type { ServerListCache } from "./bootstrap/snapshot.js";
import type { RateLimiter } from "./ratelimit/limiter.js";
import type { ChannelRegistry } from "./realtime/channel-store.js";
import type { ChunkStore } from "./realtime/chunk-store.js";
import type { CodeRegistry } from "./realtime/codes.js";
import type { ConnectionCounter } from "./realtime/connections.js";
import type { RendezvousRegistry } from "./realtime/rendezvous-store.js";
import type { Gateway } from "./realtime/gateway.js";

export interface Env {
  DIRECTORY: DurableObjectNamespace<ShardDirectory>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  ADMIN: DurableObjectNamespace<AdminState>;
  REGISTRY: DurableObjectNamespace<ServerRegistry>;
  REGISTRY_INDEX: DurableObjectNamespace<RegistryIndex>;
  NONCES: DurableObjectNamespace<NonceStore>;
  SERVER_LIST: DurableObjectNamespace<ServerListCache>;
  DEVICES: DurableObjectNamespace<DeviceStore>;
  DEVICE_INDEX: DurableObjectNamespace<DeviceIndex>;
  CHALLENGES: DurableObjectNamespace<ChallengeStore>;
  GATEWAY: DurableObjectNamespace<Gateway>;
  CODES: DurableObjectNamespace<CodeRegistry>;
  RENDEZVOUS: DurableObjectNamespace<RendezvousRegistry>;
  CHUNKS: DurableObjectNamespace<ChunkStore>;
  CHANNELS: DurableObjectNamespace<ChannelRegistry>;
  CONNECTIONS: DurableObjectNamespace<ConnectionCounter>;
  /** Where the admin API's backups go (durable-shards, `/_shards`). */
  BACKUPS: R2Bucket;
  /** Bearer token of the admin API at `/_shards`; unset, the admin API refuses every request. */
  ADMIN_TOKEN?: string;
  BOOTSTRAP_SIGNING_KEY?: string;
  ATTESTATION_SIGNING_KEY?: string;
  BUILD_TOKEN_VERIFY_KEY?: string;
  CI_UPLOAD_SECRET?: string;
  SERVER_REGISTRY_SECRET?: string;
  DEV_MODE?: string;
  REQUIRE_REPLAY_PROTECTION?: string;
  ALLOWED_ORIGINS?: string;
  TRUSTED_BUILD_KEYS?: string;
  SERVER_IDENTITY_KEY?: string;
  PUBLIC_WS_ENDPOINT?: string;
  REGION?: string;
  REQUIRE_WS_ATTESTATION?: string;
  WS_MAX_CONNECTIONS?: string;
  LOG_LEVEL?: string;
  /** Our own setting: how long a server-list snapshot is reused (ms, ≤ 30,000). */
  LIST_SNAPSHOT_FRESH_MS?: string;
}
