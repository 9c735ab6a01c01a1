/**
 * Where a store is served, and how the Worker reaches it: the legacy object, or the sharded
 * placement (through the durable-shards router). The feature flag names the side stores should be
 * on; a store still on the other side moves there on first access (`migrateKey`), and a side that
 * does not serve a store says so (`Migrated`), so a Worker with a stale flag only ever moves a
 * store, never writes where it is not read.
 */
import { migrateKey, ShardError, ShardRouter, sleep, unwrap, type KeyMigration, type SourceEndpoint, type TargetEndpoint } from "durable-shards";
import { deploymentOf, placementOf, type Deployment } from "./deployment.js";
import type { Env } from "./env.js";
import { LEGACY_NAME, type LegacyStore } from "./legacy-store.js";
import type { StoreCopy } from "./store-host.js";
import { KEY_HEADER, OP_HEADER, REFUSED_HEADER, type StoreOp } from "./store-http.js";
import type { StoreShard } from "./store-shard.js";

import type { Side } from "./migration-status.js";

export type { Side };

export const other = (side: Side): Side => (side === "legacy" ? "sharded" : "legacy");

type Exported = { data: StoreCopy; hash: string; epoch: number };
/**
 * Made per request (or per call of an object): its router and stub are I/O objects of the
 * context that made them, which another request or object may not use.
 */
export class Stores {
  readonly router: ShardRouter<StoreShard>;
  readonly legacy: DurableObjectStub<LegacyStore>;

  constructor(env: Env, d: Deployment = deploymentOf(env)) {
    const { keyspace, ensure } = placementOf(d);
    this.router = new ShardRouter<StoreShard>({ directory: env.DIRECTORY, namespace: env.STORES, keyspace, ensure });
    this.legacy = env.LEGACY.getByName(`${LEGACY_NAME}${d.instance}`);
  }

  /**
   * Answers `request` for store `key` from the side the flag names: a store still on the other
   * side moves first; one moving is waited for (up to about 3 s, then a 503 to retry).
   */
  async serve(key: string, op: StoreOp, request: Request, flag: Side, body?: string): Promise<Response> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const response = await this.forward(flag, key, op, request, body);
      const refused = response.headers.get(REFUSED_HEADER);
      if (refused === null) return response;
      await response.body?.cancel();
      if (refused === "Migrating") {
        await sleep(Math.min(10 * (attempt + 1), 100));
        continue;
      }
      // Not on the flag's side (every store starts on the legacy one): bring it here, then again.
      await this.moveTo(flag, key).catch((error: unknown) => {
        // A store moving already is retried; anything else (copies that differ) is worth a line.
        if (!ShardError.from(error)?.retryable) console.warn(`moving store '${key}' to ${flag} failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    return Response.json({ error: "store is moving; retry shortly", code: "Migrating" }, { status: 503, headers: { "retry-after": "1" } });
  }

  /** Moves store `key` to `side` (a no-op when it is there already). */
  moveTo(side: Side, key: string): Promise<KeyMigration> {
    return migrateKey(key, this.source(other(side)), this.target(side));
  }

  /**
   * Forwards to one side, the operation and key in headers (`body`: read and checked by the caller).
   * The token goes no further than the Worker, so nothing downstream can log it.
   */
  forward(side: Side, key: string, op: StoreOp, request: Request, body?: string): Promise<Response> {
    const url = new URL(request.url);
    url.searchParams.delete("token");
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.set(OP_HEADER, op);
    headers.set(KEY_HEADER, key);
    const forwarded = new Request(url, { method: request.method, headers, body });
    return side === "legacy" ? this.legacy.fetch(forwarded) : this.router.fetch(key, forwarded);
  }

  source(side: Side): SourceEndpoint<StoreCopy> {
    if (side === "legacy") {
      return {
        export: async (key) => unwrap<Exported>(await this.legacy.exportStore(key)),
        finish: (key) => this.legacy.finishStore(key),
      };
    }
    return { export: (key) => this.router.get(key).exportStore(), finish: (key) => this.router.get(key).finishStore() };
  }

  target(side: Side): TargetEndpoint<StoreCopy> {
    if (side === "legacy") return { import: async (key, data, epoch) => unwrap<{ hash: string }>(await this.legacy.importStore(key, data, epoch)) };
    return { import: (key, data, epoch) => this.router.get(key).importStore(data, epoch) };
  }
}
