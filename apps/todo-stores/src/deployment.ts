/**
 * The settings of one deployment of the app, read from the Worker's env and passed along to the
 * objects that act for it (the control object's sweep), so every part acts on the same instance.
 */
import type { Env } from "./env.js";

export interface Deployment {
  /** Suffix of the legacy object's, the control object's and the keyspaces' names ("" for none). */
  instance: string;
  placement: "hashed" | "entity";
  /** Shards of the hashed placement when first created. */
  storeShards: number;
  /** The flag's value until an operator sets it. */
  sharding: boolean;
}

export function deploymentOf(env: Env): Deployment {
  return {
    instance: env.INSTANCE ? `-${env.INSTANCE}` : "",
    placement: env.PLACEMENT === "entity" ? "entity" : "hashed",
    storeShards: Number(env.STORE_SHARDS ?? 4),
    sharding: env.FEATURE_SHARDING === "on",
  };
}

/** The keyspace of the deployment's placement, and how to create it on first use. */
export function placementOf(d: Deployment): { keyspace: string; ensure: { binding: string; shards?: number; placement?: "entity" | "hash" } } {
  if (d.placement === "entity") return { keyspace: `user-stores${d.instance}`, ensure: { binding: "STORES", placement: "entity" } };
  return { keyspace: `stores${d.instance}`, ensure: { binding: "STORES", shards: d.storeShards } };
}
