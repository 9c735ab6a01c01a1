/**
 * The signed, versioned snapshot behind `GET /servers` (§5): a complete read of every registry
 * shard, at most 20 s old when handed out (30 s is the protocol's bound), with the no-nonce body
 * signed once per snapshot. One object (entity keyspace `server-list`) builds it, so a burst of
 * list requests costs one fan-out, not one per request. A read that misses a shard is never
 * stored or signed.
 */
import { ShardRouter, ShardedObject, errorsOf, valuesOf } from "durable-shards";
import { signingKeyFromSeed, sign } from "../crypto/ed25519.js";
import { toBase64, utf8 } from "../crypto/encoding.js";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import type { ServerEntry } from "./entry.js";
import { registryRouter } from "./registry.js";

/** A complete registry read. */
export interface Snapshot {
  /** The `servers` array as compact JSON, sorted by `serverId`. */
  serversJson: string;
  /** When the read completed (ms). */
  takenAt: number;
  /** `{"servers":…,"timestamp":takenAt}` and its signature, when the signing key is usable. */
  signedBody?: string;
  signature?: string;
}

/**
 * Snapshots younger than this are handed out as they are: `LIST_SNAPSHOT_FRESH_MS` (our own
 * setting, 0 … 30,000), default 20 s. 0 rebuilds on every request (tests).
 */
export function freshMs(env: Env): number {
  const configured = Number(env.LIST_SNAPSHOT_FRESH_MS);
  return env.LIST_SNAPSHOT_FRESH_MS !== undefined && Number.isFinite(configured) ? Math.min(Math.max(configured, 0), MAX_AGE_MS) : 20_000;
}
/** The protocol's bound on the age of a complete read (§5.2, §5.5). */
export const MAX_AGE_MS = 30_000;
const READ_DEADLINE_MS = 5_000;

export function serverList(env: Env) {
  return router(env, "server-list").get("latest");
}

/** `{"servers":…[,"nonce":…],"timestamp":…}` exactly as §5.2 orders it. */
export function listBody(serversJson: string, timestamp: number, nonce?: string): string {
  const nonceField = nonce === undefined ? "" : `,"nonce":${JSON.stringify(nonce)}`;
  return `{"servers":${serversJson}${nonceField},"timestamp":${timestamp}}`;
}

export class ServerListCache extends ShardedObject<Env> {
  private snapshot: Snapshot | undefined;
  private building: Promise<Snapshot | undefined> | undefined;

  /** A complete snapshot at most 30 s old, or `null` when none can be had (§5.5). */
  async current(_key: string): Promise<Snapshot | null> {
    if (this.snapshot && Date.now() - this.snapshot.takenAt < freshMs(this.env)) return this.snapshot;
    this.building ??= this._build().finally(() => (this.building = undefined));
    const fresh = await this.building;
    if (fresh) return fresh;
    if (this.snapshot && Date.now() - this.snapshot.takenAt <= MAX_AGE_MS) return this.snapshot;
    return null;
  }

  private async _build(): Promise<Snapshot | undefined> {
    const read = await registryRouter(this.env).all((shard) => shard.list(), { deadlineMs: READ_DEADLINE_MS });
    if (!read.complete) {
      console.warn("server list: registry read incomplete", errorsOf(read).map((e) => e.shard));
      return undefined;
    }
    const entries: ServerEntry[] = valuesOf(read).flat();
    entries.sort((a, b) => (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0));
    const takenAt = Date.now();
    const snapshot: Snapshot = { serversJson: JSON.stringify(entries), takenAt };
    const key = await signingKeyFromSeed(this.env.BOOTSTRAP_SIGNING_KEY);
    if (key) {
      snapshot.signedBody = listBody(snapshot.serversJson, takenAt);
      snapshot.signature = toBase64(await sign(key, utf8(snapshot.signedBody)));
    }
    this.snapshot = snapshot;
    return snapshot;
  }
}
