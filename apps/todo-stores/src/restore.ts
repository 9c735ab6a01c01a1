/**
 * Restoring one user's store from a keyspace backup (durable-shards backups to R2): the backup is
 * restored once into a scratch keyspace `restore-<backupId>` (kept for further users of the same
 * backup), the user's store is read from there, and saved into the live store through the normal
 * path, so it is served wherever the user is now, reaches D1, and replaces what the store holds.
 */
import { backupIdSchema, directoryClient, ShardError, ShardRouter } from "durable-shards";
import { z } from "zod";
import type { Env } from "./env.js";
import { errorAnswer, shardErrorAnswer } from "./store-http.js";
import { Stores } from "./stores.js";
import { deploymentOf, placementOf } from "./deployment.js";
import type { StoreShard } from "./store-shard.js";
import { currentFlag } from "./control.js";

export const restoreSchema = z.strictObject({ backupId: backupIdSchema });

export async function restoreStore(env: Env, key: string, { backupId }: z.infer<typeof restoreSchema>): Promise<Response> {
  const deployment = deploymentOf(env);
  const { keyspace } = placementOf(deployment);
  if (deployment.placement === "entity") return errorAnswer(409, "Unsupported", "the entity placement has no keyspace backups; use the platform's point-in-time recovery");
  const directory = directoryClient(env.DIRECTORY);
  const scratch = `restore-${backupId}`.slice(0, 64);
  try {
    const existing = await directory.getKeyspace(scratch).catch((error: unknown) => {
      if (ShardError.from(error)?.code === "UnknownKeyspace") return undefined;
      throw error;
    });
    if (!existing) await directory.restore(keyspace, backupId, { into: scratch, wait: true });
  } catch (error) {
    // An unknown backup (404), a refused restore: the library's status, in the app's error shape.
    const typed = ShardError.from(error);
    if (!typed) throw error;
    return shardErrorAnswer(typed);
  }
  const router = new ShardRouter<StoreShard>({ directory: env.DIRECTORY, namespace: env.STORES, keyspace: scratch });
  const body = await router.get(key).readStore();
  if (body === null) return errorAnswer(404, "NotFound", `backup '${backupId}' holds no store '${key}'`);
  const request = new Request("https://store/restore", { method: "POST", headers: { "content-type": "application/json" }, body });
  const saved = await new Stores(env).serve(key, "save", request, await currentFlag(env), body);
  if (!saved.ok) return saved;
  return Response.json({ restored: key, from: backupId, ...((await saved.json()) as object) });
}
