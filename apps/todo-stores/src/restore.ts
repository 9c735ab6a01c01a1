/**
 * Restoring one user's store from a keyspace backup (durable-shards backups to R2): the backup is
 * restored once into a scratch keyspace `restore-<backupId>` (kept for further users of the same
 * backup), the user's store is read from there, and saved into the live store through the normal
 * path, so it is served wherever the user is now, reaches D1, and replaces what the store holds.
 */
import { directoryClient, errorResponse, ShardError, ShardRouter } from "durable-shards";
import { z } from "zod";
import type { Env } from "./env.js";
import { errorAnswer } from "./store-http.js";
import { Stores } from "./stores.js";
import { deploymentOf, placementOf } from "./deployment.js";
import type { StoreShard } from "./store-shard.js";
import { currentFlag } from "./control.js";

export const restoreSchema = z.strictObject({ backupId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "backupId must be a backup id") });

export async function restoreStore(env: Env, key: string, { backupId }: z.infer<typeof restoreSchema>): Promise<Response> {
  const { keyspace } = placementOf(deploymentOf(env));
  if (env.PLACEMENT === "entity") return errorAnswer(409, "Unsupported", "the entity placement has no keyspace backups; use the platform's point-in-time recovery");
  const directory = directoryClient(env.DIRECTORY);
  const scratch = `restore-${backupId}`.slice(0, 64);
  try {
    const existing = await directory.getKeyspace(scratch).catch((error: unknown) => {
      if (ShardError.from(error)?.code === "UnknownKeyspace") return undefined;
      throw error;
    });
    if (!existing) await directory.restore(keyspace, backupId, { into: scratch, wait: true });
  } catch (error) {
    // An unknown backup (404), a refused restore: the library's own answer for its errors.
    const answer = errorResponse(error);
    if (answer) return answer;
    throw error;
  }
  const router = new ShardRouter<StoreShard>({ directory: env.DIRECTORY, namespace: env.STORES, keyspace: scratch });
  const body = await router.get(key).readStore();
  if (body === null) return errorAnswer(404, "NotFound", `backup '${backupId}' holds no store '${key}'`);
  const request = new Request("https://store/restore", { method: "POST", headers: { "content-type": "application/json" }, body });
  const saved = await new Stores(env).serve(key, "save", request, await currentFlag(env), body);
  if (!saved.ok) return saved;
  return Response.json({ restored: key, from: backupId, ...((await saved.json()) as object) });
}
